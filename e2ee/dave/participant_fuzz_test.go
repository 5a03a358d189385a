package dave

import (
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"
)

// FuzzParticipant drives a real participant (b, in a group a
// ServerSession made with a) through a third member's join with the
// gateway's real messages to it mutated as the input says: bytes flipped,
// truncated, grown, dropped, repeated, the Welcome for someone else
// delivered, JSON ops with any fields. b must not panic, its media side
// must still work, and with no mutation it ends in a's epoch.
//
// The input is read 4 bytes per message to b: action, u16 BE position,
// value (an exhausted input passes the rest unchanged).
func FuzzParticipant(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 9, 0x55, 0, 0, 0, 0, 1, 0, 40, 1})
	f.Add([]byte{2, 0, 3, 0, 2, 0, 60, 0, 2, 0, 0, 0})
	f.Add([]byte{3, 0, 50, 0xff, 4, 0, 0, 0, 5, 0, 0, 0})
	f.Add([]byte{6, 0, 0, 0, 6, 0, 0, 0, 6, 0, 0, 0})
	f.Add([]byte{7, 0, 1, 29, 7, 0, 2, 30, 1, 0, 12, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 400 {
			return
		}
		ss := newServer(t)
		a, b, c := newMember(t, 1), newMember(t, 2), newMember(t, 3)
		a.announced, b.announced, c.announced = []uint64{2, 3}, []uint64{1, 3}, []uint64{1, 2}
		createGroup(t, ss, a, b)
		mutated := false
		var welcome BinaryMessage
		toB := func(s Send) {
			act, pos, val := byte(0), 0, byte(0)
			if len(data) >= 4 {
				act, pos, val = data[0]%8, int(binary.BigEndian.Uint16(data[1:])), data[3]
				data = data[4:]
			}
			var raw []byte
			bm, binMsg := s.Msg.(BinaryMessage)
			if binMsg {
				raw, _ = AppendServerFrame(nil, 1, bm)
			} else {
				raw, _ = json.Marshal(s.Msg)
			}
			n := 1
			switch act {
			case 1: // flip a byte
				raw[pos%len(raw)] ^= val | 1
			case 2: // truncate
				raw = raw[:pos%len(raw)]
			case 3: // grow
				raw = append(raw, make([]byte, pos%4096)...)
			case 4: // drop
				n = 0
			case 5: // twice
				n = 2
			case 6: // the Welcome for c instead
				if welcome != nil {
					raw, _ = AppendServerFrame(nil, 1, welcome)
					binMsg = true
				}
			case 7: // another opcode
				if binMsg {
					raw[2] = val
				} else {
					raw = []byte(`{"transition_id":` + string(rune('0'+val%10)) + `,"protocol_version":` + string(rune('0'+val%8)) + `,"epoch":1}`)
				}
			}
			mutated = mutated || act != 0
			for range n {
				if binMsg {
					if _, m, err := DecodeServerFrame(raw); err == nil {
						out, _ := b.p.HandleBinary(m)
						b.queue(out)
					}
					continue
				}
				out, _, _ := b.p.HandleJSON(s.Msg.Opcode(), raw)
				b.queue(out)
			}
			_ = b.p.State()
		}
		// route delivers the gateway's sends: a and c as they are, b mutated.
		route := func(sends []Send) {
			for _, s := range sends {
				if s.User == 3 {
					if w, ok := s.Msg.(WelcomeMessage); ok {
						welcome = w
					}
				}
				if s.User == 2 {
					toB(s)
					continue
				}
				deliver(t, []Send{s}, a, c)
			}
		}
		// feed passes a member's messages to the gateway (b's may be refused).
		feed := func(m *member) {
			for len(m.out) > 0 {
				sends, err := ss.Handle(time.Now(), m.user, m.next())
				if err == nil {
					route(sends)
				}
			}
		}
		v, sends := ss.Join(time.Now(), 3, 1)
		out, _ := c.p.SessionDescription(v)
		c.queue(out)
		route(sends)
		for range 4 {
			feed(c)
			feed(a)
			feed(b)
		}
		// The media side still works.
		if _, _, err := b.fs.Encrypt(nil, CodecOpus, []byte("after the storm"), false); err != nil {
			t.Fatal(err)
		}
		b.fs.Decrypt(1, []byte("plain"), func([]byte, bool) {})
		if !mutated {
			if sa, sb := a.p.State(), b.p.State(); sa.Epoch != sb.Epoch || sa.PrivacyCode != sb.PrivacyCode || len(sb.Members) != 3 {
				t.Fatalf("unmutated: a %+v, b %+v", sa, sb)
			}
		}
	})
}
