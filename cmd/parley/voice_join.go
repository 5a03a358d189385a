package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/parleyhq/parley/internal/cli"
	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/voiceclient"
	"github.com/parleyhq/parley/voiceproto"
)

func init() {
	register(&command{
		name:    "voice join",
		summary: "join a voice channel as a client: play an Ogg Opus file, record others",
		run:     runVoiceJoin,
	})
}

// joinPrinter writes JSON lines from several goroutines. Gateway events
// that arrive during the handshake are held until "joined" is printed.
type joinPrinter struct {
	mu      sync.Mutex
	w       io.Writer
	joined  bool
	pending []any
}

func (p *joinPrinter) print(v any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = cli.PrintJSON(p.w, v)
}

func (p *joinPrinter) event(v any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.joined {
		p.pending = append(p.pending, v)
		return
	}
	_ = cli.PrintJSON(p.w, v)
}

// printJoined prints the joined line, then the held events.
func (p *joinPrinter) printJoined(v any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = cli.PrintJSON(p.w, v)
	for _, e := range p.pending {
		_ = cli.PrintJSON(p.w, e)
	}
	p.pending, p.joined = nil, true
}

type joinedEvent struct {
	Event     string `json:"event"` // "joined"
	UserID    string `json:"user_id"`
	GuildID   string `json:"guild_id"`
	ChannelID string `json:"channel_id"`
	SSRC      uint32 `json:"ssrc"`
	Mode      string `json:"mode"`
}

// gatewayEvent is a voiceclient.Event as a JSON line: "speaking",
// "clients_connect", "client_disconnect" or "resumed".
type gatewayEvent struct {
	Event    string                    `json:"event"`
	UserID   string                    `json:"user_id,omitempty"`
	UserIDs  []string                  `json:"user_ids,omitempty"`
	SSRC     uint32                    `json:"ssrc,omitempty"`
	Speaking *voiceproto.SpeakingFlags `json:"speaking,omitempty"`
}

func newGatewayEvent(e voiceclient.Event) gatewayEvent {
	g := gatewayEvent{Event: e.Type, UserID: e.UserID, UserIDs: e.UserIDs, SSRC: e.SSRC}
	if e.Type == voiceclient.EventSpeaking {
		g.Speaking = &e.Speaking
	}
	return g
}

// daveEvent is printed when the DAVE state changes: the epoch, the voice
// privacy code every member shows, and the pairwise verification code with
// each other member of the group (dave.md §8).
type daveEvent struct {
	Event           string            `json:"event"` // "dave"
	ProtocolVersion uint16            `json:"protocol_version"`
	Ready           bool              `json:"ready"`
	Epoch           uint64            `json:"epoch"`
	PrivacyCode     string            `json:"privacy_code,omitempty"`
	Fingerprints    map[string]string `json:"fingerprints,omitempty"`
}

// printDAVE prints the connection's DAVE state whenever kick fires, until
// done closes. Pairwise codes run scrypt, so not on the gateway reader.
func printDAVE(conn *voiceclient.Conn, out *joinPrinter, kick <-chan struct{}, done <-chan struct{}) {
	last := ""
	for {
		select {
		case <-done:
			return
		case <-kick:
		}
		st := conn.DAVE()
		ev := daveEvent{Event: "dave", ProtocolVersion: st.ProtocolVersion, Ready: st.Ready, Epoch: st.Epoch, PrivacyCode: st.PrivacyCode}
		for _, u := range st.Members {
			if u == conn.UserID() {
				continue
			}
			if code, err := conn.PairwiseCode(u); err == nil {
				if ev.Fingerprints == nil {
					ev.Fingerprints = map[string]string{}
				}
				ev.Fingerprints[u] = code
			}
		}
		if key := fmt.Sprint(ev); key != last {
			last = key
			out.event(ev)
		}
	}
}

type playedEvent struct {
	Event  string `json:"event"` // "played"
	File   string `json:"file"`
	Frames uint64 `json:"frames"`
	Error  string `json:"error,omitempty"`
}

type joinSummary struct {
	Event          string            `json:"event"` // "summary"
	DurationMS     int64             `json:"duration_ms"`
	FramesSent     uint64            `json:"frames_sent"`
	FramesReceived uint64            `json:"frames_received"`
	ByUser         map[string]uint64 `json:"frames_by_user"`
	Recorded       map[string]int    `json:"recorded,omitempty"`
	DecryptErrors  uint64            `json:"decrypt_errors"`
	UnknownSSRC    uint64            `json:"unknown_ssrc"`
	Ended          string            `json:"ended,omitempty"` // why the session ended, if not by us
	DAVE           *daveEvent        `json:"dave,omitempty"`
}

