package signaling

import (
	"context"
	"errors"
	"testing"

	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/voiceproto"
)

// TestAdmitWrapsTheCause: admit's close error carries the control plane's
// error, so a resume tells a revoked session by errors.Is(err,
// voicectl.ErrRevoked), not by its close code.
func TestAdmitWrapsTheCause(t *testing.T) {
	down := errors.New("control plane down")
	tests := []struct {
		name    string
		err     error
		code    voiceproto.CloseCode // 0: admitted
		revoked bool
	}{
		{"admitted", nil, 0, false},
		{"revoked", voicectl.ErrRevoked, voiceproto.CloseDisconnected, true},
		{"unreachable", down, voiceproto.CloseServerNotFound, false},
		{"not managed", voicectl.ErrNotManaged, 0, false},
	}
	signer, err := voicetoken.NewSigner(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := New(Config{Media: noMedia{}, Tokens: signer,
				Admitter: admitErr{tc.err}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close(context.Background()) })
			_, err = srv.admit(voicetoken.Claims{GuildID: "g1", ChannelID: "c1", UserID: "u1", SessionID: "s1"})
			var ce *closeError
			switch {
			case tc.code == 0 && err != nil:
				t.Fatalf("admit: %v, want admitted", err)
			case tc.code != 0 && (!errors.As(err, &ce) || ce.code != tc.code):
				t.Fatalf("admit: %v, want close %d", err, tc.code)
			}
			if got := errors.Is(err, voicectl.ErrRevoked); got != tc.revoked {
				t.Fatalf("errors.Is(%v, ErrRevoked) = %v, want %v", err, got, tc.revoked)
			}
			if tc.err == down && !errors.Is(err, down) {
				t.Fatalf("admit: %v does not wrap the control plane's error", err)
			}
		})
	}
}

// admitErr is an Admitter that answers err to every session.
type admitErr struct{ err error }

func (a admitErr) Admit(context.Context, voicectl.Session) (voicectl.Moderation, error) {
	return voicectl.Moderation{}, a.err
}
