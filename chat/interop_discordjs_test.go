package chat_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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

// TestDiscordJSAttachments (issue 12): an unmodified discord.js bot sees a
// user's image as an attachment with url, proxy_url, width, height,
// content_type and size, and sends a file of its own with
// channel.send({files}) (a multipart upload, files before payload_json).
func TestDiscordJSAttachments(t *testing.T) {
	files := &memFiles{}
	s := startChat(t, store.Config{SQLitePath: filepath.Join(t.TempDir(), "chat.db")}, nil, withFiles(files))
	_, botTok, err := s.Service.CreateBot(context.Background(), "jsfiles", false)
	if err != nil {
		t.Fatal(err)
	}
	user := register(t, s, "erin")
	general := generalChannel(t, s, user)
	reply := filepath.Join(t.TempDir(), "reply.png")
	if err := os.WriteFile(reply, pngOf(t, 20, 10), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startNode(t, "attachments.mjs", nil, "http://"+s.APIAddr()+"/api", botTok, reply)
	d.expect("ready", 60*time.Second)

	if code := postFile(t, s, user, general, "photo.png", pngOf(t, 64, 48), `{"content":"a photo","attachments":[{"id":"0","description":"grey"}]}`, nil); code != 200 {
		t.Fatalf("post: %d", code)
	}
	m := d.expect("message", 30*time.Second)
	atts, _ := m["attachments"].([]any)
	if m["content"] != "a photo" || len(atts) != 1 {
		t.Fatalf("discord.js saw %v", m)
	}
	a := atts[0].(map[string]any)
	if a["name"] != "photo.png" || a["width"] != 64.0 || a["height"] != 48.0 || a["contentType"] != "image/png" || a["size"] != float64(len(pngOf(t, 64, 48))) ||
		a["description"] != "grey" || !strings.HasPrefix(a["url"].(string), "http://files.invalid/attachments/") || a["proxyURL"] != a["url"] {
		t.Fatalf("discord.js attachment %v", a)
	}
	sent := d.expect("sent", 30*time.Second)
	var got struct {
		Content     string
		Attachments []struct {
			Filename, Description, URL string
			ContentType                string `json:"content_type"`
			Width, Height              int
		}
	}
	api(t, s, "GET", "/channels/"+general+"/messages/"+sent["id"].(string), user, nil, &got)
	if got.Content != "a file from discord.js" || len(got.Attachments) != 1 || got.Attachments[0].Filename != "reply.png" ||
		got.Attachments[0].Width != 20 || got.Attachments[0].Height != 10 || got.Attachments[0].Description != "sent by discord.js" ||
		got.Attachments[0].ContentType != "image/png" || got.Attachments[0].URL == "" {
		t.Fatalf("discord.js's file stored as %+v (node said %v)", got, sent)
	}
}
