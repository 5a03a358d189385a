package service

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley/chat/model"
)

// TestAck: acks only move forward, each move is MESSAGE_ACK to the user
// (with the mentions after it), and READY's read_state lists the marks
// with their mention counts, as Discord's user READY.
func TestAck(t *testing.T) {
	ctx := context.Background()
	s, rec := newTestService(t, nil)
	alice, _, err := s.Register(ctx, "alice", "password-alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, _, err := s.Register(ctx, "bob", "password-bob")
	if err != nil {
		t.Fatal(err)
	}
	chans, err := s.GuildChannels(alice.ID, s.DefaultGuild())
	if err != nil {
		t.Fatal(err)
	}
	general := chans[0].ID
	var ids []model.Snowflake
	for _, content := range []string{"one", "hey <@" + alice.ID.String() + ">", "three", "@everyone four"} {
		m, err := s.CreateMessage(ctx, bob.ID, general, MessageCreate{Content: content})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	acks := func() int { return len(rec.named("MESSAGE_ACK")) }
	steps := []struct {
		name     string
		user     model.Snowflake
		channel  model.Snowflake
		msg      model.Snowflake
		err      error
		acked    bool // a MESSAGE_ACK went out
		mentions int  // its mention_count
	}{
		{"first", alice.ID, general, ids[0], nil, true, 1}, // the mention in ids[1]; @everyone needs the permission
		{"older", alice.ID, general, ids[0] - 1, nil, false, 0},
		{"same", alice.ID, general, ids[0], nil, false, 0},
		{"newer", alice.ID, general, ids[2], nil, true, 0},
		{"future", alice.ID, general, model.SnowflakeAt(time.Now().Add(time.Hour)), ErrUnknownMessage, false, 0},
		{"unknown channel", alice.ID, 999, ids[3], ErrUnknownChannel, false, 0},
		{"not a member", 4242, general, ids[3], ErrMissingAccess, false, 0},
	}
	for _, st := range steps {
		before := acks()
		err := s.Ack(ctx, st.user, st.channel, st.msg)
		if !errors.Is(err, st.err) {
			t.Fatalf("%s: %v, want %v", st.name, err, st.err)
		}
		if got := acks() - before; got != map[bool]int{true: 1, false: 0}[st.acked] {
			t.Fatalf("%s: %d MESSAGE_ACKs", st.name, got)
		}
		if st.acked {
			evs := rec.named("MESSAGE_ACK")
			var d struct {
				ChannelID    model.Snowflake `json:"channel_id"`
				MessageID    model.Snowflake `json:"message_id"`
				MentionCount int             `json:"mention_count"`
			}
			if err := json.Unmarshal(evs[len(evs)-1].Data, &d); err != nil || d.ChannelID != st.channel || d.MessageID != st.msg || d.MentionCount != st.mentions {
				t.Fatalf("%s: MESSAGE_ACK %s (%v)", st.name, evs[len(evs)-1].Data, err)
			}
		}
	}
	raw, err := s.ReadState(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	var rs struct {
		Version int
		Partial bool
		Entries []struct {
			ID               model.Snowflake
			LastMessageID    model.Snowflake `json:"last_message_id"`
			MentionCount     int             `json:"mention_count"`
			LastPinTimestamp string          `json:"last_pin_timestamp"`
		}
	}
	if err := json.Unmarshal(raw, &rs); err != nil || rs.Version != readStateVersion || rs.Partial || len(rs.Entries) != 1 ||
		rs.Entries[0].ID != general || rs.Entries[0].LastMessageID != ids[2] || rs.Entries[0].MentionCount != 0 ||
		rs.Entries[0].LastPinTimestamp != noPins {
		t.Fatalf("read_state %s (%v)", raw, err)
	}
	// Mentions after the mark count; a user without marks has none.
	if _, err := s.CreateMessage(ctx, bob.ID, general, MessageCreate{Content: "<@" + alice.ID.String() + "> again"}); err != nil {
		t.Fatal(err)
	}
	raw, _ = s.ReadState(ctx, alice.ID)
	if err := json.Unmarshal(raw, &rs); err != nil || rs.Entries[0].MentionCount != 1 {
		t.Fatalf("read_state after a mention %s (%v)", raw, err)
	}
	if raw, err := s.ReadState(ctx, bob.ID); err != nil || string(raw) != `{"entries":[],"partial":false,"version":1}` {
		t.Fatalf("read_state without marks %s (%v)", raw, err)
	}
}
