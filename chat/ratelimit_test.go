package chat_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/chat"
	"github.com/parleyhq/parley/chat/rest"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/testkit"
)

// TestRateLimitCanonicalIDs (issue item 5): a route's limit follows the
// id, not its spelling. Other spellings of a channel id ("0…<id>") are
// refused with 404 instead of getting fresh windows, and unique oversized
// segments leave nothing behind in the limiters.
func TestRateLimitCanonicalIDs(t *testing.T) {
	testkit.NoLeaks(t)
	s := startChat(t, store.Config{SQLitePath: filepath.Join(t.TempDir(), "chat.db")}, nil, func(c *chat.Config) {
		c.REST.Routes = map[string]rest.Limit{"POST /channels/{channel}/messages": {Requests: 3, Window: time.Minute}}
	})
	tok := register(t, s, "alice")
	general := generalChannel(t, s, tok)
	post := func(id string) int {
		code, _ := api(t, s, "POST", "/channels/"+id+"/messages", tok, map[string]string{"content": "hi"}, nil)
		return code
	}
	for i := range 3 {
		if code := post(general); code != 200 {
			t.Fatalf("message %d: %d", i, code)
		}
	}
	if code := post(general); code != 429 {
		t.Fatalf("4th message: %d, want 429", code)
	}
	for _, alias := range []string{"0" + general, "0000000000000" + general, "+" + general, "%30" + general} {
		var e struct{ Code int }
		code, _ := api(t, s, "POST", "/channels/"+alias+"/messages", tok, map[string]string{"content": "hi"}, &e)
		if code != 404 || e.Code != 10003 {
			t.Errorf("POST /channels/%s/messages: %d code %d, want 404 10003", alias, code, e.Code)
		}
	}
	// Unique, oversized segments: 404s that create no window.
	before := s.API.Stats().LimiterKeys
	for i := range 200 {
		seg := strings.Repeat("9", 500) + strings.Repeat("1", i)
		if code, _ := api(t, s, "GET", "/channels/"+seg+"/messages", tok, nil, nil); code != 404 && code != 429 {
			t.Fatalf("oversized id: %d", code)
		}
	}
	if after := s.API.Stats().LimiterKeys; after > before+2 {
		t.Fatalf("limiter windows grew from %d to %d on unparsable ids", before, after)
	}
}
