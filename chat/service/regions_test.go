package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/registry"
	"github.com/parleyhq/parley/internal/voicetoken"
)

// TestRTCRegion: rtc_region takes the live regions of the registry (and
// null, automatic), refuses others with a field error; GET /voice/regions
// lists the live regions nearest this control plane's first; a voice
// join lands on the channel's region, or the nearest to the control
// plane's when automatic.
func TestRTCRegion(t *testing.T) {
	signer, err := voicetoken.NewSigner(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.NewEmbedded(
		registry.Node{ID: "r", Region: "rotterdam", Endpoint: "r.example:443"},
		registry.Node{ID: "j", Region: "japan", Endpoint: "j.example:443"},
	)
	s, rec := newTestService(t, func(c *Config) { c.Registry, c.VoiceSigner, c.VoiceRegion = reg, signer, "europe" })
	ctx := context.Background()
	admin, _, err := s.CreateBot(ctx, "admin", true)
	if err != nil {
		t.Fatal(err)
	}
	g := s.DefaultGuild()
	voice := model.ChannelVoice
	str := func(s string) *string { return &s }
	c, err := s.CreateChannel(ctx, admin.ID, g, ChannelPatch{Name: str("far"), Type: &voice, RTCRegion: str("japan"), RTCRegionSet: true})
	if err != nil || c.RTCRegion == nil || *c.RTCRegion != "japan" {
		t.Fatalf("create with rtc_region japan: %+v, %v", c, err)
	}
	for _, bad := range []string{"moon", "Japan", "sydney"} {
		_, err := s.ModifyChannel(ctx, admin.ID, c.ID, ChannelPatch{RTCRegion: str(bad), RTCRegionSet: true})
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "rtc_region" || fe.Code != "BASE_TYPE_CHOICES" {
			t.Errorf("rtc_region %q: %v, want a BASE_TYPE_CHOICES field error", bad, err)
		}
	}
	if got, _ := s.Channel(admin.ID, c.ID); got.RTCRegion == nil || *got.RTCRegion != "japan" {
		t.Fatalf("a refused rtc_region changed the channel: %+v", got.RTCRegion)
	}

	regions := s.VoiceRegions(ctx)
	if len(regions) != 2 || regions[0]["id"] != "rotterdam" || regions[0]["optimal"] != true || regions[1]["id"] != "japan" {
		t.Fatalf("voice regions %v, want rotterdam (optimal, nearest europe) then japan", regions)
	}

	endpoint := func() string {
		t.Helper()
		ref := model.SessionRef{ID: "gw", UserID: admin.ID}
		if err := s.VoiceStateUpdate(ctx, ref, model.VoiceStateRequest{GuildID: g, ChannelID: &c.ID}); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.VoiceStateUpdate(ctx, ref, model.VoiceStateRequest{GuildID: g}) }()
		evs := rec.named("VOICE_SERVER_UPDATE")
		if len(evs) == 0 {
			t.Fatal("no VOICE_SERVER_UPDATE")
		}
		var d struct{ Endpoint string }
		if err := json.Unmarshal(evs[len(evs)-1].Data, &d); err != nil {
			t.Fatal(err)
		}
		return d.Endpoint
	}
	if ep := endpoint(); ep != "j.example:443" {
		t.Fatalf("rtc_region japan joined at %s", ep)
	}
	// Automatic: a fresh channel goes to the region nearest europe.
	c, err = s.CreateChannel(ctx, admin.ID, g, ChannelPatch{Name: str("auto"), Type: &voice, RTCRegion: nil, RTCRegionSet: true})
	if err != nil || c.RTCRegion != nil {
		t.Fatalf("create with rtc_region null: %+v, %v", c, err)
	}
	if ep := endpoint(); ep != "r.example:443" {
		t.Fatalf("automatic region joined at %s, want rotterdam's node", ep)
	}
}
