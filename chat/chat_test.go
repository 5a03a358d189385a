package chat_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/chat"
	"github.com/parleyhq/parley/chat/rest"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicetoken"
)

type idObj struct {
	ID string `json:"id"`
}

func TestEndToEnd(t *testing.T) {
	testkit.NoLeaks(t)
	for name, sc := range engines(t) {
		t.Run(name, func(t *testing.T) {
			voice := &fakeVoice{}
			s := startChat(t, sc, voice, func(c *chat.Config) {
				c.REST.Routes = map[string]rest.Limit{"POST /channels/{channel}/messages": {Requests: 3, Window: time.Minute}}
				c.REST.Invalid = rest.Limit{Requests: 50, Window: time.Minute}
			})
			ctx := context.Background()
			bot, botTok, err := s.Service.CreateBot(ctx, "testbot", true)
			if err != nil {
				t.Fatal(err)
			}
			botAuth := "Bot " + botTok
			var reg struct {
				Token  string `json:"token"`
				UserID string `json:"user_id"`
			}
			if code, _ := api(t, s, "POST", "/auth/register", "", map[string]string{"username": "alice", "password": "hunter2hunter2"}, &reg); code != 201 {
				t.Fatalf("register: %d", code)
			}
			var login struct{ Token string }
			if code, _ := api(t, s, "POST", "/auth/login", "", map[string]string{"login": "alice", "password": "hunter2hunter2"}, &login); code != 200 || login.Token == "" {
				t.Fatalf("login: %d", code)
			}
			var bad struct{ Code int }
			if code, _ := api(t, s, "POST", "/auth/login", "", map[string]string{"login": "alice", "password": "nope"}, &bad); code != 400 || bad.Code != 50035 {
				t.Fatalf("bad login: %d %d", code, bad.Code)
			}

			gw := dialGateway(t, s, botTok, 33409|1<<11|1<<8|1<<1)
			ready := gw.expect("READY")
			var rd struct {
				SessionID string `json:"session_id"`
				User      idObj
				Guilds    []idObj
			}
			_ = json.Unmarshal(ready.D, &rd)
			if rd.User.ID != bot.ID.String() || len(rd.Guilds) != 1 {
				t.Fatalf("READY %s", ready.D)
			}
			gc := gw.expect("GUILD_CREATE")
			var guild struct {
				ID       string
				Channels []struct {
					ID, Name string
					Type     int
				}
				Roles   []struct{ ID, Name string }
				Members []struct{ User idObj }
				Threads []any
			}
			_ = json.Unmarshal(gc.D, &guild)
			var general, lounge string
			for _, c := range guild.Channels {
				switch c.Name {
				case "general":
					general = c.ID
				case "Lounge":
					lounge = c.ID
				}
			}
			everyone := false
			for _, r := range guild.Roles {
				everyone = everyone || (r.ID == guild.ID && r.Name == "@everyone")
			}
			botMember := false
			for _, m := range guild.Members {
				botMember = botMember || m.User.ID == bot.ID.String()
			}
			if general == "" || lounge == "" || !everyone || !botMember || guild.Threads == nil {
				t.Fatalf("GUILD_CREATE %s", gc.D)
			}

			// A user's REST message reaches the bot.
			var msg struct {
				ID      string
				Content string
				Author  idObj
			}
			if code, _ := api(t, s, "POST", "/channels/"+general+"/messages", reg.Token, map[string]string{"content": "hello bot"}, &msg); code != 200 {
				t.Fatalf("create message: %d", code)
			}
			mc := gw.expect("MESSAGE_CREATE")
			if !strings.Contains(string(mc.D), `"content":"hello bot"`) || !strings.Contains(string(mc.D), msg.ID) {
				t.Fatalf("MESSAGE_CREATE %s", mc.D)
			}
			var got struct{ Content string }
			if code, _ := api(t, s, "GET", "/channels/"+general+"/messages/"+msg.ID, botAuth, nil, &got); code != 200 || got.Content != "hello bot" {
				t.Fatalf("get message: %d %q", code, got.Content)
			}
			var list []struct{ ID string }
			api(t, s, "GET", "/channels/"+general+"/messages?limit=10", botAuth, nil, &list)
			if len(list) != 1 || list[0].ID != msg.ID {
				t.Fatalf("list %+v", list)
			}
			var e struct{ Code int }
			if code, _ := api(t, s, "PATCH", "/channels/"+general+"/messages/"+msg.ID, botAuth, map[string]string{"content": "x"}, &e); code != 403 || e.Code != 50005 {
				t.Fatalf("edit other's: %d %d", code, e.Code)
			}
			api(t, s, "PATCH", "/channels/"+general+"/messages/"+msg.ID, reg.Token, map[string]string{"content": "edited"}, nil)
			if f := gw.expect("MESSAGE_UPDATE"); !strings.Contains(string(f.D), "edited") {
				t.Fatalf("MESSAGE_UPDATE %s", f.D)
			}
			if code, _ := api(t, s, "POST", "/channels/"+general+"/typing", reg.Token, nil, nil); code != 204 {
				t.Fatalf("typing: %d", code)
			}
			gw.expect("TYPING_START")
			if code, _ := api(t, s, "DELETE", "/channels/"+general+"/messages/"+msg.ID, botAuth, nil, nil); code != 204 {
				t.Fatalf("delete: %d", code)
			}
			gw.expect("MESSAGE_DELETE")

			// Errors.
			errCases := []struct {
				method, path, token string
				body                any
				status, code        int
			}{
				{"GET", "/users/@me", "Bot nope", nil, 401, 0},
				{"GET", "/channels/123", botAuth, nil, 404, 10003},
				{"GET", "/channels/" + general + "/messages/123", botAuth, nil, 404, 10008},
				{"POST", "/channels/" + general + "/messages", botAuth, map[string]string{"content": " "}, 400, 50006},
				{"POST", "/channels/" + general + "/messages", botAuth, []byte(`{"content":`), 400, 50109},
				{"POST", "/channels/" + general + "/messages", botAuth, map[string]string{"content": strings.Repeat("a", 2001)}, 400, 50035},
				{"GET", "/channels/" + general + "/messages?before=1&after=2", botAuth, nil, 400, 50035},
				{"GET", "/guilds/999", botAuth, nil, 404, 10004},
				{"GET", "/channels/abc", botAuth, nil, 404, 10003},
				{"PATCH", "/channels/" + general, botAuth, []byte(`{"topic":"` + strings.Repeat("a", 2<<20) + `"}`), 413, 40005},
				{"PATCH", "/channels/" + general, botAuth, []byte(`{"topic":5}`), 400, 50035},
				{"PATCH", "/channels/" + general, botAuth, []byte(`[]`), 400, 50109},
				{"PATCH", "/channels/" + general, botAuth, []byte(`{"topic":`), 400, 50109},
				{"PATCH", "/guilds/" + guild.ID + "/members/" + bot.ID.String(), botAuth, []byte(`{"mute":"yes"}`), 400, 50035},
				{"GET", "/no/such/route", botAuth, nil, 404, 0},
			}
			for _, ec := range errCases {
				var body struct {
					Code    int
					Message string
				}
				code, _ := api(t, s, ec.method, ec.path, ec.token, ec.body, &body)
				if code != ec.status || body.Code != ec.code || body.Message == "" {
					t.Errorf("%s %s: %d code %d %q, want %d code %d", ec.method, ec.path, code, body.Code, body.Message, ec.status, ec.code)
				}
			}
			// Route rate limit: 3 per minute (one used above + failures count too).
			var rl struct {
				RetryAfter float64 `json:"retry_after"`
				Global     bool
			}
			var hdr http.Header
			code := 0
			for range 5 {
				code, hdr = api(t, s, "POST", "/channels/"+general+"/messages", reg.Token, map[string]string{"content": "spam"}, &rl)
				if code == 429 {
					break
				}
			}
			if code != 429 || rl.RetryAfter <= 0 || hdr.Get("Retry-After") == "" || hdr.Get("X-RateLimit-Scope") != "user" || hdr.Get("X-RateLimit-Bucket") == "" {
				t.Fatalf("rate limit: %d %+v %v", code, rl, hdr)
			}
			for range 2 { // the two spam messages before the limit
				gw.expect("MESSAGE_CREATE")
			}

			// Op 8 and op 3.
			gw.send(map[string]any{"op": 8, "d": map[string]any{"guild_id": guild.ID, "query": "ali", "limit": 10, "nonce": "n1"}})
			if f := gw.expect("GUILD_MEMBERS_CHUNK"); !strings.Contains(string(f.D), reg.UserID) || !strings.Contains(string(f.D), `"nonce":"n1"`) {
				t.Fatalf("GUILD_MEMBERS_CHUNK %s", f.D)
			}
			gw.send(map[string]any{"op": 3, "d": map[string]any{"status": "dnd", "activities": []any{}, "since": nil, "afk": false}})
			if f := gw.expect("PRESENCE_UPDATE"); !strings.Contains(string(f.D), `"status":"dnd"`) {
				t.Fatalf("PRESENCE_UPDATE %s", f.D)
			}

			// Voice hand-off: VOICE_STATE_UPDATE, then VOICE_SERVER_UPDATE
			// with a token the voice server accepts for that session id.
			gw.send(map[string]any{"op": 4, "d": map[string]any{"guild_id": guild.ID, "channel_id": lounge, "self_mute": false, "self_deaf": true}})
			vs := gw.expect("VOICE_STATE_UPDATE")
			vsu := gw.expect("VOICE_SERVER_UPDATE")
			var state struct {
				SessionID string `json:"session_id"`
				ChannelID string `json:"channel_id"`
				SelfDeaf  bool   `json:"self_deaf"`
				Member    struct{ User idObj }
			}
			var server struct{ Token, GuildID, Endpoint string }
			_ = json.Unmarshal(vs.D, &state)
			_ = json.Unmarshal(vsu.D, &server)
			_ = json.Unmarshal(vsu.D, &struct {
				GuildID *string `json:"guild_id"`
			}{&server.GuildID})
			signer, _ := voicetoken.NewSigner(testVoiceKey)
			claims, err := signer.Verify(server.Token, bot.ID.String(), guild.ID, state.SessionID, time.Now())
			if err != nil || claims.ChannelID != lounge || server.Endpoint != "127.0.0.1:9" || !state.SelfDeaf || state.Member.User.ID != bot.ID.String() {
				t.Fatalf("hand-off: %v %+v %+v", err, state, server)
			}
			// Server mute by the admin bot reaches the SFU.
			api(t, s, "PATCH", "/guilds/"+guild.ID+"/members/"+bot.ID.String(), botAuth, map[string]any{"mute": true}, nil)
			if !voice.has("mute " + bot.ID.String() + " true") {
				t.Fatalf("server mute not applied: %v", voice.calls)
			}
			// Move to a new voice channel: new token.
			var vc2 idObj
			api(t, s, "POST", "/guilds/"+guild.ID+"/channels", botAuth, map[string]any{"name": "Stage", "type": 2, "rtc_region": nil}, &vc2)
			gw.expect("CHANNEL_CREATE")
			api(t, s, "PATCH", "/guilds/"+guild.ID+"/members/"+bot.ID.String(), botAuth, map[string]any{"channel_id": vc2.ID}, nil)
			vsu2 := gw.expect("VOICE_SERVER_UPDATE")
			if string(vsu2.D) == string(vsu.D) {
				t.Fatal("move kept the old token")
			}
			// Deleting the channel disconnects its voice users.
			api(t, s, "DELETE", "/channels/"+vc2.ID, botAuth, nil, nil)
			if !voice.has("disconnect " + bot.ID.String()) {
				t.Fatalf("channel delete did not disconnect: %v", voice.calls)
			}
			left := gw.expect("VOICE_STATE_UPDATE")
			if !strings.Contains(string(left.D), `"channel_id":null`) {
				t.Fatalf("leave state %s", left.D)
			}
			// Invalid requests (401/403/429) per IP are limited too: after 50,
			// everything from this IP gets a global 429.
			for range 60 {
				api(t, s, "GET", "/users/@me", "Bot invalid", nil, nil)
			}
			if code, hdr := api(t, s, "GET", "/users/@me", botAuth, nil, nil); code != 429 || hdr.Get("X-RateLimit-Global") != "true" {
				t.Fatalf("invalid-request limit: %d %v", code, hdr)
			}
		})
	}
}

