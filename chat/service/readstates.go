package service

import (
	"context"
	"encoding/json"
	"time"

	"github.com/parleyhq/parley/chat/model"
)

// Read states are the unread marks the server keeps, as Discord's: per
// user and channel the last message the user acknowledged (POST
// /channels/{c}/messages/{m}/ack), sent in READY's read_state and, on
// each ack that moves a mark, as MESSAGE_ACK to the user's sessions.
const (
	// readStateVersion is READY's read_state.version and MESSAGE_ACK's
	// version. Parley keeps no version history: clients re-read the whole
	// state at every READY.
	readStateVersion = 1
	// mentionScan bounds the messages after a mark searched for mentions:
	// mention_count counts the user's mentions (and @everyone) among the
	// newest mentionScan messages after the ack.
	mentionScan = 1000
	// ackSkew is how far in the future an acknowledged id may lie (clock
	// differences); later ids are no message.
	ackSkew = time.Minute
	// noPins is last_pin_timestamp: Parley has no pins.
	noPins = "1970-01-01T00:00:00+00:00"
	// maxMentionCounts bounds the channels whose mentions one READY
	// counts (each is a query); further unread channels report 0.
	maxMentionCounts = 100
)

// readStateEntry is one channel of READY's read_state.
type readStateEntry struct {
	ID               model.Snowflake `json:"id"`
	LastMessageID    model.Snowflake `json:"last_message_id"`
	MentionCount     int             `json:"mention_count"`
	LastPinTimestamp string          `json:"last_pin_timestamp"`
}

// Ack is POST /channels/{c}/messages/{m}/ack: user has read channel up to
// message. The mark only moves forward (an older ack changes nothing); a
// mark that moved is sent to the user's sessions as MESSAGE_ACK. The
// message need not exist any more (it may have been deleted), but its id
// may not lie in the future.
func (s *Service) Ack(ctx context.Context, user, channel, message model.Snowflake) error {
	if _, err := s.readable(user, channel); err != nil {
		return err
	}
	if message.Time().After(s.cfg.Now().Add(ackSkew)) {
		return ErrUnknownMessage
	}
	moved, err := s.st.AckMessage(ctx, user, channel, message)
	if err != nil || !moved {
		return err
	}
	mentions := s.mentionsAfter(ctx, user, channel, message)
	s.dispatcher().DispatchUser(user, event("MESSAGE_ACK", 0, 0, map[string]any{
		"channel_id": channel, "message_id": message, "version": readStateVersion, "mention_count": mentions,
		"ack_type": 0, "last_viewed": nil, "flags": 0}))
	return nil
}

// mentionsAfter counts the mentions of user after message in channel
// (bounded by mentionScan; 0 when nothing newer exists or on an error).
func (s *Service) mentionsAfter(ctx context.Context, user, channel, message model.Snowflake) int {
	c, err := s.graph.channel(channel)
	if err != nil || c.LastMessageID == nil || *c.LastMessageID <= message {
		return 0
	}
	n, err := s.st.MentionCount(ctx, channel, message, user, mentionScan)
	if err != nil {
		s.log.Warn("mention count", "channel", channel, "err", err)
		return 0
	}
	return n
}

// ReadState encodes READY's read_state for user (a gateway backend call):
// Discord's user READY shape, one entry per channel the user acknowledged
// and can still see.
func (s *Service) ReadState(ctx context.Context, user model.Snowflake) (json.RawMessage, error) {
	marks, err := s.st.ReadStates(ctx, user)
	if err != nil {
		return nil, err
	}
	entries := make([]readStateEntry, 0, len(marks))
	counted := 0
	for _, rs := range marks {
		v, err := s.graph.channelAccess(user, rs.ChannelID, model.PermViewChannel)
		if err != nil {
			continue // deleted, or no longer visible
		}
		e := readStateEntry{ID: rs.ChannelID, LastMessageID: rs.LastMessageID, LastPinTimestamp: noPins}
		if last := v.channel.LastMessageID; last != nil && *last > rs.LastMessageID && counted < maxMentionCounts {
			counted++
			e.MentionCount = s.mentionsAfter(ctx, user, rs.ChannelID, rs.LastMessageID)
		}
		entries = append(entries, e)
	}
	return json.Marshal(map[string]any{"version": readStateVersion, "partial": false, "entries": entries})
}
