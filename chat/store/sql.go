package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/chat/model"
)

// dialect is what differs between the engines.
type dialect struct {
	name     string
	dollar   bool // $1 placeholders instead of ?
	isUnique func(error) bool
}

// SQL implements Store on database/sql for SQLite and PostgreSQL.
type SQL struct {
	db *sql.DB
	d  dialect
	// rebound caches rebind's answers (query → query with $n). Every
	// query is a literal in this package, so it holds one entry each.
	rebound sync.Map
}

var _ Store = (*SQL)(nil)

// Engine names the engine: "sqlite" or "postgres".
func (s *SQL) Engine() string { return s.d.name }

// DB exposes the pool (tests, diagnostics).
func (s *SQL) DB() *sql.DB { return s.db }

// Close closes the pool.
func (s *SQL) Close() error { return s.db.Close() }

// newSQL creates the base schema if it is missing, then brings it to the
// current version (migrate).
func newSQL(ctx context.Context, db *sql.DB, d dialect, schema string) (*SQL, error) {
	s := &SQL{db: db, d: d}
	for _, stmt := range strings.Split(schema, ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			db.Close()
			return nil, fmt.Errorf("store: schema (%s): %w", d.name, err)
		}
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// tx runs f in a transaction, committing if it returns nil. Errors are
// mapped like exec's (ErrConflict for a unique key; store sentinels pass
// through).
func (s *SQL) tx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		switch {
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict):
			return err
		case s.d.isUnique(err):
			return fmt.Errorf("%w: %v", ErrConflict, err)
		}
		return fmt.Errorf("store: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// rebind turns ? placeholders into $n for PostgreSQL, once per query.
func (s *SQL) rebind(q string) string {
	if !s.d.dollar {
		return q
	}
	if r, ok := s.rebound.Load(q); ok {
		return r.(string)
	}
	r := rebindDollar(q)
	s.rebound.Store(q, r)
	return r
}

// rebindDollar numbers q's ? placeholders $1, $2, ….
func rebindDollar(q string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (s *SQL) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	r, err := s.db.ExecContext(ctx, s.rebind(q), args...)
	if err != nil && s.d.isUnique(err) {
		return nil, fmt.Errorf("%w: %v", ErrConflict, err)
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return r, nil
}

func (s *SQL) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return rows, nil
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func id64(s model.Snowflake) int64 { return int64(s) }

func optID(p *model.Snowflake) int64 {
	if p == nil {
		return 0
	}
	return int64(*p)
}

func ptrID(v int64) *model.Snowflake {
	if v == 0 {
		return nil
	}
	s := model.Snowflake(v)
	return &s
}

func nullStr(p *string) sql.Null[string] {
	if p == nil {
		return sql.Null[string]{}
	}
	return sql.Null[string]{V: *p, Valid: true}
}

func strPtr(n sql.Null[string]) *string {
	if !n.Valid {
		return nil
	}
	v := n.V
	return &v
}

// ---- meta ----

// GetMeta reads a meta value.
func (s *SQL) GetMeta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT v FROM meta WHERE k = ?`), key).Scan(&v)
	return v, notFound(err)
}

// SetMeta writes a meta value.
func (s *SQL) SetMeta(ctx context.Context, key, value string) error {
	_, err := s.exec(ctx, `INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, key, value)
	return err
}

// ---- guilds, channels, roles, members ----

// PutGuild inserts or replaces a guild.
func (s *SQL) PutGuild(ctx context.Context, g model.Guild) error {
	_, err := s.exec(ctx, `INSERT INTO guilds (id, name, owner_id, system_channel_id) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, owner_id = excluded.owner_id, system_channel_id = excluded.system_channel_id`,
		id64(g.ID), g.Name, id64(g.OwnerID), optID(g.SystemChannelID))
	return err
}

