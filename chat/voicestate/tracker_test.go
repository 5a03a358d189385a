package voicestate

import (
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
		{"join", func() Change { return tr.Join(1, 10, 100, false, false, "gw", false, false, next) }, true, "s1", 100, false},
		{"self mute", func() Change { return tr.Join(1, 10, 100, true, false, "", false, false, next) }, false, "s1", 100, true},
		{"move", func() Change { return tr.Join(1, 10, 200, true, false, "", false, false, next) }, true, "s2", 200, true},
		{"leave", func() Change { return tr.Leave(1, 10) }, false, "", 0, false},
		{"rejoin", func() Change { return tr.Join(1, 10, 100, false, false, "gw2", false, false, next) }, true, "s3", 100, false},
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
