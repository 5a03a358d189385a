package voiceclient

import (
	"bytes"
	"encoding/binary"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceproto"
)

// TestDAVEMediaPathNotBlockedByMLS: while the participant is busy with MLS
// work (its lock held, as the gateway reader holds it through
// ProcessCommit, CreateCommit or JoinFromWelcome, which take
// milliseconds), the sender encrypts and sends and the UDP reader decrypts
// and delivers: both return while the lock is still held, so neither
// waits for it. The sends' time is logged and bounded at 5 ms (target:
// well under 1 ms).
func TestDAVEMediaPathNotBlockedByMLS(t *testing.T) {
	c, ciph := benchConn(t, voiceproto.ModeAES256GCMRTPSize)
	got := make(chan []byte, 1)
	c.cfg.OnFrame = func(f Frame) { got <- bytes.Clone(f.Opus) }
	c.cfg.UserID, c.cfg.ChannelID = "1", "13"
	d, err := newDAVESession(c)
	if err != nil {
		t.Fatal(err)
	}
	c.dave = d
	c.announce("2", 7)
	own, theirs := bytes.Repeat([]byte{1}, dave.KeySize), bytes.Repeat([]byte{2}, dave.KeySize)
	d.frames.SetProtocolVersion(1)
	d.frames.SetSenderKey(own)
	d.frames.SetReceiverKey(2, theirs, false)

	// A frame from user 2, DAVE-encrypted under its key, in an RTP packet.
	r, err := dave.NewKeyRatchet(theirs)
	if err != nil {
		t.Fatal(err)
	}
	enc := dave.NewEncryptor()
	enc.SetKeyRatchet(r)
	opus := []byte("opus from 2")
	frame, err := enc.Encrypt(nil, opus)
	if err != nil {
		t.Fatal(err)
	}
	rtp := make([]byte, 12, 12+len(frame))
	rtp[0], rtp[1] = 0x80, 0x78
	binary.BigEndian.PutUint32(rtp[8:], 7)
	pkt, err := ciph.Seal(nil, append(rtp, frame...), [4]byte{0x80, 0, 0, 0xC0})
	if err != nil {
		t.Fatal(err)
	}

	d.mu.Lock() // the participant is busy
	done := make(chan []time.Duration, 1)
	go func() {
		var took []time.Duration
		for range 20 {
			start := time.Now()
			if err := c.SendOpus([]byte("opus from 1")); err != nil {
				t.Error(err)
			}
			took = append(took, time.Since(start))
		}
		c.handleDatagram(pkt, make([]byte, 0, 2048), time.Now())
		done <- took
	}()
	var took []time.Duration
	select {
	case took = <-done:
	case <-time.After(5 * time.Second):
		d.mu.Unlock()
		t.Fatal("the media path waited for the participant's lock")
	}
	select {
	case p := <-got:
		if !bytes.Equal(p, opus) {
			t.Errorf("delivered %q, want %q", p, opus)
		}
	default:
		t.Error("the received frame was not delivered while the participant was busy")
	}
	d.mu.Unlock()
	slices.Sort(took)
	t.Logf("send while MLS busy: median %v, max %v", took[len(took)/2], took[len(took)-1])
	if took[len(took)/2] > 5*time.Millisecond {
		t.Errorf("median send took %v", took[len(took)/2])
	}
	if st := c.DAVE(); st.Encrypt.Encrypted != 20 || st.Decrypt.Decrypted != 1 {
		t.Errorf("DAVE counters %+v", st)
	}
}

// TestDAVEHeldFramesKeepTheirHeaders: frames of a sender whose new key is
// not installed yet are held, and delivered with their own RTP fields, in
// order, once it is (dave.FrameSession's 1:1 emits).
func TestDAVEHeldFramesKeepTheirHeaders(t *testing.T) {
	var got []Frame
	c := newBareConn(func(f Frame) { f.Opus = bytes.Clone(f.Opus); got = append(got, f) })
	c.cfg.UserID, c.cfg.ChannelID = "1", "13"
	d, err := newDAVESession(c)
	if err != nil {
		t.Fatal(err)
	}
	c.dave = d
	c.announce("2", 7)
	key := bytes.Repeat([]byte{2}, dave.KeySize)
	d.frames.SetProtocolVersion(1)
	r, err := dave.NewKeyRatchet(key)
	if err != nil {
		t.Fatal(err)
	}
	enc := dave.NewEncryptor()
	enc.SetKeyRatchet(r)
	for seq := range uint16(3) {
		if seq == 2 {
			d.frames.SetReceiverKey(2, key, false)
		}
		f, err := enc.Encrypt(nil, []byte{byte('a' + seq)})
		if err != nil {
			t.Fatal(err)
		}
		c.deliver(Frame{SSRC: 7, Seq: seq, Opus: f})
		if seq < 2 && len(got) != 0 {
			t.Fatal("delivered before the key")
		}
	}
	if len(got) != 3 {
		t.Fatalf("delivered %d frames", len(got))
	}
	for i, f := range got {
		if f.Seq != uint16(i) || f.UserID != "2" || string(f.Opus) != string(rune('a'+i)) {
			t.Errorf("frame %d: %+v", i, f)
		}
	}
	if st := c.DAVE().Frames; st.Held != 2 || st.Released != 2 || len(c.daveQueue[2]) != 0 {
		t.Errorf("hold counters %+v, queue %d", st, len(c.daveQueue[2]))
	}
}