// ListGuilds returns every guild.
func (s *SQL) ListGuilds(ctx context.Context) ([]model.Guild, error) {
	rows, err := s.query(ctx, `SELECT id, name, owner_id, system_channel_id FROM guilds ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []model.Guild
	for rows.Next() {
		var id, owner, sys int64
		var name string
		if err := rows.Scan(&id, &name, &owner, &sys); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		out = append(out, model.Guild{ID: model.Snowflake(id), Name: name, OwnerID: model.Snowflake(owner), SystemChannelID: ptrID(sys)})
	}
	return out, notFound(rows.Err())
}

// PutChannel inserts or replaces a channel.
func (s *SQL) PutChannel(ctx context.Context, c model.Channel) error {
	ow, _ := json.Marshal(c.PermissionOverwrites)
	_, err := s.exec(ctx, `INSERT INTO channels (id, guild_id, type, name, position, topic, rtc_region, parent_id, bitrate, user_limit, nsfw, rate_limit_per_user, overwrites)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET type = excluded.type, name = excluded.name, position = excluded.position,
		topic = excluded.topic, rtc_region = excluded.rtc_region, parent_id = excluded.parent_id, bitrate = excluded.bitrate,
		user_limit = excluded.user_limit, nsfw = excluded.nsfw, rate_limit_per_user = excluded.rate_limit_per_user, overwrites = excluded.overwrites`,
		id64(c.ID), id64(c.GuildID), int(c.Type), c.Name, c.Position, nullStr(c.Topic), nullStr(c.RTCRegion), optID(c.ParentID),
		c.Bitrate, c.UserLimit, c.NSFW, c.RateLimitPerUser, string(ow))
	return err
}

// DeleteChannel deletes a channel, its messages and its read states.
func (s *SQL) DeleteChannel(ctx context.Context, id model.Snowflake) error {
	r, err := s.exec(ctx, `DELETE FROM channels WHERE id = ?`, id64(id))
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if _, err = s.exec(ctx, `DELETE FROM messages WHERE channel_id = ?`, id64(id)); err != nil {
		return err
	}
	_, err = s.exec(ctx, `DELETE FROM read_states WHERE channel_id = ?`, id64(id))
	return err
}

// ListChannels returns a guild's channels by position.
func (s *SQL) ListChannels(ctx context.Context, guild model.Snowflake) ([]model.Channel, error) {
	rows, err := s.query(ctx, `SELECT id, type, name, position, topic, rtc_region, parent_id, bitrate, user_limit, nsfw, rate_limit_per_user, overwrites
		FROM channels WHERE guild_id = ? ORDER BY position, id`, id64(guild))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []model.Channel
	for rows.Next() {
		var id, parent int64
		var typ int
		var topic, region sql.Null[string]
		var ow string
		c := model.Channel{GuildID: guild}
		if err := rows.Scan(&id, &typ, &c.Name, &c.Position, &topic, &region, &parent, &c.Bitrate, &c.UserLimit, &c.NSFW, &c.RateLimitPerUser, &ow); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		c.ID, c.Type, c.Topic, c.RTCRegion, c.ParentID = model.Snowflake(id), model.ChannelType(typ), strPtr(topic), strPtr(region), ptrID(parent)
		if err := json.Unmarshal([]byte(ow), &c.PermissionOverwrites); err != nil || c.PermissionOverwrites == nil {
			c.PermissionOverwrites = []model.Overwrite{}
		}
		out = append(out, c)
	}
	return out, notFound(rows.Err())
}

// PutRole inserts or replaces a role.
func (s *SQL) PutRole(ctx context.Context, guild model.Snowflake, r model.Role) error {
	_, err := s.exec(ctx, `INSERT INTO roles (guild_id, id, name, color, hoist, position, permissions, mentionable) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (guild_id, id) DO UPDATE SET name = excluded.name, color = excluded.color, hoist = excluded.hoist,
		position = excluded.position, permissions = excluded.permissions, mentionable = excluded.mentionable`,
		id64(guild), id64(r.ID), r.Name, r.Color, r.Hoist, r.Position, r.Permissions, r.Mentionable)
	return err
}

// ListRoles returns a guild's roles by position.
func (s *SQL) ListRoles(ctx context.Context, guild model.Snowflake) ([]model.Role, error) {
	rows, err := s.query(ctx, `SELECT id, name, color, hoist, position, permissions, mentionable FROM roles WHERE guild_id = ? ORDER BY position, id`, id64(guild))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []model.Role
	for rows.Next() {
		var id int64
		var r model.Role
		if err := rows.Scan(&id, &r.Name, &r.Color, &r.Hoist, &r.Position, &r.Permissions, &r.Mentionable); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		r.ID = model.Snowflake(id)
		out = append(out, r)
	}
	return out, notFound(rows.Err())
}

// PutMember inserts or replaces a member.
func (s *SQL) PutMember(ctx context.Context, m model.Member) error {
	roles, _ := json.Marshal(m.Roles)
	if m.Roles == nil {
		roles = []byte("[]")
	}
	_, err := s.exec(ctx, `INSERT INTO members (guild_id, user_id, nick, roles, joined_at, deaf, mute) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (guild_id, user_id) DO UPDATE SET nick = excluded.nick, roles = excluded.roles, deaf = excluded.deaf, mute = excluded.mute`,
		id64(m.GuildID), id64(m.UserID), nullStr(m.Nick), string(roles), m.JoinedAt.UnixMilli(), m.Deaf, m.Mute)
	return err
}

// DeleteMember removes a member.
func (s *SQL) DeleteMember(ctx context.Context, guild, user model.Snowflake) error {
	r, err := s.exec(ctx, `DELETE FROM members WHERE guild_id = ? AND user_id = ?`, id64(guild), id64(user))
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ListMembers returns a guild's members by user id.
func (s *SQL) ListMembers(ctx context.Context, guild model.Snowflake) ([]model.Member, error) {
	rows, err := s.query(ctx, `SELECT user_id, nick, roles, joined_at, deaf, mute FROM members WHERE guild_id = ? ORDER BY user_id`, id64(guild))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []model.Member
	for rows.Next() {
		var uid, joined int64
		var nick sql.Null[string]
		var roles string
		m := model.Member{GuildID: guild}
		if err := rows.Scan(&uid, &nick, &roles, &joined, &m.Deaf, &m.Mute); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		m.UserID, m.Nick, m.JoinedAt = model.Snowflake(uid), strPtr(nick), time.UnixMilli(joined).UTC()
		_ = json.Unmarshal([]byte(roles), &m.Roles)
		out = append(out, m)
	}
	return out, notFound(rows.Err())
}
