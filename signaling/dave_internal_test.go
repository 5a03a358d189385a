package signaling

import "testing"

func TestUnwrapSeqAck(t *testing.T) {
	tests := []struct{ ack, last, want int64 }{
		{-1, 10, -1},
		{5, 10, 5},
		{70000, 70010, 70000},     // a JSON seq_ack
		{4464, 70000, 70000},      // the u16 seq of binary frame 70000
		{4460, 70000, 69996},      // an older binary frame
		{65535, 65536 + 3, 65535}, // just before the wrap
		{2, 65536 + 3, 65538},
		{10, 65536 + 3, 10}, // within 2^16 of last: taken as is
	}
	for _, tc := range tests {
		if got := unwrapSeqAck(tc.ack, tc.last); got != tc.want {
			t.Errorf("unwrapSeqAck(%d, %d) = %d, want %d", tc.ack, tc.last, got, tc.want)
		}
	}
}

func TestNumericID(t *testing.T) {
	for s, ok := range map[string]bool{"1": true, "18446744073709551615": true, "18446744073709551616": false,
		"": false, "+1": false, "-1": false, "u1": false, "1 ": false} {
		if _, got := numericID(s); got != ok {
			t.Errorf("numericID(%q) = %v", s, got)
		}
	}
}
