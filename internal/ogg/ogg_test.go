package ogg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"path/filepath"
	"testing"
)

func TestCRCCheckValue(t *testing.T) {
	// CRC-32 with polynomial 0x04c11db7, init 0, no reflection, no final
	// XOR: the check value of "123456789" is 0x89a1897f.
	if got := crcUpdate(0, []byte("123456789")); got != 0x89a1897f {
		t.Fatalf("crc = %#x", got)
	}
}

func sized(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		perPage int
		packets [][]byte
	}{
		{"empty stream", 1, nil},
		{"synthetic one per page", 1, SyntheticOpus(100, 1)},
		{"synthetic 50 per page", 50, SyntheticOpus(120, 2)},
		{"lacing edge sizes", 1, [][]byte{{0xF8}, sized(254, 0xFC), sized(255, 0xFC), sized(256, 0xFC), sized(510, 0xFC), {}}},
		{"packet spanning pages", 1, [][]byte{sized(70000, 0x78), {0xF8, 0xFF, 0xFE}, sized(255*255, 0x79), sized(255*255-1, 0x7A)}},
		{"many small packets fill a page", 1000, func() [][]byte {
			var p [][]byte
			for i := range 600 {
				p = append(p, []byte{0xFC, byte(i)})
			}
			return p
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, WriterOptions{PacketsPerPage: tt.perPage, Serial: 7})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tt.packets {
				if err := w.WritePacket(p); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r := NewReader(bytes.NewReader(buf.Bytes()))
			h, err := r.Head()
			if err != nil {
				t.Fatal(err)
			}
			if h != DefaultHead {
				t.Fatalf("head = %+v", h)
			}
			var got [][]byte
			for {
				p, err := r.ReadPacket()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("packet %d: %v", len(got), err)
				}
				got = append(got, p)
			}
			if len(got) != len(tt.packets) {
				t.Fatalf("got %d packets, want %d", len(got), len(tt.packets))
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.packets[i]) {
					t.Fatalf("packet %d differs: %d vs %d bytes", i, len(got[i]), len(tt.packets[i]))
				}
			}
			if r.Granule() != w.Granule() {
				t.Fatalf("final granule %d, writer %d", r.Granule(), w.Granule())
			}
		})
	}
}

func TestGranuleAdvances960(t *testing.T) {
	frames := SyntheticOpus(10, 3)
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, WriterOptions{})
	for i, f := range frames {
		_ = w.WritePacket(f)
		if w.Granule() != int64(960*(i+1)) {
			t.Fatalf("granule after %d = %d", i+1, w.Granule())
		}
	}
	_ = w.Close()
	// Walk the pages: headers at granule 0, then 960 per page.
	b := buf.Bytes()
	var granules []int64
	for len(b) >= 27 {
		granules = append(granules, int64(binary.LittleEndian.Uint64(b[6:])))
		n := int(b[26])
		size := 27 + n
		for _, v := range b[27 : 27+n] {
			size += int(v)
		}
		b = b[size:]
	}
	want := []int64{0, 0, 960, 1920, 2880, 3840, 4800, 5760, 6720, 7680, 8640, 9600, 9600}
	if len(granules) != len(want) {
		t.Fatalf("granules %v", granules)
	}
	for i := range want {
		if granules[i] != want[i] {
			t.Fatalf("granules %v, want %v", granules, want)
		}
	}
}

func TestPacketSamples(t *testing.T) {
	tests := []struct {
		p    []byte
		want int
	}{
		{nil, 0},
		{Silence, 960},
		{[]byte{9<<3 | 4}, 960},      // SILK WB 20 ms
		{[]byte{15<<3 | 4}, 960},     // Hybrid FB 20 ms
		{[]byte{11<<3 | 0}, 2880},    // SILK 60 ms
		{[]byte{16<<3 | 1}, 240},     // CELT 2.5 ms, two frames
		{[]byte{31<<3 | 3, 3}, 2880}, // three 20 ms frames
		{[]byte{31<<3 | 3, 7}, 0},    // 140 ms: invalid
		{[]byte{31<<3 | 3}, 0},       // code 3 without count
	}
	for _, tt := range tests {
		if got := PacketSamples(tt.p); got != tt.want {
			t.Errorf("PacketSamples(% x) = %d, want %d", tt.p, got, tt.want)
		}
	}
}

