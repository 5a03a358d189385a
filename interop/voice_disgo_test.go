package interop

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	botgateway "github.com/disgoorg/disgo/gateway"
	"github.com/disgoorg/disgo/voice"
	"github.com/disgoorg/snowflake/v2"
	"github.com/gorilla/websocket"

	"github.com/disgoorg/disgo/discord"

	"github.com/parleyhq/parley/internal/ogg"
)

// disgoPeer is a disgo v0.19.6 voice connection in this process
// (voice-protocol.md §5.2). It uses disgo's gateway, UDP and crypto, but
// sends and reads through Conn.UDP() from goroutines the test owns rather
// than disgo's AudioSender/AudioReceiver, whose start/stop is not
// synchronized (a data race under -race unrelated to the protocol).
type disgoPeer struct {
	user string
	conn voice.Conn
	got  *frameLog
	done chan struct{}
}

func joinDisgo(t *testing.T, env *voiceEnv, user string) *disgoPeer {
	t.Helper()
	c := env.creds(user)
	guildID, userID, channelID := snowflake.MustParse(c.GuildID), snowflake.MustParse(user), snowflake.MustParse(c.ChannelID)
	p := &disgoPeer{user: user, got: newFrameLog(), done: make(chan struct{})}
	dialer := &websocket.Dialer{
		TLSClientConfig:  &tls.Config{RootCAs: env.pool},
		HandshakeTimeout: 10 * time.Second,
	}
	var conn voice.Conn
	stateUpdate := func(_ context.Context, g snowflake.ID, ch *snowflake.ID, selfMute, selfDeaf bool) error {
		// Stand-in for the main gateway: op 4 -> VOICE_STATE_UPDATE, then
		// VOICE_SERVER_UPDATE (nil channel: leave).
		conn.HandleVoiceStateUpdate(botgateway.EventVoiceStateUpdate{VoiceState: discord.VoiceState{
			GuildID: g, ChannelID: ch, UserID: userID, SessionID: c.SessionID, SelfMute: selfMute, SelfDeaf: selfDeaf,
		}})
		if ch != nil {
			ep := c.Endpoint
			conn.HandleVoiceServerUpdate(botgateway.EventVoiceServerUpdate{Token: c.Token, GuildID: g, Endpoint: &ep})
		}
		return nil
	}
	log := env.log.With("client", "disgo:"+user)
	conn = voice.NewConn(guildID, userID, stateUpdate, func() {},
		voice.WithConnLogger(log),
		voice.WithConnDaveSessionLogger(log),
		voice.WithConnGatewayConfigOpts(voice.WithGatewayDialer(dialer)),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Open(ctx, channelID, false, false); err != nil {
		t.Fatalf("disgo open: %v", err)
	}
	p.conn = conn
	go p.read()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(ctx)
		<-p.done
	})
	return p
}

func (p *disgoPeer) read() {
	defer close(p.done)
	for {
		pkt, err := p.conn.UDP().ReadPacket()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue // a packet that failed to decrypt; the frame check will tell
		}
		p.got.add(p.conn.UserIDBySSRC(pkt.SSRC).String(), pkt.Opus)
	}
}

// play sends frames every 20 ms like disgo's AudioSender: Speaking on,
// frames, five silence frames, Speaking off.
func (p *disgoPeer) play(ctx context.Context, frames [][]byte) error {
	if err := p.conn.SetSpeaking(ctx, voice.SpeakingFlagMicrophone); err != nil {
		return err
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	all := append(append([][]byte(nil), frames...), ogg.Silence, ogg.Silence, ogg.Silence, ogg.Silence, ogg.Silence)
	for _, f := range all {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if _, err := p.conn.UDP().Write(f); err != nil {
			return err
		}
	}
	return p.conn.SetSpeaking(ctx, voice.SpeakingFlagNone)
}

// TestDisgoVoice: disgo and Parley's Go client exchange audio.
func TestDisgoVoice(t *testing.T) {
	env := startVoice(t, false)
	const goUser, disgoUser = "100000000000000011", "100000000000000012"
	goFrames, disgoFrames := ogg.SyntheticOpus(100, 11), ogg.SyntheticOpus(100, 12)
	g := env.joinGo(t, goUser, "")
	d := joinDisgo(t, env, disgoUser)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- d.play(ctx, disgoFrames) }()
	if err := g.conn.PlayFrames(ctx, goFrames); err != nil {
		t.Fatalf("go play: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("disgo play: %v", err)
	}
	g.got.waitAudio(disgoUser, len(disgoFrames), 3*time.Second)
	d.got.waitAudio(goUser, len(goFrames), 3*time.Second)
	checkFrames(t, "disgo -> go", g.got.from(disgoUser), disgoFrames)
	checkFrames(t, "go -> disgo", d.got.from(goUser), goFrames)
}
