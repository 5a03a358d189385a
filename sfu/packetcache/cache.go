package packetcache

import "fmt"

// Config sizes a Cache.
type Config struct {
	// Size is the number of packets kept, a power of two from 16 to 32768;
	// default 512 (about 3 s of 1.5 Mb/s video).
	Size int
	// MaxPayload is the largest RTP payload cached, in bytes; default 1400.
	MaxPayload int
}

func (c Config) withDefaults() Config {
	if c.Size == 0 {
		c.Size = 512
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = 1400
	}
	return c
}

// Validate reports whether c is usable after defaults. It changes nothing.
func (c Config) Validate() error {
	if c.Size < 16 || c.Size > 1<<15 || c.Size&(c.Size-1) != 0 {
		return fmt.Errorf("%w: Size %d is not a power of two in [16, 32768]", ErrConfig, c.Size)
	}
	if c.MaxPayload < 1 || c.MaxPayload > 1<<16 {
		return fmt.Errorf("%w: MaxPayload %d not in [1, 65536]", ErrConfig, c.MaxPayload)
	}
	return nil
}

// Meta is what a Cache keeps of a packet's header.
type Meta struct {
	ExtSeq uint64 // extended sequence number (rtpmunger.Unwrapper)
	TS     uint32
	Marker bool
}

type slot struct {
	meta  Meta
	n     int // payload length
	valid bool
}

// Cache keeps the last Size packets of one source. Not safe for
// concurrent use.
type Cache struct {
	cfg     Config
	mask    uint64
	buf     []byte // Size × MaxPayload
	slots   []slot
	highest uint64
	started bool
}

// New returns a Cache with all its memory allocated.
func New(cfg Config) (*Cache, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Cache{
		cfg:   cfg,
		mask:  uint64(cfg.Size - 1),
		buf:   make([]byte, cfg.Size*cfg.MaxPayload),
		slots: make([]slot, cfg.Size),
	}, nil
}

// Insert copies the packet's payload into its slot, evicting the packet
// Size sequence numbers older. A late packet is stored if it is within the
// window (ErrTooOld otherwise); a payload above MaxPayload is not stored
// (ErrTooLarge).
func (c *Cache) Insert(m Meta, payload []byte) error {
	if len(payload) > c.cfg.MaxPayload {
		return ErrTooLarge
	}
	switch {
	case !c.started:
		c.started, c.highest = true, m.ExtSeq
	case int64(m.ExtSeq-c.highest) > 0:
		if m.ExtSeq-c.highest >= uint64(c.cfg.Size) {
			for i := range c.slots {
				c.slots[i].valid = false
			}
		} else {
			for sn := c.highest + 1; sn < m.ExtSeq; sn++ {
				c.slots[sn&c.mask].valid = false // lost: forget what was there
			}
		}
		c.highest = m.ExtSeq
	case c.highest-m.ExtSeq >= uint64(c.cfg.Size):
		return ErrTooOld
	}
	i := m.ExtSeq & c.mask
	off := int(i) * c.cfg.MaxPayload
	c.slots[i] = slot{meta: m, n: copy(c.buf[off:off+c.cfg.MaxPayload], payload), valid: true}
	return nil
}

// Get returns the cached packet with wire sequence number seq (as a NACK
// names it), unwrapped against the newest packet. The payload aliases the
// cache: use it before the next Insert.
func (c *Cache) Get(seq uint16) ([]byte, Meta, bool) {
	if !c.started {
		return nil, Meta{}, false
	}
	d := int16(seq - uint16(c.highest))
	ext := c.highest + uint64(int64(d))
	if d > 0 || c.highest-ext >= uint64(c.cfg.Size) {
		return nil, Meta{}, false
	}
	i := ext & c.mask
	s := &c.slots[i]
	if !s.valid || s.meta.ExtSeq != ext {
		return nil, Meta{}, false
	}
	off := int(i) * c.cfg.MaxPayload
	return c.buf[off : off+s.n], s.meta, true
}

// Highest returns the newest extended sequence number inserted.
func (c *Cache) Highest() (uint64, bool) { return c.highest, c.started }
