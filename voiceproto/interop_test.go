package voiceproto

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// nodeInterop returns the node binary and the directory holding the
// interop node_modules. With PARLEY_INTEROP=1 a missing client fails the
// test; otherwise it skips.
func nodeInterop(t *testing.T) (string, string) {
	t.Helper()
	miss := func(msg string, args ...any) {
		t.Helper()
		if os.Getenv("PARLEY_INTEROP") == "1" {
			t.Fatalf(msg, args...)
		}
		t.Skipf(msg+" (set PARLEY_INTEROP=1 to require it; make test installs it)", args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		miss("node not found: %v", err)
	}
	dir, err := filepath.Abs(filepath.Join("..", "interop", "node"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"@discordjs/voice", "@noble/ciphers"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", m, "package.json")); err != nil {
			miss("%s not installed in %s: %v", m, dir, err)
		}
	}
	return node, dir
}

type nodeReq struct {
	Op      string `json:"op"`
	Mode    string `json:"mode"`
	Key     string `json:"key"`
	RTP     string `json:"rtp,omitempty"`
	Nonce4  string `json:"nonce4,omitempty"`
	Nonce24 string `json:"nonce24,omitempty"`
	Pkt     string `json:"pkt,omitempty"`
	Opus    string `json:"opus,omitempty"`
	Seq     uint16 `json:"seq"`
	TS      uint32 `json:"ts"`
	SSRC    uint32 `json:"ssrc"`
	Counter uint32 `json:"counter"`
}

type nodeResp struct {
	Pkt     string `json:"pkt"`
	Payload string `json:"payload"`
	Error   string `json:"error"`
}

func runNode(t *testing.T, reqs []nodeReq) []nodeResp {
	t.Helper()
	node, dir := nodeInterop(t)
	in, _ := json.Marshal(reqs)
	cmd := exec.Command(node, filepath.Join("testdata", "interop.mjs"), dir)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var resps []nodeResp
	if err := json.Unmarshal(out, &resps); err != nil || len(resps) != len(reqs) {
		t.Fatalf("node output (%v): %s", err, out)
	}
	return resps
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInteropReference compares every mode and header shape byte for byte
// with reference implementations in Node (node:crypto, @noble/ciphers).
func TestInteropReference(t *testing.T) {
	key := hex.EncodeToString(testKey)
	nonce := [4]byte{0x81, 0x02, 0x03, 0xC4}
	n24 := seqBytes(24, 0xE0)
	var reqs []nodeReq
	type idx struct {
		mode string
		p    pkt
	}
	var cases []idx
	for _, m := range allModes {
		for _, s := range shapes {
			reqs = append(reqs, nodeReq{Op: "ref_seal", Mode: m, Key: key, RTP: hex.EncodeToString(s.p.build()),
				Nonce4: hex.EncodeToString(nonce[:]), Nonce24: hex.EncodeToString(n24)})
			cases = append(cases, idx{m, s.p})
		}
	}
	resps := runNode(t, reqs)
	for i, r := range resps {
		m, p := cases[i].mode, cases[i].p
		if r.Error != "" {
			t.Fatalf("%s: node: %s", m, r.Error)
		}
		ref := unhex(t, r.Pkt)
		c := mustNew(t, m)
		rtp := p.build()
		if m != ModeXSalsa20Suffix {
			got, err := c.Seal(nil, rtp, nonce)
			if err != nil || !bytes.Equal(got, ref) {
				t.Errorf("%s case %d: Seal differs from reference (%v)\n got %x\nwant %x", m, i, err, got, ref)
			}
		}
		if got, err := c.Open(nil, ref); err != nil || !bytes.Equal(got, rtp) {
			t.Errorf("%s case %d: Open(reference) = %x, %v; want %x", m, i, got, err, rtp)
		}
	}
}

// TestInteropDiscordJS runs packets through @discordjs/voice's own receive
// parser (VoiceReceiver.parsePacket) and packet builder
// (Networking.createAudioPacket) in both current modes.
func TestInteropDiscordJS(t *testing.T) {
	key := hex.EncodeToString(testKey)
	// discordjs ignores CC when computing the AAD and strips only 0xBEDE
	// extensions, so the server sends CC=0 packets.
	djsShapes := []pkt{
		{pt: 120, seq: 10, ts: 960, ssrc: 42, payload: seqBytes(100, 1)},
		{pt: 120, seq: 11, ts: 1920, ssrc: 42, payload: []byte{0xF8, 0xFF, 0xFE}},
		{pt: 120, seq: 12, ts: 2880, ssrc: 42, ext: true, profile: ExtProfileOneByte, extBody: []byte{0x10, 0x7F, 0, 0}, payload: seqBytes(60, 2)},
		{pt: 120, seq: 13, ts: 3840, ssrc: 42, ext: true, profile: ExtProfileOneByte, extBody: seqBytes(8, 3), payload: seqBytes(40, 3), padding: 5},
		{pt: 120, seq: 14, ts: 4800, ssrc: 42, payload: seqBytes(20, 4), padding: 2},
	}
	counters := []uint32{0, 41, 1<<32 - 2}
	var reqs []nodeReq
	type want struct {
		mode    string
		payload []byte
		seal    bool
		counter uint32
		seq     uint16
	}
	var wants []want
	for _, m := range []string{ModeAES256GCMRTPSize, ModeXChaCha20RTPSize} {
		c := mustNew(t, m)
		var sn ServerNonce
		for _, p := range djsShapes {
			n, _ := sn.Next()
			w, err := c.Seal(nil, p.build(), n)
			if err != nil {
				t.Fatal(err)
			}
			reqs = append(reqs, nodeReq{Op: "djs_open", Mode: m, Key: key, Pkt: hex.EncodeToString(w)})
			wants = append(wants, want{mode: m, payload: p.payload})
		}
		for i, ctr := range counters {
			opus := seqBytes(30+i, byte(i))
			seq := uint16(65534 + i)
			reqs = append(reqs, nodeReq{Op: "djs_seal", Mode: m, Key: key, Opus: hex.EncodeToString(opus),
				Seq: seq, TS: 0xFFFFFC40, SSRC: 0xCAFE, Counter: ctr})
			wants = append(wants, want{mode: m, payload: opus, seal: true, counter: ctr, seq: seq})
		}
	}
	resps := runNode(t, reqs)
	for i, r := range resps {
		w := wants[i]
		if r.Error != "" {
			t.Fatalf("%s case %d: discordjs: %s", w.mode, i, r.Error)
		}
		if !w.seal {
			if got := unhex(t, r.Payload); !bytes.Equal(got, w.payload) {
				t.Errorf("%s case %d: discordjs decoded %x, want %x", w.mode, i, got, w.payload)
			}
			continue
		}
		wire := unhex(t, r.Pkt)
		if binary.BigEndian.Uint32(wire[len(wire)-4:]) != w.counter+1 {
			t.Errorf("%s: discordjs nonce %x, want BE %d", w.mode, wire[len(wire)-4:], w.counter+1)
		}
		rtp, err := mustNew(t, w.mode).Open(nil, wire)
		if err != nil {
			t.Fatalf("%s case %d: Open(discordjs packet): %v", w.mode, i, err)
		}
		h, err := ParseHeader(rtp)
		if err != nil {
			t.Fatal(err)
		}
		if h.Seq != w.seq || h.Timestamp != 0xFFFFFC40 || h.SSRC != 0xCAFE || h.PayloadType != PayloadTypeOpus || h.Marker ||
			!bytes.Equal(rtp[h.PayloadStart:h.PayloadEnd], w.payload) {
			t.Errorf("%s case %d: header %+v payload %x", w.mode, i, h, rtp[h.PayloadStart:h.PayloadEnd])
		}
		if Classify(wire) != KindRTP {
			t.Errorf("discordjs packet classified %v", Classify(wire))
		}
	}
}
