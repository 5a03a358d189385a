package chat_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/chat/store"
)

// TestDiscordJSMessages: an unmodified discord.js 14 Client, pointed at the
// server with only rest.api, logs in with a bot token, receives
// messageCreate for a user's REST message and replies.
func TestDiscordJSMessages(t *testing.T) {
	s := startChat(t, store.Config{SQLitePath: filepath.Join(t.TempDir(), "chat.db")}, nil, nil)
	_, botTok, err := s.Service.CreateBot(context.Background(), "jsbot", false)
	if err != nil {
		t.Fatal(err)
	}
	var reg struct{ Token string }
	api(t, s, "POST", "/auth/register", "", map[string]string{"username": "dave", "password": "password-dave"}, &reg)
	var chans []struct{ ID, Name string }
	api(t, s, "GET", "/guilds/"+s.Service.DefaultGuild().String()+"/channels", reg.Token, nil, &chans)
	general := chans[0].ID

	d := startNode(t, "messages.mjs", nil, "http://"+s.APIAddr()+"/api", botTok)
	ready := d.expect("ready", 60*time.Second)
	if gs, _ := ready["guilds"].([]any); len(gs) != 1 {
		t.Fatalf("ready %v", ready)
	}
	api(t, s, "POST", "/channels/"+general+"/messages", reg.Token, map[string]string{"content": "hello discord.js"}, nil)
	m := d.expect("message", 30*time.Second)
	if m["content"] != "hello discord.js" || m["channel"] != general {
		t.Fatalf("message %v", m)
	}
	r := d.expect("replied", 30*time.Second)
	var list []struct{ ID, Content string }
	api(t, s, "GET", "/channels/"+general+"/messages?limit=1", reg.Token, nil, &list)
	if len(list) != 1 || list[0].ID != r["id"] || list[0].Content != "pong from discord.js" {
		t.Fatalf("reply not stored: %+v (node said %v)", list, r)
	}
}
