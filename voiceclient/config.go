package voiceclient

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/parleyhq/parley/voiceproto"
)

// Config describes one voice session to join. Endpoint, Token, SessionID,
// UserID and GuildID come from VOICE_SERVER_UPDATE / VOICE_STATE_UPDATE (or
// `parley voice-token`).
type Config struct {
	// Endpoint is host:port (optionally with a path) as in
	// VOICE_SERVER_UPDATE; the client dials "wss://" + Endpoint + "?v=8".
	// A full ws:// or wss:// URL is used as given (plus v=8).
	Endpoint  string
	Token     string
	SessionID string
	UserID    string
	GuildID   string // the voice protocol's server_id
	ChannelID string // informational; the token binds the channel

	// RootCAs trusts the server certificate; nil means the system pool.
	RootCAs *x509.CertPool
	// Mode forces a transport mode; empty picks the best offered one.
	Mode string
	// Logger receives connection-level events; nil discards.
	Logger *slog.Logger

	// OnFrame receives each decrypted remote Opus frame. Calls are
	// serialized; Frame.Opus is only valid during the call.
	OnFrame func(Frame)
	// OnEvent receives gateway events (speaking, clients connect and
	// disconnect, resumed). It is called from the WebSocket reader.
	OnEvent func(Event)

	// VideoStreams are the video streams (simulcast layers) the client
	// will send, declared in Identify (Type, RID, Quality, limits); Ready
	// allocates their SSRCs (Conn.VideoStreams). Native UDP only.
	VideoStreams []voiceproto.Stream
	// OnVideoFrame receives each reassembled (and decrypted) remote video
	// frame. Calls are serialized with OnFrame's.
	OnVideoFrame func(VideoFrame)

	// DisableNACK stops the client asking for missing video packets (the
	// server then sends no RTX): for comparisons. Receiver reports still
	// go out.
	DisableNACK bool

	// WebRTC joins as a browser does (the webrtc dialect: ICE, DTLS-SRTP
	// through pion) instead of native UDP; Mode and ReportAddr are unused.
	WebRTC bool

	// DisableDAVE turns DAVE end-to-end encryption off: the client then
	// identifies with max_dave_protocol_version 0. DAVE also stays off when
	// UserID or ChannelID is not a decimal id (dave.md §1).
	DisableDAVE bool

	// ReportAddr, if set (host:port), is sent in Select Protocol instead of
	// the address IP discovery found, as a client behind a NAT or a
	// misbehaving one would; servers must send media to the source address
	// of the client's packets regardless (voice-protocol.md §3).
	ReportAddr string

	// MediaAddr, if set (host:port), is where the client sends media
	// instead of the address in Ready: a relay in front of the server
	// (tests put testkit.UDPShaper there). Native UDP only.
	MediaAddr string

	// HandshakeTimeout bounds Dial when ctx has no earlier deadline;
	// zero means 10 s.
	HandshakeTimeout time.Duration
}

// Validate reports a missing or invalid field.
func (c Config) Validate() error {
	for _, f := range []struct{ name, v string }{
		{"Endpoint", c.Endpoint}, {"Token", c.Token}, {"SessionID", c.SessionID},
		{"UserID", c.UserID}, {"GuildID", c.GuildID},
	} {
		if f.v == "" {
			return fmt.Errorf("%w: %s is required", ErrConfig, f.name)
		}
	}
	if c.Mode != "" && !voiceproto.Supported(c.Mode) {
		return fmt.Errorf("%w: unknown mode %q", ErrConfig, c.Mode)
	}
	if c.ReportAddr != "" {
		if _, _, err := net.SplitHostPort(c.ReportAddr); err != nil {
			return fmt.Errorf("%w: ReportAddr: %v", ErrConfig, err)
		}
	}
	if c.MediaAddr != "" {
		if _, _, err := net.SplitHostPort(c.MediaAddr); err != nil {
			return fmt.Errorf("%w: MediaAddr: %v", ErrConfig, err)
		}
	}
	if err := voiceproto.CheckStreams(c.VideoStreams); err != nil {
		return fmt.Errorf("%w: VideoStreams: %w", ErrConfig, err)
	}
	if c.WebRTC && len(c.VideoStreams) > 0 {
		return fmt.Errorf("%w: video is native UDP only for now", ErrConfig)
	}
	if c.HandshakeTimeout < 0 {
		return fmt.Errorf("%w: negative HandshakeTimeout", ErrConfig)
	}
	return nil
}

// preferredModes is the order in which the client picks among the offered
// modes when Config.Mode is empty: the two current AEAD modes, then the
// legacy ones a server may still offer.
var preferredModes = []string{
	voiceproto.ModeAES256GCMRTPSize,
	voiceproto.ModeXChaCha20RTPSize,
	voiceproto.ModeXSalsa20LiteRTPSize,
	voiceproto.ModeAES256GCM,
	voiceproto.ModeXSalsa20Lite,
	voiceproto.ModeXSalsa20Suffix,
	voiceproto.ModeXSalsa20,
}

// pickMode chooses the mode to select from the server's offer.
func pickMode(offered []string, want string) (string, error) {
	has := func(m string) bool {
		for _, o := range offered {
			if o == m {
				return true
			}
		}
		return false
	}
	if want != "" {
		if has(want) {
			return want, nil
		}
		return "", fmt.Errorf("%w: %q not in %v", ErrNoMode, want, offered)
	}
	for _, m := range preferredModes {
		if has(m) {
			return m, nil
		}
	}
	return "", fmt.Errorf("%w: offered %v", ErrNoMode, offered)
}
