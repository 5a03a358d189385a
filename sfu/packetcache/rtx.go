package packetcache

import (
	"fmt"
	"time"
)

// RTXConfig configures an RTX stream.
type RTXConfig struct {
	// MaxResends of one packet; default 3 (pion/interceptor#208, LiveKit).
	MaxResends int
	// MinInterval and MaxInterval clamp the interval between resends of
	// one packet, which is the receiver's RTT (a NACK repeated within an
	// RTT crossed the first resend); UnknownRTTInterval is used before
	// an RTT is known. Defaults 10 ms, 500 ms, 100 ms.
	MinInterval, MaxInterval, UnknownRTTInterval time.Duration
}

func (c RTXConfig) withDefaults() RTXConfig {
	if c.MaxResends == 0 {
		c.MaxResends = 3
	}
	if c.MinInterval == 0 {
		c.MinInterval = 10 * time.Millisecond
	}
	if c.MaxInterval == 0 {
		c.MaxInterval = 500 * time.Millisecond
	}
	if c.UnknownRTTInterval == 0 {
		c.UnknownRTTInterval = 100 * time.Millisecond
	}
	return c
}

// Validate reports whether c is usable after defaults. It changes nothing.
func (c RTXConfig) Validate() error {
	if c.MaxResends < 1 || c.MaxResends > 255 {
		return fmt.Errorf("%w: MaxResends %d not in [1, 255]", ErrConfig, c.MaxResends)
	}
	if c.MinInterval < 0 || c.MaxInterval < c.MinInterval || c.UnknownRTTInterval < 0 {
		return fmt.Errorf("%w: RTX intervals need 0 <= min <= max", ErrConfig)
	}
	return nil
}

// rtxTrackSize is how many recently resent packets an RTX remembers.
const rtxTrackSize = 256

type resend struct {
	ext   uint64
	at    time.Time
	count uint8
	valid bool
}

// RTXStats counts an RTX stream's work.
type RTXStats struct {
	Sent      uint64 // RTX packets built
	Bytes     uint64 // RTX payload bytes built
	Missed    uint64 // NACKs for packets not cached
	Throttled uint64 // NACKs within the interval of the last resend
	Exhausted uint64 // NACKs past MaxResends
}

// RTX is one receiver's RTX stream for one source (RFC 4588 §4): its own
// contiguous sequence numbers and a resend budget per packet. Not safe for
// concurrent use.
type RTX struct {
	cfg     RTXConfig
	seq     uint16
	resends [rtxTrackSize]resend
	stats   RTXStats
}

// NewRTX returns an RTX stream whose first packet has sequence number
// firstSeq (random, RFC 3550 §5.1).
func NewRTX(firstSeq uint16, cfg RTXConfig) (*RTX, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &RTX{cfg: cfg, seq: firstSeq}, nil
}

// Build answers a NACK of seq (the source's wire sequence number) at now:
// it writes the RTX payload into dst — osn, the sequence number the
// receiver knows the packet by (the munged one, or seq when nothing is
// munged), big-endian, then the cached payload — and returns its length,
// the RTX packet's sequence number and the original header fields (the RTX
// packet carries the original timestamp and marker). The caller writes the
// RTX header (RTX SSRC and payload type) and, for a receiver whose VP8
// fields were rewritten, rewrites them again in dst[2:].
//
// It returns ErrMiss, ErrThrottled (the packet went out less than
// clamp(rtt) ago; rtt 0 = unknown), ErrExhausted or ErrShortBuffer, and
// consumes no RTX sequence number then.
func (r *RTX) Build(now time.Time, rtt time.Duration, c *Cache, seq, osn uint16, dst []byte) (int, uint16, Meta, error) {
	payload, m, ok := c.Get(seq)
	if !ok {
		r.stats.Missed++
		return 0, 0, Meta{}, ErrMiss
	}
	if len(dst) < 2+len(payload) {
		return 0, 0, Meta{}, ErrShortBuffer
	}
	t := &r.resends[m.ExtSeq%rtxTrackSize]
	if !t.valid || t.ext != m.ExtSeq {
		*t = resend{ext: m.ExtSeq, valid: true}
	} else {
		if int(t.count) >= r.cfg.MaxResends {
			r.stats.Exhausted++
			return 0, 0, Meta{}, ErrExhausted
		}
		if now.Sub(t.at) < r.interval(rtt) {
			r.stats.Throttled++
			return 0, 0, Meta{}, ErrThrottled
		}
	}
	t.at = now
	t.count++
	dst[0], dst[1] = byte(osn>>8), byte(osn)
	n := 2 + copy(dst[2:], payload)
	s := r.seq
	r.seq++
	r.stats.Sent++
	r.stats.Bytes += uint64(n)
	return n, s, m, nil
}

func (r *RTX) interval(rtt time.Duration) time.Duration {
	if rtt <= 0 {
		return r.cfg.UnknownRTTInterval
	}
	return min(max(rtt, r.cfg.MinInterval), r.cfg.MaxInterval)
}

// Stats returns the counters.
func (r *RTX) Stats() RTXStats { return r.stats }
