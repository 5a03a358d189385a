package sfu

import (
	"github.com/parleyhq/parley/sfu/packetcache"
	"github.com/parleyhq/parley/sfu/simulcast"
	"github.com/parleyhq/parley/sfu/videocodec"
	"github.com/parleyhq/parley/voiceproto"
)

// sendVideo seals one forwarded video packet for native receiver q into
// the reader's batch: the header from res on the sender's stable outgoing
// SSRC, the payload with its VP8 picture ID, TL0PICIDX and key index
// rewritten as res says (in the receiver's copy only). It returns
// numDropReasons when queued, or why it was dropped.
func (t *udpTransport) sendVideo(r *reader, q *Participant, vp *videoPacket, res *simulcast.Result) DropReason {
	to := q.addr.Load()
	if to == nil {
		return DropReceiverNotReady
	}
	nonce, ok := t.next()
	if !ok {
		return DropNonceSpace
	}
	b := r.udp.slot()[:voiceproto.FixedHeaderLen]
	voiceproto.PutFixedHeader(b, res.Marker, vp.pt, res.Seq, res.TS, vp.outSSRC)
	b = append(b, vp.payload...)
	if res.VP8 {
		v := vp.vp8 // Rewrite updates its receiver; the parse is shared
		if err := v.Rewrite(b[voiceproto.FixedHeaderLen:], res.PictureID, res.TL0PICIDX, res.KeyIdx); err != nil {
			return DropMalformed
		}
	}
	sealed, err := t.cipher.Seal(b[:0], b, nonce)
	if err != nil {
		return DropSendError
	}
	q.bwe.sent.Add(uint64(len(sealed)))
	r.udp.commit(sealed, to)
	return numDropReasons
}

// sendRTX answers receiver q's NACK of outgoing SN osn (entry e of its
// sent map) with an RTX packet (RFC 4588) built from the source cache c:
// the RTX SSRC and payload type (the media type + 1), the forwarded
// timestamp and marker, the original SN osn, the payload with its VP8
// fields rewritten as when it was forwarded. It returns the RTX build
// error (packetcache.ErrMiss, ErrThrottled, ErrExhausted) or a DropReason.
func (t *udpTransport) sendRTX(r *reader, q *Participant, rtx *packetcache.RTX, c *packetcache.Cache, e *sentEntry, osn uint16, rtxSSRC uint32) (DropReason, error) {
	to := q.addr.Load()
	if to == nil {
		return DropReceiverNotReady, nil
	}
	b := r.udp.slot()
	room := cap(b) - voiceproto.FixedHeaderLen - t.cipher.Overhead()
	n, seq, meta, err := rtx.Build(r.now, 0, c, e.srcSeq, osn, b[voiceproto.FixedHeaderLen:voiceproto.FixedHeaderLen+room])
	if err != nil {
		return numDropReasons, err
	}
	b = b[:voiceproto.FixedHeaderLen+n]
	if e.vp8 {
		orig := b[voiceproto.FixedHeaderLen+2:]
		v, err := videocodec.ParseVP8(orig)
		if err != nil || v.Rewrite(orig, e.pid, e.tl0, e.keyIdx) != nil {
			return DropMalformed, nil
		}
	}
	nonce, ok := t.next()
	if !ok {
		return DropNonceSpace, nil
	}
	voiceproto.PutFixedHeader(b, meta.Marker, e.pt+1, seq, e.ts, rtxSSRC)
	sealed, err := t.cipher.Seal(b[:0], b, nonce)
	if err != nil {
		return DropSendError, nil
	}
	q.bwe.sent.Add(uint64(len(sealed)))
	r.udp.commit(sealed, to)
	return numDropReasons, nil
}

// sendRTCP seals a clear RTCP compound packet for participant q into the
// reader's batch.
func (t *udpTransport) sendRTCP(r *reader, q *Participant, plain []byte) bool {
	to := q.addr.Load()
	if to == nil || len(plain)+t.cipher.Overhead() > slotSize {
		return false
	}
	nonce, ok := t.next()
	if !ok {
		return false
	}
	b := append(r.udp.slot(), plain...)
	sealed, err := t.cipher.SealRTCP(b[:0], b, nonce)
	if err != nil {
		return false
	}
	r.udp.commit(sealed, to)
	return true
}
