package simulcast

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/sfu/videocodec"
)

// FuzzForwarder drives a Forwarder with arbitrary packets of three layers
// (reordered, duplicated, lost, padding, switch points anywhere) and target
// changes, and checks its invariants: outgoing SNs are unique; a layer
// becomes current only at a switch point of the target; each switch's
// first packet has an SN and a timestamp above every earlier one; only
// packets of the current layer go out; VP8 picture IDs of a switch's first
// packet follow the highest one out.
func FuzzForwarder(f *testing.F) {
	f.Add([]byte{0x01, 0x10, 0x20, 0x31, 0x42, 0x05, 0x16, 0x27, 0x80, 0x91})
	f.Add([]byte{0x81, 0x00, 0x01, 0x02, 0x43, 0x13, 0x03, 0x83, 0x00, 0x08, 0x0c})
	f.Fuzz(func(t *testing.T, ops []byte) {
		fw, _ := New(Config{})
		t0 := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
		var seq [3]uint64
		var pid [3]uint16
		for i := range seq {
			seq[i] = uint64(1<<16 + 20000*i)
		}
		seen := map[uint64]bool{}
		var maxSN, maxTS uint64
		var maxPID uint16
		started := false
		for i, op := range ops {
			now := t0.Add(time.Duration(i) * 10 * time.Millisecond)
			layer := int(op&0x03) % 3
			if op&0x80 != 0 { // target change
				_ = fw.SetTarget(int(op>>2&0x03) - 1)
				continue
			}
			// Sequence step: mostly +1, sometimes back (reorder/dup) or ahead (loss).
			switch op >> 4 & 0x07 {
			case 5:
				seq[layer] -= 2
			case 6:
				seq[layer] += 3
			case 7: // duplicate: keep
			default:
				seq[layer]++
			}
			if op&0x08 != 0 {
				pid[layer]++
			}
			v := videocodec.VP8{HeaderLen: 4, S: op&0x04 != 0, HasPictureID: true, PictureID15: true, PictureID: pid[layer] & 0x7fff}
			v.Keyframe = v.S && op&0x40 == 0
			p := Packet{Layer: layer, ExtSeq: seq[layer], ExtTS: seq[layer] * 1000, SwitchPoint: v.Keyframe,
				PaddingOnly: op == 0x7f, VP8: &v}
			before, target := fw.Current(), fw.Target()
			res, err := fw.Push(now, &p)
			if fw.Current() != before && fw.Current() != -1 {
				if !p.SwitchPoint || p.Layer != target || !res.Switched {
					t.Fatalf("op %d: switched to %d at %+v", i, fw.Current(), p)
				}
			}
			if err != nil {
				continue
			}
			if p.Layer != fw.Current() {
				t.Fatalf("op %d: forwarded layer %d while current %d", i, p.Layer, fw.Current())
			}
			if seen[res.ExtSeq] {
				t.Fatalf("op %d: outgoing SN %d twice", i, res.ExtSeq)
			}
			seen[res.ExtSeq] = true
			if res.Switched && started {
				if int64(res.ExtSeq-maxSN) <= 0 || int64(res.ExtTS-maxTS) <= 0 {
					t.Fatalf("op %d: switch SN %d TS %d not above %d %d", i, res.ExtSeq, res.ExtTS, maxSN, maxTS)
				}
			}
			if res.Switched && started && res.PictureID != (maxPID+1)&0x7fff {
				t.Fatalf("op %d: switch picture ID %d after %d", i, res.PictureID, maxPID)
			}
			if d := (res.PictureID - maxPID) & 0x7fff; !started || d != 0 && d < 0x4000 {
				maxPID = res.PictureID
			}
			if !started || int64(res.ExtSeq-maxSN) > 0 {
				maxSN = res.ExtSeq
			}
			if !started || int64(res.ExtTS-maxTS) > 0 {
				maxTS = res.ExtTS
			}
			started = true
		}
	})
}
