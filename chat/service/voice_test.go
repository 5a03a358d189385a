package service

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/registry"
	"github.com/parleyhq/parley/internal/voicetoken"
)

// TestHandoffAlwaysHasEndpoint: every VOICE_SERVER_UPDATE names a voice
// server, even when a concurrent leave makes a self-mute update (which
// picks no server) a join: the hand-off picks one then.
func TestHandoffAlwaysHasEndpoint(t *testing.T) {
	signer, err := voicetoken.NewSigner(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.NewEmbedded(registry.Node{ID: "n", Region: "local", Endpoint: "127.0.0.1:9"})
	s, rec := newTestService(t, func(c *Config) { c.Registry, c.VoiceSigner = reg, signer })
	ctx := context.Background()
	u, _, err := s.Register(ctx, "talker", "hunter2hunter2")
	if err != nil {
		t.Fatal(err)
	}
	g := s.DefaultGuild()
	var lounge model.Snowflake
	cs, err := s.GuildChannels(u.ID, g)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Type == model.ChannelVoice {
			lounge = c.ID
		}
	}
	ref := model.SessionRef{ID: "gw", UserID: u.ID}
	join := func(mute bool) error {
		return s.VoiceStateUpdate(ctx, ref, model.VoiceStateRequest{GuildID: g, ChannelID: &lounge, SelfMute: mute})
	}
	if err := join(false); err != nil {
		t.Fatal(err)
	}
	const rounds = 2000
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // self-mute toggles: no server picked while in the channel
		defer wg.Done()
		for i := range rounds {
			_ = join(i%2 == 0)
		}
	}()
	go func() { // leave and rejoin
		defer wg.Done()
		for range rounds {
			_ = s.VoiceStateUpdate(ctx, ref, model.VoiceStateRequest{GuildID: g})
			_ = join(false)
		}
	}()
	wg.Wait()
	for _, ev := range rec.named("VOICE_SERVER_UPDATE") {
		var d struct{ Endpoint string }
		if err := json.Unmarshal(ev.Data, &d); err != nil || d.Endpoint == "" {
			t.Fatalf("VOICE_SERVER_UPDATE without an endpoint: %s", ev.Data)
		}
	}
}
