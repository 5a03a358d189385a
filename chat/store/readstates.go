package store

import (
	"context"
	"fmt"

	"github.com/parleyhq/parley/chat/model"
)

// ReadState is how far a user has read a channel: the last message it
// acknowledged.
type ReadState struct {
	ChannelID     model.Snowflake
	LastMessageID model.Snowflake
}

// AckMessage records that user has read channel up to message. The mark
// only moves forward: an ack older than the stored one changes nothing,
// and moved reports whether this one did.
func (s *SQL) AckMessage(ctx context.Context, user, channel, message model.Snowflake) (moved bool, err error) {
	r, err := s.exec(ctx, `INSERT INTO read_states (user_id, channel_id, last_message_id) VALUES (?, ?, ?)
		ON CONFLICT (user_id, channel_id) DO UPDATE SET last_message_id = excluded.last_message_id
		WHERE read_states.last_message_id < excluded.last_message_id`,
		id64(user), id64(channel), id64(message))
	if err != nil {
		return false, err
	}
	n, _ := r.RowsAffected()
	return n > 0, nil
}

// ReadStates returns a user's read marks by channel id.
func (s *SQL) ReadStates(ctx context.Context, user model.Snowflake) ([]ReadState, error) {
	rows, err := s.query(ctx, `SELECT channel_id, last_message_id FROM read_states WHERE user_id = ? ORDER BY channel_id`, id64(user))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ReadState
	for rows.Next() {
		var ch, last int64
		if err := rows.Scan(&ch, &last); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		out = append(out, ReadState{ChannelID: model.Snowflake(ch), LastMessageID: model.Snowflake(last)})
	}
	return out, notFound(rows.Err())
}

// MentionCount counts the messages of channel after the message after
// that mention user or everyone, among the newest scan of them (so the
// cost is bounded however far behind the user is).
func (s *SQL) MentionCount(ctx context.Context, channel, after, user model.Snowflake, scan int) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM (
		SELECT mention_everyone, mentions FROM messages WHERE channel_id = ? AND bucket >= ? AND id > ?
		ORDER BY bucket DESC, id DESC LIMIT ?) AS t WHERE t.mention_everyone = ? OR t.mentions LIKE ?`),
		id64(channel), Bucket(after), id64(after), scan, true, `%"`+user.String()+`"%`).Scan(&n)
	return n, notFound(err)
}
