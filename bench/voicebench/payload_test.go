package voicebench

import (
	"errors"
	"testing"
)

func TestPayloadRoundTrip(t *testing.T) {
	b := make([]byte, 120)
	putPayload(b, 1_700_000_000_123_456_789, 4242)
	ns, sender, err := parsePayload(b)
	if err != nil || ns != 1_700_000_000_123_456_789 || sender != 4242 {
		t.Fatalf("parsePayload = %d, %d, %v", ns, sender, err)
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"silence frame", []byte{0xF8, 0xFF, 0xFE}},
		{"empty", nil},
		{"wrong toc", append([]byte{0x78}, b[1:]...)},
		{"short", b[:payloadMin-1]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := parsePayload(tc.b); !errors.Is(err, ErrPayload) {
				t.Fatalf("err = %v, want ErrPayload", err)
			}
		})
	}
}

func FuzzParsePayload(f *testing.F) {
	b := make([]byte, 40)
	putPayload(b, 99, 7)
	f.Add(b)
	f.Add([]byte{0xF8, 0xFF, 0xFE})
	f.Fuzz(func(t *testing.T, b []byte) {
		ns, sender, err := parsePayload(b)
		if err != nil {
			return
		}
		c := make([]byte, len(b))
		putPayload(c, ns, sender)
		if string(c[:payloadMin]) != string(b[:payloadMin]) {
			t.Fatalf("round trip changed the header: % x vs % x", c[:payloadMin], b[:payloadMin])
		}
	})
}
