package gateway

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/internal/testkit"
)

// TestRevokedTokenClosesSessions (issue item 8): CloseSessions ends the
// sessions opened with the revoked token — close 4004 and no resume —
// and leaves the user's other sessions alone; a token revoked where the
// gateway is not told (or expired) is found by the periodic re-check.
func TestRevokedTokenClosesSessions(t *testing.T) {
	s, url, fb := startServer(t, func(c *Config) { c.TokenCheck = 20 * time.Millisecond })
	open := func(token string) (*client, string) {
		c := dial(t, url)
		c.expect("10")
		c.send(identifyPayload(token, int(model.IntentGuildMessages)))
		var rd struct {
			SessionID string `json:"session_id"`
		}
		_ = json.Unmarshal(c.expect("READY").D, &rd)
		return c, rd.SessionID
	}
	c1, sess1 := open("good")
	c2, _ := open("good2") // the same user, another token
	tok := fakeToken("good")
	fb.revoke("good")
	s.CloseSessions(1, &tok)
	if got := c1.expectClose(); got != int(CloseAuthenticationFailed) {
		t.Fatalf("revoked session closed with %d, want 4004", got)
	}
	marker, _ := model.NewEvent("MESSAGE_CREATE", testGuild, model.IntentGuildMessages, map[string]string{"content": "still here"})
	s.Dispatch(marker)
	c2.expect("MESSAGE_CREATE")
	// The revoked session cannot be resumed, even with a valid token.
	r := dial(t, url)
	r.expect("10")
	r.send(map[string]any{"op": 6, "d": map[string]any{"token": "good2", "session_id": sess1, "seq": 1}})
	if f := r.expect("9"); string(f.D) != "false" {
		t.Fatalf("resume of a revoked session: op 9 d=%s", f.D)
	}
	// Revoked behind the gateway's back: the re-check closes it.
	fb.revoke("good2")
	start := time.Now()
	if got := c2.expectClose(); got != int(CloseAuthenticationFailed) {
		t.Fatalf("re-checked session closed with %d, want 4004", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("re-check took %v", d)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return s.Stats().Sessions == 0 }, "revoked sessions still live")
}
