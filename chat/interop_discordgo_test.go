package chat_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/parleyhq/parley/chat/store"
)

// pointDiscordgo rewrites discordgo v0.29.0's endpoint variables (computed
// at init from EndpointDiscord) to a local server (chat-gateway.md §3).
func pointDiscordgo(apiAddr string) {
	base := "http://" + apiAddr + "/"
	discordgo.EndpointDiscord = base
	discordgo.EndpointAPI = base + "api/v" + discordgo.APIVersion + "/"
	discordgo.EndpointGuilds = discordgo.EndpointAPI + "guilds/"
	discordgo.EndpointChannels = discordgo.EndpointAPI + "channels/"
	discordgo.EndpointUsers = discordgo.EndpointAPI + "users/"
	discordgo.EndpointGateway = discordgo.EndpointAPI + "gateway"
	discordgo.EndpointGatewayBot = discordgo.EndpointGateway + "/bot"
	discordgo.EndpointWebhooks = discordgo.EndpointAPI + "webhooks/"
	discordgo.EndpointStickers = discordgo.EndpointAPI + "stickers/"
	discordgo.EndpointStageInstances = discordgo.EndpointAPI + "stage-instances"
	discordgo.EndpointVoice = discordgo.EndpointAPI + "/voice/"
	discordgo.EndpointVoiceRegions = discordgo.EndpointVoice + "regions"
	discordgo.EndpointGuildCreate = discordgo.EndpointAPI + "guilds"
	discordgo.EndpointApplications = discordgo.EndpointAPI + "applications"
	discordgo.EndpointOAuth2 = discordgo.EndpointAPI + "oauth2/"
	discordgo.EndpointOAuth2Applications = discordgo.EndpointOAuth2 + "applications"
}

// TestDiscordgoInterop: discordgo v0.29.0 (gateway v9, REST /api/v9) logs
// in, receives a user's message and sends its reply.
func TestDiscordgoInterop(t *testing.T) {
	s := startChat(t, store.Config{SQLitePath: filepath.Join(t.TempDir(), "chat.db")}, nil, nil)
	ctx := context.Background()
	bot, botTok, err := s.Service.CreateBot(ctx, "gobot", false)
	if err != nil {
		t.Fatal(err)
	}
	var reg struct{ Token string }
	api(t, s, "POST", "/auth/register", "", map[string]string{"username": "carol", "password": "password-carol"}, &reg)
	var chans []struct {
		ID, Name string
	}
	api(t, s, "GET", "/guilds/"+s.Service.DefaultGuild().String()+"/channels", reg.Token, nil, &chans)
	general := chans[0].ID

	pointDiscordgo(s.APIAddr())
	dg, err := discordgo.New("Bot " + botTok)
	if err != nil {
		t.Fatal(err)
	}
	dg.Identify.Intents = discordgo.IntentsAllWithoutPrivileged | discordgo.IntentMessageContent
	ready := make(chan struct{}, 1)
	got := make(chan *discordgo.MessageCreate, 4)
	dg.AddHandler(func(_ *discordgo.Session, r *discordgo.Ready) { ready <- struct{}{} })
	dg.AddHandler(func(_ *discordgo.Session, m *discordgo.MessageCreate) {
		if m.Author.ID != bot.ID.String() {
			got <- m
		}
	})
	if err := dg.Open(); err != nil {
		t.Fatalf("discordgo Open: %v", err)
	}
	defer dg.Close()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("no READY")
	}
	if dg.State.User == nil || dg.State.User.ID != bot.ID.String() {
		t.Fatalf("State.User = %+v", dg.State.User)
	}
	api(t, s, "POST", "/channels/"+general+"/messages", reg.Token, map[string]string{"content": "ping from carol"}, nil)
	var m *discordgo.MessageCreate
	select {
	case m = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("discordgo did not receive MESSAGE_CREATE")
	}
	if m.Content != "ping from carol" || m.ChannelID != general || m.GuildID != s.Service.DefaultGuild().String() {
		t.Fatalf("message %+v", m.Message)
	}
	reply, err := dg.ChannelMessageSend(general, "pong from discordgo")
	if err != nil {
		t.Fatalf("ChannelMessageSend: %v", err)
	}
	var list []struct{ ID, Content string }
	api(t, s, "GET", "/channels/"+general+"/messages?limit=1", reg.Token, nil, &list)
	if len(list) != 1 || list[0].ID != reply.ID || list[0].Content != "pong from discordgo" {
		t.Fatalf("reply not stored: %+v", list)
	}
	g, err := dg.Guild(s.Service.DefaultGuild().String())
	if err != nil || g.Name != "Parley" {
		t.Fatalf("Guild: %+v %v", g, err)
	}
}

