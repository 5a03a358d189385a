package model

import (
	"strconv"
	"sync"
	"time"
)

// DiscordEpoch is the first millisecond of 2015 in Unix milliseconds.
const DiscordEpoch = 1420070400000

// Snowflake is a 64-bit id: (ms since DiscordEpoch) << 22 | worker << 17 |
// process << 12 | increment. On the wire it is always a JSON string.
type Snowflake uint64

// String returns the decimal form.
func (s Snowflake) String() string { return strconv.FormatUint(uint64(s), 10) }

// Time returns the creation time encoded in the id.
func (s Snowflake) Time() time.Time {
	return time.UnixMilli(int64(s>>22) + DiscordEpoch)
}

// MarshalJSON writes the id as a JSON string.
func (s Snowflake) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 22)
	b = append(b, '"')
	b = strconv.AppendUint(b, uint64(s), 10)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts a JSON string or number.
func (s *Snowflake) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = 0
		return nil
	}
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	v, err := ParseSnowflake(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSnowflake parses an id in its canonical form only: 1 to 20 decimal
// digits without a leading zero, non-zero, within 64 bits. So one id has
// one spelling, and whatever is keyed on a parsed id (rate limits, caches)
// cannot be given fresh keys by spelling the same id differently
// ("0001" for "1").
func ParseSnowflake(s string) (Snowflake, error) {
	if len(s) == 0 || len(s) > 20 || s[0] == '0' {
		return 0, ErrBadSnowflake
	}
	// ParseUint rejects the same strings, but allocates a *NumError (and
	// a copy of s) for each; ids come from clients, so non-digits are
	// refused here for free and ParseUint only fails on overflow.
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrBadSnowflake
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, ErrBadSnowflake
	}
	return Snowflake(v), nil
}

// SnowflakeAt returns the smallest id with timestamp t (for range queries).
func SnowflakeAt(t time.Time) Snowflake {
	ms := t.UnixMilli() - DiscordEpoch
	if ms < 0 {
		ms = 0
	}
	return Snowflake(uint64(ms) << 22)
}

// Generator issues unique, increasing snowflakes for one worker/process.
type Generator struct {
	mu     sync.Mutex
	node   uint64 // worker<<17 | process<<12
	lastMS int64  // guarded by mu
	inc    uint64 // guarded by mu
	now    func() time.Time
}

// NewGenerator returns a generator for worker and process (0-31 each).
func NewGenerator(worker, process uint8) *Generator {
	return &Generator{node: uint64(worker&31)<<17 | uint64(process&31)<<12, now: time.Now}
}

// Next returns a new id. Within one millisecond up to 4096 ids are issued;
// beyond that the generator borrows from the next millisecond so ids stay
// unique and increasing.
func (g *Generator) Next() Snowflake {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := g.now().UnixMilli() - DiscordEpoch
	if ms <= g.lastMS {
		g.inc++
		if g.inc > 0xfff {
			g.lastMS++
			g.inc = 0
		}
		ms = g.lastMS
	} else {
		g.lastMS = ms
		g.inc = 0
	}
	return Snowflake(uint64(ms)<<22 | g.node | g.inc)
}
