package model

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestSnowflake(t *testing.T) {
	g := NewGenerator(3, 4)
	at := time.UnixMilli(1_700_000_000_000)
	g.now = func() time.Time { return at }
	a, b := g.Next(), g.Next()
	if b <= a || !a.Time().Equal(at) {
		t.Fatalf("a=%d b=%d time=%v", a, b, a.Time())
	}
	if node := (uint64(a) >> 12) & 0x3ff; node != 3<<5|4 {
		t.Fatalf("worker/process bits %b", node)
	}
	// 5000 ids in one millisecond stay unique and increasing.
	prev := b
	for range 5000 {
		n := g.Next()
		if n <= prev {
			t.Fatalf("not increasing: %d after %d", n, prev)
		}
		prev = n
	}
	js, _ := json.Marshal(a)
	if string(js) != `"`+a.String()+`"` {
		t.Fatalf("json %s", js)
	}
	tests := []struct {
		in   string
		want Snowflake
		err  bool
	}{
		{`"123"`, 123, false}, {`123`, 123, false}, {`null`, 0, false}, {`"abc"`, 0, true}, {`"0"`, 0, true}, {`"-1"`, 0, true},
		// Only the canonical spelling: one id, one key.
		{`"0123"`, 0, true}, {`"00000000000000000000123"`, 0, true}, {`"+123"`, 0, true}, {`" 123"`, 0, true},
		{`"18446744073709551615"`, 18446744073709551615, false}, {`"18446744073709551616"`, 0, true}, {`""`, 0, true},
	}
	for _, tc := range tests {
		var s Snowflake
		err := json.Unmarshal([]byte(tc.in), &s)
		if (err != nil) != tc.err || (!tc.err && s != tc.want) {
			t.Errorf("%s: %d %v", tc.in, s, err)
		}
		if tc.err && !errors.Is(err, ErrBadSnowflake) {
			t.Errorf("%s: error %v is not ErrBadSnowflake", tc.in, err)
		}
	}
}

func FuzzParseSnowflake(f *testing.F) {
	for _, s := range []string{"1", "175928847299117063", "", "-1", "18446744073709551616", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSnowflake(s)
		if err == nil && (v == 0 || v.String() != s) {
			t.Fatalf("accepted %q as %d: not its canonical form", s, v)
		}
		var x Snowflake
		_ = x.UnmarshalJSON([]byte(s))
	})
}

func BenchmarkGeneratorNext(b *testing.B) {
	g := NewGenerator(0, 0)
	for b.Loop() {
		g.Next()
	}
}
