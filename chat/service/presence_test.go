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

// FuzzNormalizeActivities: normalising is idempotent, and what it returns
// stays within the limits it enforces.
func FuzzNormalizeActivities(f *testing.F) {
	for _, s := range []string{`[]`, `null`, ``, `[{"name":"x","type":0}]`, `[{"name":"x","type":1,"url":"https://x","state":"s","details":"d","extra":1}]`,
		`[{"name":"x","type":9}]`, `{"name":"a"}`, `[{"name":"\u00e9\u0301"}]`} {
		f.Add([]byte(s))
	}
	// Re-encoding escapes <, > and & six-fold: 2 KB of them came out as
	// 11 KB, which the input limit then refused.
	lt := strings.Repeat("<", MaxActivityText)
	act := `{"name":"` + lt + `","state":"` + lt + `","details":"` + lt + `"}`
	f.Add([]byte("[" + strings.Repeat(act+",", MaxActivities-1) + act + "]"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := normalizeActivities(raw)
		if err != nil {
			return
		}
		again, err := normalizeActivities(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("normalizeActivities(%.200q) = %.200s (%d bytes), which gives %.200s, %v", raw, out, len(out), again, err)
		}
		if len(out) > maxActivitiesRaw {
			t.Fatalf("normalizeActivities(%q): %d bytes", raw, len(out))
		}
	})
}