// TestDiscordgoFileSend (issue 12): discordgo v0.29.0's ChannelFileSend
// (payload_json first, then files[0]) and ChannelMessageSendComplex with
// two files and a description are stored, and discordgo reads the
// attachments back from the answer and from MESSAGE_CREATE.
func TestDiscordgoFileSend(t *testing.T) {
	files := &memFiles{}
	s := startChat(t, store.Config{SQLitePath: filepath.Join(t.TempDir(), "chat.db")}, nil, withFiles(files))
	_, botTok, err := s.Service.CreateBot(context.Background(), "gofiles", false)
	if err != nil {
		t.Fatal(err)
	}
	user := register(t, s, "frank")
	general := generalChannel(t, s, user)
	pointDiscordgo(s.APIAddr())
	dg, err := discordgo.New("Bot " + botTok)
	if err != nil {
		t.Fatal(err)
	}
	dg.Identify.Intents = discordgo.IntentsGuilds | discordgo.IntentsGuildMessages | discordgo.IntentMessageContent
	created := make(chan *discordgo.MessageCreate, 4)
	dg.AddHandler(func(_ *discordgo.Session, m *discordgo.MessageCreate) { created <- m })
	if err := dg.Open(); err != nil {
		t.Fatalf("discordgo Open: %v", err)
	}
	defer dg.Close()

	img := pngOf(t, 30, 20)
	m, err := dg.ChannelFileSend(general, "go.png", bytes.NewReader(img))
	if err != nil {
		t.Fatalf("ChannelFileSend: %v", err)
	}
	if len(m.Attachments) != 1 {
		t.Fatalf("answer %+v", m)
	}
	a := m.Attachments[0]
	if a.Filename != "go.png" || a.Width != 30 || a.Height != 20 || a.Size != len(img) || a.ContentType != "image/png" || a.URL == "" || a.ProxyURL == "" {
		t.Fatalf("attachment %+v", a)
	}
	select {
	case ev := <-created:
		if len(ev.Attachments) != 1 || ev.Attachments[0].ID != a.ID || ev.Attachments[0].URL == "" {
			t.Fatalf("MESSAGE_CREATE attachments %+v", ev.Attachments)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no MESSAGE_CREATE for the file")
	}
	two, err := dg.ChannelMessageSendComplex(general, &discordgo.MessageSend{Content: "two files",
		Files: []*discordgo.File{{Name: "a.txt", ContentType: "text/plain", Reader: strings.NewReader("alpha")}, {Name: "b.png", ContentType: "image/png", Reader: bytes.NewReader(img)}}})
	if err != nil {
		t.Fatalf("ChannelMessageSendComplex: %v", err)
	}
	if len(two.Attachments) != 2 || two.Attachments[0].Filename != "a.txt" || two.Attachments[0].ContentType != "text/plain" ||
		two.Attachments[0].Width != 0 || two.Attachments[1].Width != 30 {
		t.Fatalf("two files: %+v %+v", two.Attachments[0], two.Attachments[1])
	}
	var list []struct {
		ID          string
		Attachments []struct{ Filename string }
	}
	api(t, s, "GET", "/channels/"+general+"/messages?limit=2", user, nil, &list)
	if len(list) != 2 || list[0].ID != two.ID || len(list[0].Attachments) != 2 || list[1].Attachments[0].Filename != "go.png" {
		t.Fatalf("history %+v", list)
	}
}