// daveTestConn is a bare connection with a DAVE session whose media side
// runs on clk, user 1 in channel 13, users 2 and 3 announced on SSRCs 7
// and 8; its frames go to onFrame.
func daveTestConn(t *testing.T, onFrame func(Frame), opts ...dave.FrameSessionOption) *Conn {
	t.Helper()
	c := newBareConn(onFrame)
	c.cfg.UserID, c.cfg.ChannelID = "1", "13"
	d, err := newDAVESession(c)
	if err != nil {
		t.Fatal(err)
	}
	d.frames = dave.NewFrameSession(opts...) // keys set by hand below
	d.frames.SetProtocolVersion(1)
	c.dave = d
	c.announce("2", 7)
	c.announce("3", 8)
	return c
}

// daveFrame encrypts text under the base secret k.
func daveFrame(t *testing.T, k byte, text string) []byte {
	t.Helper()
	r, err := dave.NewKeyRatchet(bytes.Repeat([]byte{k}, dave.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	e := dave.NewEncryptor()
	e.SetKeyRatchet(r)
	f, err := e.Encrypt(nil, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDAVEExpireQuietSenders: expireDAVE answers the held frames of
// senders that sent nothing since, each with its own RTP header: released
// when a key came, dropped when the hold time is over or the bound across
// senders dropped it; the per-sender queues end empty.
func TestDAVEExpireQuietSenders(t *testing.T) {
	clk := &testClock{t: time.Unix(1e9, 0)}
	var got []Frame
	c := daveTestConn(t, func(f Frame) { f.Opus = bytes.Clone(f.Opus); got = append(got, f) },
		dave.WithFrameClock(clk.now), dave.WithHoldTotal(3, 1<<20))
	c.deliver(Frame{SSRC: 7, Seq: 10, Opus: daveFrame(t, 2, "a")})
	c.deliver(Frame{SSRC: 7, Seq: 11, Opus: daveFrame(t, 2, "b")})
	c.deliver(Frame{SSRC: 8, Seq: 20, Opus: daveFrame(t, 3, "x")})
	c.deliver(Frame{SSRC: 8, Seq: 21, Opus: daveFrame(t, 3, "y")}) // passes the bound: 2's "a" goes
	c.expireDAVE()
	if len(got) != 0 || c.stats.daveDropped.Load() != 1 {
		t.Fatalf("before a key: delivered %d, dropped %d", len(got), c.stats.daveDropped.Load())
	}
	c.dave.frames.SetReceiverKey(2, bytes.Repeat([]byte{2}, dave.KeySize), false)
	c.expireDAVE()
	if len(got) != 1 || got[0].Seq != 11 || got[0].UserID != "2" || string(got[0].Opus) != "b" {
		t.Fatalf("after 2's key: %+v", got)
	}
	clk.t = clk.t.Add(dave.DefaultHoldTime)
	c.expireDAVE()
	if st := c.DAVE().Frames; len(got) != 1 || c.stats.daveDropped.Load() != 3 || len(c.daveQueue) != 0 ||
		st.Holding != 0 || st.Capped != 1 || st.Expired != 2 || st.Released != 1 {
		t.Fatalf("after the hold time: delivered %d, dropped %d, queues %v, stats %+v",
			len(got), c.stats.daveDropped.Load(), c.daveQueue, st)
	}
}

type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

// TestDAVEUDPReaderExpires: the UDP reader lets a quiet sender's held
// frame go with no datagram arriving (its read deadline), and stops at
// Close.
func TestDAVEUDPReaderExpires(t *testing.T) {
	testkit.NoLeaks(t)
	c := daveTestConn(t, func(Frame) { t.Error("a held frame was delivered") })
	u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c.wg.Add(1)
	go c.udpLoop(u)
	t.Cleanup(func() { _ = u.Close(); c.wg.Wait() })
	start := time.Now()
	c.deliver(Frame{SSRC: 7, Seq: 1, Opus: daveFrame(t, 2, "a")}) // no key: held
	testkit.Eventually(t, 5*(dave.DefaultHoldTime+daveExpireEvery), func() bool { return c.stats.daveDropped.Load() == 1 },
		"the held frame was not dropped")
	c.dmu.Lock()
	n := len(c.daveQueue)
	c.dmu.Unlock()
	if n != 0 {
		t.Fatalf("%d queues left", n)
	}
	t.Logf("dropped after %v (hold %v, expiry every %v)", time.Since(start), dave.DefaultHoldTime, daveExpireEvery)
}
