package chat_test

import (
	"context"
	"path/filepath"
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
