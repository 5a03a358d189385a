package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/internal/testpg"

	_ "github.com/jackc/pgx/v5/stdlib"
)

func chatCall(t *testing.T, api, method, path, token string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+api+"/api/v10"+path, rd)
	req.Header.Set("Authorization", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(b, out)
	}
	return resp.StatusCode
}

// TestChatKill9Durability: a message acknowledged by REST survives kill -9
// of `parley serve`, on SQLite and on PostgreSQL.
func TestChatKill9Durability(t *testing.T) {
	engines := map[string][]string{"sqlite": nil}
	if dsn := testpg.DSN(t, "kill"); dsn != "" {
		engines["postgres"] = []string{"--chat-postgres-dsn", dsn}
	} else {
		t.Log("PARLEY_TEST_POSTGRES_DSN not set: PostgreSQL half skipped")
	}
	for name, extra := range engines {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"--only", "chat"}, extra...)
			cmd, ready := startServe(t, dir, args...)
			api, _ := ready["api"].(string)
			if api == "" || ready["gateway"] == nil {
				t.Fatalf("ready JSON lacks api/gateway: %v", ready)
			}
			out, err := parleyCmd(context.Background(), "bot", "create", "--name", "durable", "--data-dir", dir).Output()
			if err != nil {
				t.Fatalf("bot create: %v", err)
			}
			token := "Bot " + strings.TrimSpace(string(out))
			var guilds []struct{ ID string }
			chatCall(t, api, "GET", "/users/@me/guilds", token, nil, &guilds)
			if len(guilds) != 1 {
				t.Fatalf("guilds %v", guilds)
			}
			var chans []struct{ ID, Name string }
			chatCall(t, api, "GET", "/guilds/"+guilds[0].ID+"/channels", token, nil, &chans)
			var msg struct{ ID string }
			if code := chatCall(t, api, "POST", "/channels/"+chans[0].ID+"/messages", token, map[string]string{"content": "survive kill -9"}, &msg); code != 200 {
				t.Fatalf("POST message: %d", code)
			}
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			_ = cmd.Wait()

			_, ready2 := startServe(t, dir, args...)
			api2, _ := ready2["api"].(string)
			var got struct{ ID, Content string }
			if code := chatCall(t, api2, "GET", "/channels/"+chans[0].ID+"/messages/"+msg.ID, token, nil, &got); code != 200 || got.Content != "survive kill -9" {
				t.Fatalf("after restart: %d %+v", code, got)
			}
		})
	}
}

// TestChatBotCreateOffline: `parley bot create` without a running server
// writes to the store, and the server started later accepts the token.
func TestChatBotCreateOffline(t *testing.T) {
	dir := t.TempDir()
	out, err := parleyCmd(context.Background(), "bot", "create", "--name", "offline", "--data-dir", dir).Output()
	if err != nil {
		t.Fatalf("bot create: %v", err)
	}
	_, ready := startServe(t, dir, "--only", "chat")
	// The database (password and token hashes, messages) is the owner's
	// alone, in a data dir that existed before (issue item 15).
	for _, f := range []string{"chat.db", "chat.db-wal", "chat.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s is %v, want -rw-------", f, fi.Mode().Perm())
		}
	}
	var me struct {
		Username string
		Bot      bool
	}
	api, _ := ready["api"].(string)
	if code := chatCall(t, api, "GET", "/users/@me", "Bot "+strings.TrimSpace(string(out)), nil, &me); code != 200 || me.Username != "offline" || !me.Bot {
		t.Fatalf("users/@me: %d %+v", code, me)
	}
}

// TestChatBotReset (issue item 8): `parley bot reset` revokes a bot's
// token and prints a new one, offline (on the store) and against a
// running server.
func TestChatBotReset(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		out, err := parleyCmd(context.Background(), append(args, "--data-dir", dir)...).Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return "Bot " + strings.TrimSpace(string(out))
	}
	first := run("bot", "create", "--name", "resettable")
	second := run("bot", "reset", "--name", "resettable") // offline
	_, ready := startServe(t, dir, "--only", "chat")
	api, _ := ready["api"].(string)
	if code := chatCall(t, api, "GET", "/users/@me", first, nil, nil); code != 401 {
		t.Fatalf("token from before an offline reset: %d", code)
	}
	if code := chatCall(t, api, "GET", "/users/@me", second, nil, nil); code != 200 {
		t.Fatalf("token from the offline reset: %d", code)
	}
	third := run("bot", "reset", "--name", "resettable") // through the server
	if code := chatCall(t, api, "GET", "/users/@me", second, nil, nil); code != 401 {
		t.Fatalf("token from before a reset: %d", code)
	}
	if code := chatCall(t, api, "GET", "/users/@me", third, nil, nil); code != 200 {
		t.Fatalf("token from the reset: %d", code)
	}
}