func runVoiceJoin(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("voice join", flag.ContinueOnError)
	credsPath := fs.String("credentials", "", "credentials JSON from parley voice-token (a file, or - for stdin) (required)")
	play := fs.String("play", "", "Ogg Opus file to play once joined")
	record := fs.String("record", "", "directory to record each other speaker into, as <user id>.ogg")
	duration := fs.Duration("duration", 0, "leave after this long (default: when --play ends, else on interrupt)")
	mode := fs.String("mode", "", "force a transport encryption mode (default: the best offered)")
	caFile := fs.String("ca", "", "PEM certificate(s) to trust (default: the data dir's self-signed certificate if present)")
	dataDir := cli.DataDir(fs)
	verbose := fs.Bool("v", false, "log connection events to stderr")
	noE2EE := fs.Bool("no-e2ee", false, "turn DAVE end-to-end encryption off (identify with max_dave_protocol_version 0)")
	webrtc := fs.Bool("webrtc", false, "join as a browser does: the webrtc dialect (ICE, DTLS-SRTP) instead of native UDP")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *credsPath == "" {
		fs.Usage()
		return cli.Usagef("--credentials is required")
	}
	if *duration < 0 {
		return cli.Usagef("--duration must not be negative")
	}
	creds, err := readVoiceCredentials(*credsPath, os.Stdin)
	if err != nil {
		return err
	}
	roots, err := voiceRoots(*caFile, *dataDir)
	if err != nil {
		return err
	}
	var audio *os.File
	if *play != "" {
		if audio, err = os.Open(*play); err != nil {
			return err
		}
		defer audio.Close()
	}
	var rec *voiceclient.Recorder
	if *record != "" {
		if rec, err = voiceclient.NewRecorder(*record); err != nil {
			return err
		}
	}
	lvl := slog.LevelWarn
	if *verbose {
		lvl = slog.LevelDebug
	}
	out := &joinPrinter{w: stdout}
	var byUserMu sync.Mutex
	byUser := map[string]uint64{}
	daveKick := make(chan struct{}, 1)
	dialCtx, cancelDial := context.WithTimeout(ctx, 15*time.Second)
	defer cancelDial()
	conn, err := voiceclient.Dial(dialCtx, voiceclient.Config{
		Endpoint: creds.Endpoint, Token: creds.Token, SessionID: creds.SessionID, UserID: creds.UserID,
		GuildID: creds.GuildID, ChannelID: creds.ChannelID, RootCAs: roots, Mode: *mode, DisableDAVE: *noE2EE, WebRTC: *webrtc,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})),
		OnFrame: func(f voiceclient.Frame) {
			byUserMu.Lock()
			byUser[f.UserID]++
			byUserMu.Unlock()
			if rec != nil {
				rec.OnFrame(f)
			}
		},
		OnEvent: func(e voiceclient.Event) {
			if e.Type == voiceclient.EventDAVE {
				select {
				case daveKick <- struct{}{}:
				default:
				}
				return
			}
			out.event(newGatewayEvent(e))
		},
	})
	if err != nil {
		return err
	}
	daveDone := make(chan struct{})
	daveStopped := make(chan struct{})
	go func() { defer close(daveStopped); printDAVE(conn, out, daveKick, daveDone) }()
	defer func() { close(daveDone); <-daveStopped }()
	start := time.Now()
	out.printJoined(joinedEvent{Event: "joined", UserID: creds.UserID, GuildID: creds.GuildID, ChannelID: creds.ChannelID, SSRC: conn.SSRC(), Mode: conn.Mode()})

	stayCtx, stop := context.WithCancel(ctx)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		stayCtx, cancel = context.WithTimeout(stayCtx, *duration)
		defer cancel()
	}
	playDone := make(chan struct{})
	if audio != nil {
		go func() {
			defer close(playDone)
			before := conn.Stats().FramesSent
			err := conn.PlayOgg(stayCtx, audio)
			ev := playedEvent{Event: "played", File: *play, Frames: conn.Stats().FramesSent - before}
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				ev.Error = err.Error()
			}
			out.print(ev)
			if *duration == 0 {
				// Leave once the last frames have had time to arrive.
				t := time.NewTimer(500 * time.Millisecond)
				defer t.Stop()
				select {
				case <-t.C:
				case <-stayCtx.Done():
				}
				stop()
			}
		}()
	} else {
		close(playDone)
	}

	var ended string
	select {
	case <-stayCtx.Done():
	case <-conn.Done():
		if err := conn.Err(); err != nil {
			ended = err.Error()
		}
		stop()
	}
	<-playDone
	st := conn.Stats()
	closeErr := conn.Close()
	sum := joinSummary{
		Event: "summary", DurationMS: time.Since(start).Milliseconds(),
		FramesSent: st.FramesSent, FramesReceived: st.FramesReceived,
		DecryptErrors: st.DecryptErrors, UnknownSSRC: st.UnknownSSRC, Ended: ended,
	}
	if st := conn.DAVE(); st.Enabled {
		sum.DAVE = &daveEvent{Event: "dave", ProtocolVersion: st.ProtocolVersion, Ready: st.Ready, Epoch: st.Epoch, PrivacyCode: st.PrivacyCode}
	}
	byUserMu.Lock()
	sum.ByUser = byUser
	byUserMu.Unlock()
	var recErr error
	if rec != nil {
		recErr = rec.Close()
		sum.Recorded = rec.Recorded()
	}
	out.print(sum)
	if recErr != nil {
		return recErr
	}
	if closeErr != nil && ended != "" {
		return closeErr
	}
	return nil
}

// readVoiceCredentials reads `parley voice-token` output from a file or,
// for "-", from stdin.
func readVoiceCredentials(path string, stdin io.Reader) (voicetoken.Credentials, error) {
	var c voicetoken.Credentials
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return c, fmt.Errorf("credentials: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("credentials: %w", err)
	}
	if c.Endpoint == "" || c.Token == "" || c.SessionID == "" || c.UserID == "" || c.GuildID == "" {
		return c, errors.New("credentials: endpoint, token, session_id, user_id and guild_id are required")
	}
	return c, nil
}

// voiceRoots trusts caFile if given, else the data dir's self-signed
// certificate if it exists, else the system roots (nil).
func voiceRoots(caFile, dataDir string) (*x509.CertPool, error) {
	if caFile == "" {
		if _, err := os.Stat(dataDir); err != nil {
			return nil, nil // no data dir here: system roots
		}
		dir, err := datadir.Open(dataDir)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(dir.CertPath()); err != nil {
			return nil, nil
		}
		caFile = dir.CertPath()
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca: %s holds no PEM certificate", caFile)
	}
	return pool, nil
}
