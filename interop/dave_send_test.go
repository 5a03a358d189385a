package interop

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/ogg"
)

// TestDAVEBurstAfterDial is TestVoiceOrderUnderBurst with DAVE on in both
// Go clients: 500 frames 2 ms apart, sent the moment the second client's
// Dial returns, by the first one (whose group is being created then) or by
// the joiner. All arrive, in order, end-to-end encrypted: a client sends
// nothing the SFU would drop (transport-only Opus once the group exists)
// or no receiver could decrypt, and waits for its sender key instead.
func TestDAVEBurstAfterDial(t *testing.T) {
	for _, tt := range []struct {
		name         string
		senderJoined int // 0: first, 1: second
	}{{"first member sends", 0}, {"joiner sends", 1}} {
		t.Run(tt.name, func(t *testing.T) {
			env := startVoice(t, false)
			p := [2]*goPeer{env.joinGo(t, "200000000000000101", ""), env.joinGo(t, "200000000000000102", "")}
			a, b := p[tt.senderJoined], p[1-tt.senderJoined]
			frames := ogg.SyntheticOpus(500, 41)
			for _, f := range frames {
				if err := a.conn.SendOpus(f); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Millisecond) // paces the burst at ten times real time
			}
			b.got.waitAudio(a.user, len(frames), 3*time.Second)
			checkGoFrames(t, "a -> b", b, a.user, frames)
			if st := a.conn.DAVE(); st.Encrypt.Encrypted != uint64(len(frames)) {
				t.Errorf("sender: %d of %d frames end-to-end encrypted: %+v", st.Encrypt.Encrypted, len(frames), st)
			}
			if d := env.srv.SFU().Stats().Snapshot().Drops; len(d) != 0 {
				t.Errorf("SFU drops %v", d)
			}
		})
	}
}
