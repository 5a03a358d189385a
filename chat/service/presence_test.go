package service

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/parleyhq/parley/chat/model"
)

// TestInvisibleIsOffline (issue item 12): an invisible user is shown to
// others as offline — status, activities and client status alike — so
// nothing tells invisible from offline.
func TestInvisibleIsOffline(t *testing.T) {
	ctx := context.Background()
	s, rec := newTestService(t, nil)
	u, _, err := s.Register(ctx, "ghost", "password-1")
	if err != nil {
		t.Fatal(err)
	}
	ref := model.SessionRef{ID: "s", UserID: u.ID}
	show := func(status string) map[string]any {
		t.Helper()
		err := s.PresenceUpdate(ctx, ref, model.PresenceUpdate{Status: status, Activities: json.RawMessage(`[{"name":"lurking","type":0}]`)})
		if err != nil {
			t.Fatal(err)
		}
		evs := rec.named("PRESENCE_UPDATE")
		var d map[string]any
		if err := json.Unmarshal(evs[len(evs)-1].Data, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := show("dnd"); d["status"] != "dnd" {
		t.Fatalf("dnd shown as %v", d["status"])
	}
	invisible, offline := show("invisible"), show("offline")
	if invisible["status"] != "offline" {
		t.Fatalf("invisible shown as %v", invisible["status"])
	}
	a, _ := json.Marshal(invisible)
	b, _ := json.Marshal(offline)
	if string(a) != string(b) || strings.Contains(string(a), "invisible") || strings.Contains(string(a), "lurking") {
		t.Fatalf("invisible %s differs from offline %s", a, b)
	}
}
