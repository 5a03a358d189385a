package voicestate

import (
	"errors"
	"fmt"
	"testing"

	"github.com/parleyhq/parley/chat/model"
)

func TestTracker(t *testing.T) {
	tr := New()
	n := 0
	next := func() string { n++; return fmt.Sprint("s", n) }
	steps := []struct {
		name     string
		do       func() Change
		handoff  bool
		session  string
		channel  model.Snowflake // 0: left
		selfMute bool
	}{
		{"join", func() Change {
			return must(tr.Join(JoinRequest{Guild: 1, User: 10, Channel: 100, SelfMute: false, SelfDeaf: false, GatewaySession: "gw", Mute: false, Deaf: false}, next))
		}, true, "s1", 100, false},
		{"self mute", func() Change {
			return must(tr.Join(JoinRequest{Guild: 1, User: 10, Channel: 100, SelfMute: true, SelfDeaf: false, GatewaySession: "", Mute: false, Deaf: false}, next))
		}, false, "s1", 100, true},
		{"move", func() Change {
			return must(tr.Join(JoinRequest{Guild: 1, User: 10, Channel: 200, SelfMute: true, SelfDeaf: false, GatewaySession: "", Mute: false, Deaf: false}, next))
		}, true, "s2", 200, true},
		{"leave", func() Change { return tr.Leave(1, 10) }, false, "", 0, false},
		{"rejoin", func() Change {
			return must(tr.Join(JoinRequest{Guild: 1, User: 10, Channel: 100, SelfMute: false, SelfDeaf: false, GatewaySession: "gw2", Mute: false, Deaf: false}, next))
		}, true, "s3", 100, false},
	}
	for _, st := range steps {
		c := st.do()
		if c.Handoff != st.handoff {
			t.Fatalf("%s: handoff %v", st.name, c.Handoff)
		}
		if st.channel == 0 {
			if c.New != nil || c.Old == nil {
				t.Fatalf("%s: %+v", st.name, c)
			}
			continue
		}
		if c.New.State.SessionID != st.session || *c.New.State.ChannelID != st.channel || c.New.State.SelfMute != st.selfMute {
			t.Fatalf("%s: %+v", st.name, c.New.State)
		}
	}
	if e, ok := tr.Get(1, 10); !ok || e.GatewaySession != "gw2" {
		t.Fatalf("owner %+v", e)
	}
	if _, ok := tr.SetServer(1, 10, true, true); !ok {
		t.Fatal("SetServer")
	}
	if e, _ := tr.Get(1, 10); !e.State.Mute || !e.State.Deaf {
		t.Fatalf("server flags %+v", e.State)
	}
	if u := tr.InChannel(1, 100); len(u) != 1 || u[0] != 10 {
		t.Fatalf("InChannel %v", u)
	}
	if len(tr.BySession("gw2")) != 1 || len(tr.BySession("gw")) != 0 {
		t.Fatal("BySession")
	}
	if c := tr.Leave(1, 99); c.Old != nil {
		t.Fatal("leave of absent user")
	}
}

func must(c Change, err error) Change {
	if err != nil {
		panic(err)
	}
	return c
}

// TestUserLimit: a channel at its user_limit takes no one new; users
// already in it may update their state, and a place frees when one leaves.
func TestUserLimit(t *testing.T) {
	tr := New()
	next := func() string { return "s" }
	join := func(user, channel model.Snowflake) error {
		_, err := tr.Join(JoinRequest{Guild: 1, User: user, Channel: channel, Limit: 2}, next)
		return err
	}
	for _, u := range []model.Snowflake{10, 11} {
		if err := join(u, 100); err != nil {
			t.Fatal(err)
		}
	}
	if err := join(12, 100); !errors.Is(err, ErrChannelFull) {
		t.Fatalf("third user: %v, want ErrChannelFull", err)
	}
	if _, ok := tr.Get(1, 12); ok {
		t.Fatal("a refused join left a state")
	}
	if err := join(10, 100); err != nil { // already in: an update, not a join
		t.Fatalf("update in a full channel: %v", err)
	}
	if err := join(12, 200); err != nil {
		t.Fatal(err)
	}
	if err := join(12, 100); !errors.Is(err, ErrChannelFull) {
		t.Fatalf("move into a full channel: %v", err)
	}
	tr.Leave(1, 11)
	if err := join(12, 100); err != nil {
		t.Fatalf("after a leave: %v", err)
	}
}