func TestKick(t *testing.T) {
	testkit.NoLeaks(t)
	for name, sc := range engines(t) {
		t.Run(name, func(t *testing.T) {
			s := startChat(t, sc, &fakeVoice{}, nil)
			_, botTok, err := s.Service.CreateBot(context.Background(), "kicker", true)
			if err != nil {
				t.Fatal(err)
			}
			botAuth := "Bot " + botTok
			guild := struct{ ID string }{s.Service.DefaultGuild().String()}
			var reg struct {
				Token  string `json:"token"`
				UserID string `json:"user_id"`
			}
			api(t, s, "POST", "/auth/register", "", map[string]string{"username": "alice", "password": "hunter2hunter2"}, &reg)
			// Kick: the user's sessions get GUILD_DELETE.
			alice := dialGateway(t, s, reg.Token, 1)
			alice.expect("GUILD_CREATE")
			if code, _ := api(t, s, "DELETE", "/guilds/"+guild.ID+"/members/"+reg.UserID, botAuth, nil, nil); code != 204 {
				t.Fatalf("kick: %d", code)
			}
			alice.expect("GUILD_DELETE")
		})
	}
}

// TestGatewayBadToken: the service's ErrUnauthorized reaches the gateway
// as a bad token (close 4004), not as a failure (4000).
func TestGatewayBadToken(t *testing.T) {
	testkit.NoLeaks(t)
	s := startChat(t, store.Config{SQLitePath: filepath.Join(t.TempDir(), "chat.db")}, nil, nil)
	if code := dialGateway(t, s, "Bot nope", 1).expectClose(); code != 4004 {
		t.Fatalf("close %d, want 4004", code)
	}
}
