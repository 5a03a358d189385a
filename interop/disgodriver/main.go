// Command disgodriver drives a disgo v0.19.6 voice connection for Parley's
// interop tests (interop/voice_disgo_test.go; shared/docs/voice-protocol.md
// §5.2). It speaks the same line protocol as interop/node/voice/djs-driver.mjs:
//
//	disgodriver CONFIG.json
//
// CONFIG: {endpoint, token, session_id, user_id, guild_id, channel_id,
// frames: [base64 Opus], ca: PEM file to trust, mode: optional mode to
// force}. stdout: {"event":"ready","mode":...}, {"event":"frame","user":id,
// "opus":base64}, {"event":"played","frames":n}, {"event":"error",...},
// {"event":"left"}. stdin: "play", "leave".
//
// It runs as its own process, built without -race, because disgo v0.19.6
// shares fields between its gateway goroutines without synchronization
// (voice/gateway.go: heartbeatCancel, lastHeartbeatReceived), which the race
// detector reports in any test binary that closes a disgo connection.
//
// DAVE is off: disgo's default godave noop session sends
// max_dave_protocol_version 0.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/disgoorg/disgo/discord"
	botgateway "github.com/disgoorg/disgo/gateway"
	"github.com/disgoorg/disgo/voice"
	"github.com/disgoorg/snowflake/v2"
	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/voicetoken"
)

type config struct {
	voicetoken.Credentials
	Frames []string `json:"frames"`
	CA     string   `json:"ca"`
	Mode   string   `json:"mode"`
	Debug  bool     `json:"debug"`
}

var outMu sync.Mutex

func out(v map[string]any) {
	b, _ := json.Marshal(v)
	outMu.Lock()
	defer outMu.Unlock()
	_, _ = os.Stdout.Write(append(b, '\n'))
}

func fail(err error) {
	out(map[string]any{"event": "error", "message": err.Error()})
	os.Exit(1)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: disgodriver CONFIG.json")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fail(err)
	}
}

func run(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cfg config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return err
	}
	frames := make([][]byte, len(cfg.Frames))
	for i, f := range cfg.Frames {
		if frames[i], err = base64.StdEncoding.DecodeString(f); err != nil {
			return err
		}
	}
	pool := x509.NewCertPool()
	if cfg.CA != "" {
		pem, err := os.ReadFile(cfg.CA)
		if err != nil {
			return err
		}
		pool.AppendCertsFromPEM(pem)
	}
	if cfg.Mode != "" {
		voice.AllEncryptionModes = []voice.EncryptionMode{voice.EncryptionMode(cfg.Mode)}
	}
	lvl := slog.LevelWarn
	if cfg.Debug {
		lvl = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	guildID, err := snowflake.Parse(cfg.GuildID)
	if err != nil {
		return err
	}
	userID, err := snowflake.Parse(cfg.UserID)
	if err != nil {
		return err
	}
	channelID, err := snowflake.Parse(cfg.ChannelID)
	if err != nil {
		return err
	}
	var conn voice.Conn
	var mode string
	var modeMu sync.Mutex
	stateUpdate := func(_ context.Context, g snowflake.ID, ch *snowflake.ID, selfMute, selfDeaf bool) error {
		// Stand-in for the main gateway: op 4 -> VOICE_STATE_UPDATE, then
		// VOICE_SERVER_UPDATE (a nil channel means leave).
		conn.HandleVoiceStateUpdate(botgateway.EventVoiceStateUpdate{VoiceState: discord.VoiceState{
			GuildID: g, ChannelID: ch, UserID: userID, SessionID: cfg.SessionID, SelfMute: selfMute, SelfDeaf: selfDeaf,
		}})
		if ch != nil {
			ep := cfg.Endpoint
			conn.HandleVoiceServerUpdate(botgateway.EventVoiceServerUpdate{Token: cfg.Token, GuildID: g, Endpoint: &ep})
		}
		return nil
	}
	dialer := &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 10 * time.Second}
	conn = voice.NewConn(guildID, userID, stateUpdate, func() {},
		voice.WithConnLogger(log),
		voice.WithConnDaveSessionLogger(slog.New(slog.DiscardHandler)),
		voice.WithConnGatewayConfigOpts(voice.WithGatewayDialer(dialer)),
		voice.WithConnEventHandlerFunc(func(_ voice.Gateway, _ voice.Opcode, _ int, d voice.GatewayMessageData) {
			if sd, ok := d.(voice.GatewayMessageDataSessionDescription); ok {
				modeMu.Lock()
				mode = string(sd.Mode)
				modeMu.Unlock()
			}
		}),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := conn.Open(ctx, channelID, false, false); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	// Open can return before disgo runs the event handler for op 4: wait
	// for the mode it reports.
	var selected string
	for deadline := time.Now().Add(5 * time.Second); selected == "" && time.Now().Before(deadline); {
		modeMu.Lock()
		selected = mode
		modeMu.Unlock()
		if selected == "" {
			time.Sleep(5 * time.Millisecond)
		}
	}
	out(map[string]any{"event": "ready", "mode": selected})

	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			pkt, err := conn.UDP().ReadPacket()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				out(map[string]any{"event": "receive_error", "message": err.Error()})
				continue
			}
			out(map[string]any{"event": "frame", "user": conn.UserIDBySSRC(pkt.SSRC).String(),
				"ssrc": pkt.SSRC, "opus": base64.StdEncoding.EncodeToString(pkt.Opus)})
		}
	}()

	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "play":
			go func() {
				if err := play(conn, frames); err != nil {
					fail(fmt.Errorf("play: %w", err))
				}
				out(map[string]any{"event": "played", "frames": len(frames)})
			}()
		case "leave":
			leave(conn, done)
			out(map[string]any{"event": "left"})
			return nil
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	leave(conn, done)
	return nil
}

func leave(conn voice.Conn, done <-chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn.Close(ctx)
	select {
	case <-done:
	case <-ctx.Done():
	}
}

var silence = []byte{0xF8, 0xFF, 0xFE}

// play sends frames every 20 ms the way disgo's AudioSender does (Speaking
// on, frames, five silence frames, Speaking off), from this goroutine
// through disgo's UDP connection, which builds, encrypts and sends the RTP.
func play(conn voice.Conn, frames [][]byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := conn.SetSpeaking(ctx, voice.SpeakingFlagMicrophone); err != nil {
		return err
	}
	all := append(append([][]byte(nil), frames...), silence, silence, silence, silence, silence)
	start := time.Now()
	for i, f := range all {
		time.Sleep(time.Until(start.Add(time.Duration(i) * 20 * time.Millisecond)))
		if _, err := conn.UDP().Write(f); err != nil {
			return err
		}
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	return conn.SetSpeaking(ctx2, voice.SpeakingFlagNone)
}
