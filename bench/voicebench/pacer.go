package voicebench

import (
	"encoding/binary"
	"time"

	"github.com/parleyhq/parley/sfu/voicecrypto"
)

// pace sends every speaker's packets until stopPacer is set. Speaker i of K
// sends at start + n·20ms + i·20ms/K, so the offered load is spread evenly
// over the frame interval; the pacer wakes every PaceQuantum (or at the next
// due packet, if later) and sends whatever is due. It runs on a locked
// thread with precise sleeps.
func (r *run) pace() {
	pinThread()
	speakers := r.speakers
	k := len(speakers)
	if k == 0 {
		return
	}
	for i, p := range speakers {
		p.phase = time.Duration(int64(FrameInterval) * int64(i) / int64(k))
	}
	quantum := r.cfg.PaceQuantum
	size := uint64(r.cfg.Size - 1)
	buf := make([]byte, rxBufSize)
	next, frame := 0, 0
	due := func() time.Duration { return time.Duration(frame)*FrameInterval + speakers[next].phase }
	var sent, sentWin, late, sendErr uint64
	for !r.stopPacer.Load() {
		now := time.Since(r.start)
		for due() <= now {
			p := speakers[next]
			if now-due() > time.Millisecond {
				late++
			}
			sendNS := time.Now().UnixNano()
			if err := r.sendOne(p, buf, sendNS); err != nil {
				sendErr++
			} else {
				sent++
				if sendNS >= r.winStart && sendNS < r.winEnd {
					sentWin++
					r.secExpected[(sendNS-r.winStart)/int64(time.Second)].Add(size)
				}
			}
			if next++; next == k {
				next, frame = 0, frame+1
			}
		}
		r.sent.Store(sent)
		r.sentWin.Store(sentWin)
		r.expectedWin.Store(sentWin * size)
		r.lateSends.Store(late)
		r.sendErrs.Store(sendErr)
		wake := max(due(), now+quantum)
		sleepPrecise(wake - time.Since(r.start))
	}
}

// sendOne builds, seals and sends p's next packet stamped with sendNS.
func (r *run) sendOne(p *participant, buf []byte, sendNS int64) error {
	n := voicecrypto.FixedHeaderLen + r.cfg.PayloadSize
	b := buf[:n]
	b[0] = 0x80
	b[1] = voicecrypto.PayloadTypeOpus
	binary.BigEndian.PutUint16(b[2:4], p.seq)
	binary.BigEndian.PutUint32(b[4:8], p.ts)
	binary.BigEndian.PutUint32(b[8:12], p.ssrc)
	putPayload(b[voicecrypto.FixedHeaderLen:], sendNS, uint32(p.idx))
	// A big-endian counter from 1, as discordjs: never in the server's
	// nonce space (voice-protocol.md §3.4).
	p.nonce++
	var nonce [4]byte
	binary.BigEndian.PutUint32(nonce[:], p.nonce)
	sealed, err := p.cipher.Seal(b[:0], b, nonce)
	if err != nil {
		return err
	}
	p.seq++
	p.ts += 960
	return p.sock.send(sealed)
}
