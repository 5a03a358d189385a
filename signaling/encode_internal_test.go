package signaling

import (
	"encoding/json"
	"testing"

	"github.com/parleyhq/parley/voiceproto"
)

// speakingJSON is op 5 as encoding/json writes it.
func speakingJSON(t testing.TB, p voiceproto.PeerSpeaking, seq int64) string {
	m := voiceproto.Message{Op: voiceproto.OpSpeaking, D: p}
	if seq > 0 {
		m = voiceproto.NumberedMessage(voiceproto.OpSpeaking, p, seq)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAppendSpeaking(t *testing.T) {
	tests := []struct {
		name string
		p    voiceproto.PeerSpeaking
		seq  int64
		fast bool
	}{
		{"v8 numbered", voiceproto.PeerSpeaking{UserID: "123456789012345678", SSRC: 4294967295, Speaking: 5}, 42, true},
		{"unnumbered", voiceproto.PeerSpeaking{UserID: "u1", SSRC: 1}, 0, true},
		{"legacy bool", voiceproto.PeerSpeaking{UserID: "u1", SSRC: 7, Speaking: 1, Legacy: true}, 0, true},
		{"quote", voiceproto.PeerSpeaking{UserID: `a"b`, SSRC: 1}, 1, false},
		{"html", voiceproto.PeerSpeaking{UserID: "<a&b>", SSRC: 1}, 1, false},
		{"non-ascii", voiceproto.PeerSpeaking{UserID: "é", SSRC: 1}, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, ok := appendSpeaking(nil, tc.p, tc.seq)
			if ok != tc.fast {
				t.Fatalf("fast path %v, want %v", ok, tc.fast)
			}
			if ok && string(b) != speakingJSON(t, tc.p, tc.seq) {
				t.Fatalf("got %s, want %s", b, speakingJSON(t, tc.p, tc.seq))
			}
		})
	}
}

// FuzzAppendSpeaking: the fast path writes what encoding/json writes.
func FuzzAppendSpeaking(f *testing.F) {
	f.Add("123", uint32(1), 1, int64(3), false)
	f.Add("<>", uint32(0), 0, int64(0), true)
	f.Fuzz(func(t *testing.T, user string, ssrc uint32, speaking int, seq int64, legacy bool) {
		if seq < 0 {
			seq = -seq
		}
		p := voiceproto.PeerSpeaking{UserID: voiceproto.ID(user), SSRC: ssrc, Speaking: voiceproto.SpeakingFlags(speaking), Legacy: legacy}
		if b, ok := appendSpeaking(nil, p, seq); ok && string(b) != speakingJSON(t, p, seq) {
			t.Fatalf("got %s, want %s", b, speakingJSON(t, p, seq))
		}
	})
}
