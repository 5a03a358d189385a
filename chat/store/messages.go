package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/parleyhq/parley/chat/model"
)

const msgCols = `id, author_id, content, edited_at, tts, type, flags, mention_everyone, mentions, embeds, attachments`

// CreateMessage inserts a message under KeyOf(m.ChannelID, m.ID). The
// mentions are stored as user ids and the attachments as their records
// (no URLs: those are signed when the message is read); Author and Member
// are not stored.
func (s *SQL) CreateMessage(ctx context.Context, m model.Message) error {
	mentions, embeds := encodeMentions(m), embedsOf(m)
	k := KeyOf(m.ChannelID, m.ID)
	_, err := s.exec(ctx, `INSERT INTO messages (channel_id, bucket, `+msgCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id64(k.ChannelID), k.Bucket, id64(k.ID), id64(m.AuthorID), m.Content, editedMS(m.EditedAt), m.TTS, m.Type, m.Flags,
		m.MentionEveryone, mentions, embeds, encodeAttachments(m.Attachments))
	return err
}

// UpdateMessage rewrites content, edit time, mentions, embeds and
// attachments.
func (s *SQL) UpdateMessage(ctx context.Context, m model.Message) error {
	k := KeyOf(m.ChannelID, m.ID)
	r, err := s.exec(ctx, `UPDATE messages SET content = ?, edited_at = ?, flags = ?, mention_everyone = ?, mentions = ?, embeds = ?, attachments = ?
		WHERE channel_id = ? AND bucket = ? AND id = ?`,
		m.Content, editedMS(m.EditedAt), m.Flags, m.MentionEveryone, encodeMentions(m), embedsOf(m), encodeAttachments(m.Attachments),
		id64(k.ChannelID), k.Bucket, id64(k.ID))
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteMessage deletes one message.
func (s *SQL) DeleteMessage(ctx context.Context, k Key) error {
	r, err := s.exec(ctx, `DELETE FROM messages WHERE channel_id = ? AND bucket = ? AND id = ?`, id64(k.ChannelID), k.Bucket, id64(k.ID))
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// GetMessage reads one message.
func (s *SQL) GetMessage(ctx context.Context, k Key) (model.Message, error) {
	rows, err := s.query(ctx, `SELECT `+msgCols+` FROM messages WHERE channel_id = ? AND bucket = ? AND id = ?`,
		id64(k.ChannelID), k.Bucket, id64(k.ID))
	if err != nil {
		return model.Message{}, err
	}
	ms, err := scanMessages(rows, k.ChannelID)
	if err != nil {
		return model.Message{}, err
	}
	if len(ms) == 0 {
		return model.Message{}, ErrNotFound
	}
	return ms[0], nil
}

// ListMessages returns a page of a channel's messages, newest first. The
// queries range over (bucket, id) so they use the primary key: buckets
// between the channel's creation and the cursor.
func (s *SQL) ListMessages(ctx context.Context, channel model.Snowflake, p Page) ([]model.Message, error) {
	n := 0
	for _, v := range []model.Snowflake{p.Before, p.After, p.Around} {
		if v != 0 {
			n++
		}
	}
	if n > 1 {
		return nil, ErrBadPage
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 100)
	first := Bucket(channel)
	switch {
	case p.After != 0:
		return s.listAfter(ctx, channel, p.After, limit)
	case p.Around != 0:
		// Discord: the message itself and about half on each side.
		older, err := s.listBefore(ctx, channel, first, p.Around, limit/2)
		if err != nil {
			return nil, err
		}
		newer, err := s.listAfter(ctx, channel, p.Around-1, limit-len(older))
		if err != nil {
			return nil, err
		}
		return append(newer, older...), nil
	default:
		before := p.Before
		if before == 0 {
			before = model.Snowflake(math.MaxInt64)
		}
		return s.listBefore(ctx, channel, first, before, limit)
	}
}

func (s *SQL) listBefore(ctx context.Context, channel model.Snowflake, first int64, before model.Snowflake, limit int) ([]model.Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.query(ctx, `SELECT `+msgCols+` FROM messages
		WHERE channel_id = ? AND bucket >= ? AND bucket <= ? AND id < ? ORDER BY bucket DESC, id DESC LIMIT ?`,
		id64(channel), first, Bucket(before), id64(before), limit)
	if err != nil {
		return nil, err
	}
	return scanMessages(rows, channel)
}

func (s *SQL) listAfter(ctx context.Context, channel, after model.Snowflake, limit int) ([]model.Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.query(ctx, `SELECT `+msgCols+` FROM messages
		WHERE channel_id = ? AND bucket >= ? AND id > ? ORDER BY bucket ASC, id ASC LIMIT ?`,
		id64(channel), Bucket(after), id64(after), limit)
	if err != nil {
		return nil, err
	}
	ms, err := scanMessages(rows, channel)
	slices.Reverse(ms)
	return ms, err
}

type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

func scanMessages(rows rowScanner, channel model.Snowflake) ([]model.Message, error) {
	defer rows.Close()
	var out []model.Message
	for rows.Next() {
		var id, author, edited int64
		var mentions, embeds, atts string
		m := model.Message{ChannelID: channel}
		if err := rows.Scan(&id, &author, &m.Content, &edited, &m.TTS, &m.Type, &m.Flags, &m.MentionEveryone, &mentions, &embeds, &atts); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		m.ID, m.AuthorID = model.Snowflake(id), model.Snowflake(author)
		m.Timestamp = model.Timestamp(m.ID.Time())
		if edited != 0 {
			m.EditedAt = time.UnixMilli(edited).UTC()
			ts := model.Timestamp(m.EditedAt)
			m.EditedTimestamp = &ts
		}
		var ids []model.Snowflake
		_ = json.Unmarshal([]byte(mentions), &ids)
		m.Mentions = make([]model.User, len(ids))
		for i, u := range ids {
			m.Mentions[i].ID = u
		}
		m.Embeds = json.RawMessage(embeds)
		m.Attachments = decodeAttachments(atts)
		out = append(out, m)
	}
	return out, notFound(rows.Err())
}

func editedMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func encodeMentions(m model.Message) string {
	ids := make([]model.Snowflake, len(m.Mentions))
	for i, u := range m.Mentions {
		ids[i] = u.ID
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

// storedAttachment is an attachment as a message row keeps it: the
// record without the signed URLs.
type storedAttachment struct {
	ID          model.Snowflake `json:"id"`
	Filename    string          `json:"filename"`
	Description *string         `json:"description,omitempty"`
	ContentType string          `json:"content_type,omitempty"`
	Size        int64           `json:"size"`
	Width       *int            `json:"width,omitempty"`
	Height      *int            `json:"height,omitempty"`
	Ref         string          `json:"ref"`
}

func encodeAttachments(as []model.Attachment) string {
	if len(as) == 0 {
		return "[]"
	}
	rows := make([]storedAttachment, len(as))
	for i, a := range as {
		rows[i] = storedAttachment{ID: a.ID, Filename: a.Filename, Description: a.Description, ContentType: a.ContentType,
			Size: a.Size, Width: a.Width, Height: a.Height, Ref: a.Ref}
	}
	b, _ := json.Marshal(rows)
	return string(b)
}

// decodeAttachments reads a row's attachments (nil: none, or a column
// that does not decode).
func decodeAttachments(s string) []model.Attachment {
	if s == "" || s == "[]" {
		return nil
	}
	var rows []storedAttachment
	if json.Unmarshal([]byte(s), &rows) != nil {
		return nil
	}
	out := make([]model.Attachment, len(rows))
	for i, r := range rows {
		out[i] = model.Attachment{ID: r.ID, Filename: r.Filename, Description: r.Description, ContentType: r.ContentType,
			Size: r.Size, Width: r.Width, Height: r.Height, Ref: r.Ref}
	}
	return out
}

func embedsOf(m model.Message) string {
	if len(m.Embeds) == 0 {
		return "[]"
	}
	return string(m.Embeds)
}
