package sfu

import (
	"slices"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/sfu/rtpmunger"
	"github.com/parleyhq/parley/voiceproto"
)

// forward fans one authenticated packet of p out to every other member,
// re-encrypted under each receiver's key, with the sender's SSRC and
// per-receiver munged sequence numbers and timestamps. Packets the SFU does
// not forward to a receiver (suppressed silence, server mute or deafen, a
// receiver without transport) are reported to that receiver's munger so the
// receiver still sees a contiguous stream.
func (p *Participant) forward(r *reader, members []*Participant, h *voiceproto.Header, payload []byte) {
	f := &p.fwd
	f.mu.Lock()
	defer f.mu.Unlock()
	if tamper := p.srv.cfg.TestTamper; tamper != nil { // a test hook (Config.TestTamper)
		payload = slices.Clone(payload)
		tamper(p.ssrc, payload)
	}
	extSN, extTS := f.unwrap.Unwrap(h.Seq, h.Timestamp)
	if f.switchSource {
		f.switchSource = false
		elapsed := rtpmunger.TicksFor(r.now.Sub(f.lastAt), 48000)
		for _, m := range f.downs {
			m.SwitchSource(extSN, extTS, elapsed)
		}
	}
	f.lastAt = r.now

	silent := len(payload) == len(dave.OpusSilence) && [3]byte(payload) == dave.OpusSilence
	talkspurt := h.Marker || !f.started
	if silent {
		f.silentRun++
	} else {
		if f.silentRun > 0 {
			talkspurt = true
		}
		f.silentRun = 0
	}
	f.started = true
	// A reason that holds for every receiver is decided once. With DAVE
	// on, only DAVE frames and the silence frame may pass: the SFU cannot
	// read them but checks their format (dave.md §7).
	e2ee := !silent && dave.IsProtocolFrame(payload)
	source := numDropReasons
	switch {
	case silent && f.silentRun > p.srv.cfg.TrailingSilence:
		source = DropSilence
	case p.serverMute.Load():
		source = DropMuted
	case p.room.dave.Load() && !silent && !e2ee:
		source = DropNotE2EE
	}
	if len(payload)+voiceproto.FixedHeaderLen > maxForwardPayload {
		// Too large to re-seal for some receiver: nobody gets it, and
		// every receiver's munger hears of it so no one sees a hole.
		source = DropTooLarge
	}

	for _, q := range members {
		if q == p {
			continue
		}
		m := f.downs[q]
		if m == nil {
			m = rtpmunger.New()
			f.downs[q] = m
		}
		reason := source
		qt := q.transport.Load()
		switch {
		case reason != numDropReasons:
		case q.serverDeaf.Load():
			reason = DropDeafened
		case e2ee && !q.daveCapable.Load():
			// A receiver that cannot decrypt DAVE frames (during a
			// downgrade transition) gets none.
			reason = DropE2EEToPlainReceiver
		case qt == nil || !(*qt).ready(q):
			reason = DropReceiverNotReady
		}
		if reason != numDropReasons {
			_ = m.Drop(extSN)
			r.ls.drops[reason]++
			continue
		}
		out, err := m.Forward(extSN, extTS, talkspurt)
		if err != nil {
			r.ls.drops[DropMunger]++
			continue
		}
		if reason := (*qt).send(r, q, out.Seq, out.TS, out.Marker && q.marker.Load(), p.ssrc, payload); reason != numDropReasons {
			m.Revert(extSN)
			r.ls.drops[reason]++
		}
	}
}

// maxForwardPayload bounds what forward re-seals: a slot less the largest
// transport overhead (tag 16 + suffix nonce 24) and some room to spare.
const maxForwardPayload = slotSize - 64
