package packetcache

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/parleyhq/parley/sfu/rtpmunger"
)

func payloadFor(ext uint64) []byte {
	return bytes.Repeat([]byte{byte(ext), byte(ext >> 8)}, 1+int(ext%300))
}

func newCache(t testing.TB, cfg Config) *Cache {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfig(t *testing.T) {
	for _, cfg := range []Config{{Size: 100}, {Size: 8}, {Size: 1 << 16}, {MaxPayload: -1}} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	for _, cfg := range []RTXConfig{{MaxResends: -1}, {MaxResends: 300}, {MinInterval: time.Second}} {
		if _, err := NewRTX(0, cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

func TestCache(t *testing.T) {
	c := newCache(t, Config{Size: 16, MaxPayload: 700})
	if _, _, ok := c.Get(1); ok {
		t.Fatal("hit in an empty cache")
	}
	var u rtpmunger.Unwrapper
	// Sequence numbers wrap at 65535 during the test.
	seq := uint16(65530)
	for i := range 40 {
		ext, _ := u.Unwrap(seq, uint32(i*3000))
		if err := c.Insert(Meta{ExtSeq: ext, TS: uint32(i * 3000), Marker: i%3 == 0}, payloadFor(ext)); err != nil {
			t.Fatal(err)
		}
		seq++
	}
	hi, _ := c.Highest()
	for back := range uint64(20) {
		ext := hi - back
		p, m, ok := c.Get(uint16(ext))
		if want := back < 16; ok != want {
			t.Fatalf("%d back: hit %v", back, ok)
		}
		if ok && (m.ExtSeq != ext || !bytes.Equal(p, payloadFor(ext))) {
			t.Fatalf("%d back: wrong packet %+v", back, m)
		}
	}
	if _, _, ok := c.Get(uint16(hi + 1)); ok {
		t.Fatal("hit for a future packet")
	}
	// Late packet within the window fills its slot; too old is refused.
	if err := c.Insert(Meta{ExtSeq: hi - 20}, []byte{1}); !errors.Is(err, ErrTooOld) {
		t.Fatal(err)
	}
	if err := c.Insert(Meta{ExtSeq: hi + 1}, make([]byte, 701)); !errors.Is(err, ErrTooLarge) {
		t.Fatal(err)
	}
	// A gap (lost packets) forgets the slots it skips.
	if err := c.Insert(Meta{ExtSeq: hi + 5}, []byte{5}); err != nil {
		t.Fatal(err)
	}
	for ext := hi + 1; ext < hi+5; ext++ {
		if _, _, ok := c.Get(uint16(ext)); ok {
			t.Fatalf("hit for lost %d", ext)
		}
	}
	if err := c.Insert(Meta{ExtSeq: hi + 3}, []byte{3}); err != nil {
		t.Fatal(err)
	}
	if p, _, ok := c.Get(uint16(hi + 3)); !ok || p[0] != 3 {
		t.Fatal("late packet not cached")
	}
	// A jump beyond the window empties the cache.
	if err := c.Insert(Meta{ExtSeq: hi + 100}, []byte{9}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := c.Get(uint16(hi + 3)); ok {
		t.Fatal("stale hit after a jump")
	}
}

// TestCacheModel: random inserts (loss, reordering, duplicates) against a
// map: every hit is the packet inserted under that SN, within the window.
func TestCacheModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := newCache(t, Config{Size: 64, MaxPayload: 700})
	model := map[uint64][]byte{}
	ext := uint64(1<<16 + 65500)
	for range 20000 {
		switch r := rng.IntN(10); {
		case r == 0:
			ext += uint64(rng.IntN(100)) // loss
		case r == 1 && ext > 70:
			ext -= uint64(rng.IntN(70)) // late
		default:
			ext++
		}
		p := payloadFor(ext)
		if c.Insert(Meta{ExtSeq: ext}, p) == nil {
			model[ext] = p
		}
		q := ext - uint64(rng.IntN(80))
		got, m, ok := c.Get(uint16(q))
		hi, _ := c.Highest()
		if ok && (m.ExtSeq != q || !bytes.Equal(got, model[q]) || hi-q >= 64) {
			t.Fatalf("Get(%d): %+v", q, m)
		}
	}
}

func TestRTX(t *testing.T) {
	t0 := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	c := newCache(t, Config{Size: 16})
	for ext := uint64(1<<16 + 100); ext < 1<<16+110; ext++ {
		_ = c.Insert(Meta{ExtSeq: ext, TS: uint32(ext) * 10, Marker: ext%2 == 0}, payloadFor(ext))
	}
	r, err := NewRTX(65535, RTXConfig{})
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 1500)
	steps := []struct {
		at       time.Duration
		rtt      time.Duration
		seq, osn uint16
		err      error
		rtxSeq   uint16
	}{
		{0, 50 * time.Millisecond, 105, 7005, nil, 65535},
		{10 * time.Millisecond, 50 * time.Millisecond, 105, 7005, ErrThrottled, 0},
		{10 * time.Millisecond, 50 * time.Millisecond, 106, 7006, nil, 0}, // RTX seq wraps
		{60 * time.Millisecond, 50 * time.Millisecond, 105, 7005, nil, 1},
		{70 * time.Millisecond, 0, 105, 7005, ErrThrottled, 0}, // unknown RTT: 100 ms
		{160 * time.Millisecond, 0, 105, 7005, nil, 2},
		{900 * time.Millisecond, 0, 105, 7005, ErrExhausted, 0},
		{0, 0, 99, 99, ErrMiss, 0},
		{0, 0, 110, 110, ErrMiss, 0},
	}
	for i, s := range steps {
		n, rtxSeq, m, err := r.Build(t0.Add(s.at), s.rtt, c, s.seq, s.osn, dst)
		if !errors.Is(err, s.err) {
			t.Fatalf("step %d: err %v, want %v", i, err, s.err)
		}
		if err != nil {
			continue
		}
		ext := uint64(1<<16) + uint64(s.seq)
		want := append([]byte{byte(s.osn >> 8), byte(s.osn)}, payloadFor(ext)...)
		if rtxSeq != s.rtxSeq || !bytes.Equal(dst[:n], want) || m.TS != uint32(ext)*10 || m.Marker != (ext%2 == 0) {
			t.Fatalf("step %d: rtx seq %d, meta %+v, payload % x", i, rtxSeq, m, dst[:min(n, 8)])
		}
	}
	if _, _, _, err := r.Build(t0, 0, c, 107, 107, dst[:10]); !errors.Is(err, ErrShortBuffer) {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Sent != 4 || st.Throttled != 2 || st.Exhausted != 1 || st.Missed != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func BenchmarkInsert(b *testing.B) {
	c := newCache(b, Config{})
	p := make([]byte, 1200)
	ext := uint64(1 << 16)
	b.ReportAllocs()
	for b.Loop() {
		ext++
		if err := c.Insert(Meta{ExtSeq: ext}, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuild: one packet inserted and one RTX built per op (5% loss
// answered at once would be one build per 20 inserts; this is the worst).
func BenchmarkBuild(b *testing.B) {
	c := newCache(b, Config{})
	r, _ := NewRTX(0, RTXConfig{})
	p := make([]byte, 1200)
	dst := make([]byte, 1500)
	now := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	ext := uint64(1 << 16)
	b.ReportAllocs()
	for b.Loop() {
		ext++
		_ = c.Insert(Meta{ExtSeq: ext}, p)
		if _, _, _, err := r.Build(now, 0, c, uint16(ext-10), uint16(ext-10), dst); err != nil && ext > 1<<16+10 {
			b.Fatal(err)
		}
	}
}