func TestSyntheticOpus(t *testing.T) {
	a, b := SyntheticOpus(200, 42), SyntheticOpus(200, 42)
	c := SyntheticOpus(200, 43)
	same := 0
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatal("not deterministic")
		}
		if bytes.Equal(a[i], c[i]) {
			same++
		}
		if n := len(a[i]) - 1; n < 20 || n > 120 {
			t.Fatalf("body %d bytes", n)
		}
		if PacketSamples(a[i]) != 960 || a[i][0]&4 == 0 {
			t.Fatalf("TOC %#x is not 20 ms stereo", a[i][0])
		}
		if IsSilence(a[i]) {
			t.Fatal("synthetic frame equals silence")
		}
	}
	if same > 0 {
		t.Fatalf("%d frames equal across seeds", same)
	}
}

func validStream(t testing.TB) []byte {
	var buf bytes.Buffer
	if err := Write(&buf, SyntheticOpus(20, 9)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReaderErrors(t *testing.T) {
	good := validStream(t)
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	notOpus := func() []byte {
		var buf bytes.Buffer
		w, _ := NewWriter(&buf, WriterOptions{})
		buf.Reset() // drop the headers, keep the writer's page numbering
		_ = w.WritePacket([]byte("OpusHeaX not a head"))
		_ = w.Close()
		return buf.Bytes()
	}()
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"bad capture", mutate(func(b []byte) []byte { b[0] = 'X'; return b }), ErrCapture},
		{"bad version", mutate(func(b []byte) []byte { b[4] = 1; return b }), ErrVersion},
		{"bad crc", mutate(func(b []byte) []byte { b[len(b)-30] ^= 1; return b }), ErrCRC},
		{"truncated body", good[:len(good)-5], ErrTruncated},
		{"truncated header", good[:10], ErrTruncated},
		{"not opus", notOpus, ErrNotOpus},
		{"short head", func() []byte {
			var buf bytes.Buffer
			w := &Writer{w: &buf, serial: 1, perPage: 1}
			_ = w.writePage(flagBOS, 0, []byte{10}, []byte("OpusHead12"))
			return buf.Bytes()
		}(), ErrBadHead},
		{"continued first page", mutate(func(b []byte) []byte {
			b[5] |= flagContinued
			binary.LittleEndian.PutUint32(b[22:], 0)
			n := 27 + int(b[26]) + 19
			binary.LittleEndian.PutUint32(b[22:], crcUpdate(0, b[:n]))
			return b
		}), ErrContinuation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadAll(bytes.NewReader(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestOtherStreamsSkipped(t *testing.T) {
	var a, b bytes.Buffer
	wa, _ := NewWriter(&a, WriterOptions{Serial: 1})
	wb, _ := NewWriter(&b, WriterOptions{Serial: 2})
	frames := SyntheticOpus(5, 5)
	for _, f := range frames {
		_ = wa.WritePacket(f)
		_ = wb.WritePacket(f)
	}
	_ = wa.Close()
	_ = wb.Close()
	// Stream 2's pages after all of stream 1's BOS: interleave page-wise by
	// appending stream 2 wholesale at the end; the reader stops at EOS of
	// stream 1 anyway, so put stream 2 pages first after stream 1's head.
	mixed := append(append([]byte(nil), a.Bytes()[:pageLen(a.Bytes())]...), b.Bytes()...)
	mixed = append(mixed, a.Bytes()[pageLen(a.Bytes()):]...)
	r := NewReader(bytes.NewReader(mixed))
	var got int
	for {
		_, err := r.ReadPacket()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got++
	}
	if got != len(frames) || r.SkippedPages() == 0 {
		t.Fatalf("got %d packets, skipped %d pages", got, r.SkippedPages())
	}
}

func pageLen(b []byte) int {
	n := int(b[26])
	size := 27 + n
	for _, v := range b[27 : 27+n] {
		size += int(v)
	}
	return size
}

func TestWriteReadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.ogg")
	frames := SyntheticOpus(50, 11)
	if err := WriteFile(p, frames); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(frames) {
		t.Fatalf("%d frames", len(got))
	}
}

func TestWriteAfterClose(t *testing.T) {
	w, _ := NewWriter(io.Discard, WriterOptions{})
	_ = w.Close()
	if err := w.WritePacket(Silence); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v", err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add(validStream(f))
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, WriterOptions{})
	_ = w.WritePacket(sized(600, 0xFC))
	_ = w.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("OggS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b))
		for range 10000 {
			p, err := r.ReadPacket()
			if err != nil {
				return
			}
			if len(p) > MaxPacketSize {
				t.Fatalf("packet of %d bytes", len(p))
			}
		}
	})
}

func BenchmarkReader(b *testing.B) {
	var buf bytes.Buffer
	_ = Write(&buf, SyntheticOpus(500, 1))
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ReadAll(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriter(b *testing.B) {
	frames := SyntheticOpus(500, 1)
	for b.Loop() {
		if err := Write(io.Discard, frames); err != nil {
			b.Fatal(err)
		}
	}
}
