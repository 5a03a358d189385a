package sfu

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/voiceproto"
)

// TestUplinkReport: the reception report on a browser's uplink counts
// loss over extended sequence numbers, so reordering across a wrap is not
// a lost cycle (RFC 3550 §A.3), and a new SSRC starts afresh.
func TestUplinkReport(t *testing.T) {
	tests := []struct {
		name     string
		ssrcs    []uint32 // per packet; 0 means 7
		seqs     []uint16
		lost     uint32
		fraction uint8
		last     uint32
	}{
		{name: "in order", seqs: []uint16{100, 101, 102, 103}, last: 103},
		{name: "reordered across the wrap", seqs: []uint16{65533, 65534, 0, 65535, 1, 2}, last: 1<<16 | 2},
		{name: "late from before the first", seqs: []uint16{10, 9, 11}, last: 11},
		{name: "one lost of five", seqs: []uint16{1, 2, 4, 5}, lost: 1, fraction: 256 / 5, last: 5},
		{name: "lost across the wrap", seqs: []uint16{65534, 1}, lost: 2, fraction: 2 * 256 / 4, last: 1<<16 | 1},
		{name: "a new ssrc starts afresh", ssrcs: []uint32{7, 7, 8, 8}, seqs: []uint16{100, 200, 5000, 5001}, last: 5001},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var u uplinkStats
			at := time.Unix(1000, 0)
			for i, seq := range tc.seqs {
				ssrc := uint32(7)
				if tc.ssrcs != nil {
					ssrc = tc.ssrcs[i]
				}
				h := voiceproto.Header{SSRC: ssrc, Seq: seq, Timestamp: uint32(i) * 960}
				u.note(&h, nil, at.Add(time.Duration(i)*20*time.Millisecond))
			}
			rr, ok := u.report(at)
			if !ok {
				t.Fatal("no report")
			}
			if rr.TotalLost != tc.lost || rr.FractionLost != tc.fraction || rr.LastSequenceNumber != tc.last {
				t.Errorf("lost %d, fraction %d, last %d; want %d, %d, %d",
					rr.TotalLost, rr.FractionLost, rr.LastSequenceNumber, tc.lost, tc.fraction, tc.last)
			}
			if rr.Jitter != 0 {
				t.Errorf("jitter %d for packets sent and received 20 ms apart", rr.Jitter)
			}
		})
	}
}
