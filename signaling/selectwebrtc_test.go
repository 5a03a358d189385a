package signaling_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/signaling"
	"github.com/parleyhq/parley/voiceproto"
)

// fakeMedia is a Media whose participants' SetWebRTCTransport returns rtcErr.
type fakeMedia struct{ rtcErr error }

func (m fakeMedia) Join(string, string) (signaling.Participant, error) {
	return &fakeParticipant{rtcErr: m.rtcErr}, nil
}
func (fakeMedia) Modes() []string            { return []string{"aead_aes256_gcm_rtpsize"} }
func (fakeMedia) UDPEndpoint() (string, int) { return "127.0.0.1", 1 }

type fakeParticipant struct{ rtcErr error }

func (*fakeParticipant) SSRC() uint32                              { return 1 }
func (*fakeParticipant) SetTransport(string, []byte, string) error { return nil }
func (p *fakeParticipant) SetWebRTCTransport(string, []voiceproto.Codec) (string, error) {
	return "", p.rtcErr
}
func (*fakeParticipant) SetServerMute(bool)  {}
func (*fakeParticipant) SetServerDeaf(bool)  {}
func (*fakeParticipant) ServerMute() bool    { return false }
func (*fakeParticipant) ServerDeaf() bool    { return false }
func (*fakeParticipant) SetDAVECapable(bool) {}
func (*fakeParticipant) SetRoomDAVE(bool)    {}
func (*fakeParticipant) Leave()              {}

// TestSelectWebRTCErrors: the media plane's error decides the close code of
// a webrtc Select Protocol — 4012 only when it takes no WebRTC clients
// (ErrWebRTCOff, also wrapped); any other failure is the server's: logged
// at Warn and closed with 4011, as a failed media join is (it used to be
// 4012 with nothing logged); a bad offer stays 4020.
func TestSelectWebRTCErrors(t *testing.T) {
	testkit.NoLeaks(t)
	tests := []struct {
		name    string
		err     error
		want    int
		warning bool
	}{
		{"webrtc off", signaling.ErrWebRTCOff, 4012, false},
		{"webrtc off, wrapped", fmt.Errorf("%w: sfu: no address", signaling.ErrWebRTCOff), 4012, false},
		{"bad offer", fmt.Errorf("%w: no fingerprint", voiceproto.ErrBadSDP), 4020, false},
		{"no codec", voiceproto.ErrNoCodec, 4020, false},
		{"ICE agent failed", errors.New("sfu: ICE agent: no sockets"), 4011, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			signer, err := voicetoken.NewSigner(make([]byte, 32))
			if err != nil {
				t.Fatal(err)
			}
			var logs testkit.SyncBuffer
			srv, err := signaling.New(signaling.Config{Media: fakeMedia{rtcErr: tc.err}, Tokens: signer,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(srv)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Close(ctx)
				hs.Close()
			})
			ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/?v=8", nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ws.Close() })
			c := &client{t: t, ws: ws}
			c.next(8)
			c.c, c.tk = signer.IssueFor("u1", "g1", "c1", time.Minute, time.Now())
			c.send(0, map[string]any{"server_id": "g1", "user_id": "u1", "session_id": c.c.SessionID, "token": c.tk})
			c.next(2)
			c.send(1, map[string]any{"protocol": "webrtc", "sdp": "a=ice-ufrag:abcd\n",
				"codecs": []map[string]any{{"name": "opus", "type": "audio", "priority": 1000, "payload_type": 111}}})
			if got := c.closeCode(); got != tc.want {
				t.Fatalf("close %d, want %d", got, tc.want)
			}
			warned := strings.Contains(logs.String(), "level=WARN msg=\"media webrtc transport\"")
			if warned != tc.warning {
				t.Fatalf("warning logged %v, want %v; log:\n%s", warned, tc.warning, logs.String())
			}
		})
	}
}
