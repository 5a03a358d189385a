package voiceproto

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestSpeakingFlags(t *testing.T) {
	tests := []struct {
		in      string
		want    SpeakingFlags
		wantErr bool
	}{
		{`{"speaking":1}`, 1, false},
		{`{"speaking":5,"delay":0,"ssrc":9}`, 5, false},
		{`{"speaking":true}`, 1, false},
		{`{"speaking":false}`, 0, false},
		{`{"speaking":null}`, 0, false},
		{`{}`, 0, false},
		{`{"speaking":"yes"}`, 0, true},
		{`{"speaking":-1}`, 0, true},
		{`{"speaking":256}`, 0, true},
		{`{"speaking":1e9}`, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var s Speaking
			err := json.Unmarshal([]byte(tc.in), &s)
			if (err != nil) != tc.wantErr || s.Speaking != tc.want {
				t.Fatalf("speaking = %d, %v; want %d, err %v", s.Speaking, err, tc.want, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadPayload) {
				t.Fatalf("error %v is not ErrBadPayload", err)
			}
		})
	}
}

func TestPeerSpeakingEncoding(t *testing.T) {
	for _, tc := range []struct {
		p    PeerSpeaking
		want string
	}{
		{PeerSpeaking{UserID: "7", SSRC: 3, Speaking: 5}, `{"user_id":"7","ssrc":3,"speaking":5}`},
		{PeerSpeaking{UserID: "7", SSRC: 3, Speaking: 5, Legacy: true}, `{"user_id":"7","ssrc":3,"speaking":true}`},
		{PeerSpeaking{UserID: "7", SSRC: 3, Legacy: true}, `{"user_id":"7","ssrc":3,"speaking":false}`},
	} {
		b, err := json.Marshal(tc.p)
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tc.p, b, err, tc.want)
		}
		var back PeerSpeaking
		if err := json.Unmarshal(b, &back); err != nil || back.UserID != tc.p.UserID || (back.Speaking != 0) != (tc.p.Speaking != 0) {
			t.Errorf("round trip of %s = %+v, %v", b, back, err)
		}
	}
}

func TestID(t *testing.T) {
	tests := []struct {
		in      string
		want    ID
		wantErr bool
	}{
		{`{"server_id":"123"}`, "123", false},
		{`{"server_id":123}`, "123", false},
		{`{"server_id":-5}`, "-5", false},
		{`{"server_id":null}`, "", false},
		{`{}`, "", false},
		{`{"server_id":[1]}`, "", true},
		{`{"server_id":1.5}`, "", true},
		{`{"server_id":1e3}`, "", true},
		{`{"server_id":true}`, "", true},
		{`{"server_id":-}`, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var id Identify
			err := json.Unmarshal([]byte(tc.in), &id)
			if (err != nil) != tc.wantErr || (err == nil && id.ServerID != tc.want) {
				t.Fatalf("server_id = %q, %v; want %q, err %v", id.ServerID, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestSecretKey(t *testing.T) {
	key := make(SecretKey, KeySize)
	for i := range key {
		key[i] = byte(250 + i)
	}
	b, err := json.Marshal(SessionDescription{Mode: ModeAES256GCMRTPSize, SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	var sd SessionDescription
	if err := json.Unmarshal(b, &sd); err != nil || string(sd.SecretKey) != string(key) {
		t.Fatalf("round trip: %v %v", sd.SecretKey, err)
	}
	for _, bad := range []string{`[1,2]`, `[` + strings.Repeat("1,", 31) + `256]`, `[` + strings.Repeat("1,", 31) + `-1]`, `"abc"`} {
		var k SecretKey
		if err := json.Unmarshal([]byte(bad), &k); !errors.Is(err, ErrBadPayload) {
			t.Errorf("secret_key %s: err %v, want ErrBadPayload", bad, err)
		}
	}
}

func TestParseDialect(t *testing.T) {
	for in, want := range map[string]Dialect{"": DialectLegacy, "3": DialectLegacy, "4": DialectV4, "7": DialectV4, "8": DialectV8} {
		if got, err := ParseDialect(in); err != nil || got != want {
			t.Errorf("ParseDialect(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"0", "9", "x", "-1"} {
		if _, err := ParseDialect(in); !errors.Is(err, ErrBadVersion) {
			t.Errorf("ParseDialect(%q) = %v, want ErrBadVersion", in, err)
		}
	}
}

func TestMessageSequence(t *testing.T) {
	for in, want := range map[string]int64{`{"op":2,"d":{},"seq":4}`: 4, `{"op":2,"d":{},"s":5}`: 5, `{"op":2,"d":{}}`: -1} {
		var m RawMessage
		if err := json.Unmarshal([]byte(in), &m); err != nil {
			t.Fatal(err)
		}
		got, ok := m.Sequence()
		if !ok {
			got = -1
		}
		if got != want {
			t.Errorf("%s: sequence %d, want %d", in, got, want)
		}
	}
	b, _ := json.Marshal(NumberedMessage(OpReady, nil, 7))
	if string(b) != `{"op":2,"d":null,"seq":7,"s":7}` {
		t.Errorf("numbered message %s", b)
	}
}

func TestOpAndCloseCodeNames(t *testing.T) {
	for op, want := range map[Op]string{OpIdentify: "identify", OpDAVEReadyForTransition: "dave_protocol_ready_for_transition", 99: "op_99", -1: "op_-1"} {
		if got := op.String(); got != want {
			t.Errorf("Op(%d) = %q, want %q", int(op), got, want)
		}
	}
	for code, resumable := range map[CloseCode]bool{CloseGoingAway: true, CloseAbnormal: true, CloseServerCrashed: true,
		CloseSessionInvalid: false, CloseDisconnected: false, CloseAuthenticationFailed: false} {
		if code.Resumable() != resumable {
			t.Errorf("%v.Resumable() = %v", code, !resumable)
		}
	}
}

func TestDiscovery(t *testing.T) {
	req := DiscoveryRequest(0xDEADBEEF)
	if Classify(req[:]) != KindDiscovery {
		t.Fatal("request not classified as discovery")
	}
	ssrc, err := ParseDiscoveryRequest(req[:])
	if err != nil || ssrc != 0xDEADBEEF {
		t.Fatalf("request ssrc %x, %v", ssrc, err)
	}
	addr := netip.MustParseAddrPort("[::ffff:203.0.113.9]:50000")
	resp := DiscoveryResponse(ssrc, addr)
	if Classify(resp[:]) != KindDiscoveryResponse {
		t.Fatal("response not classified")
	}
	gotSSRC, got, err := ParseDiscoveryResponse(resp[:])
	if err != nil || gotSSRC != ssrc || got != netip.MustParseAddrPort("203.0.113.9:50000") {
		t.Fatalf("response %x %v %v", gotSSRC, got, err)
	}
	if _, err := ParseDiscoveryRequest(resp[:]); !errors.Is(err, ErrBadDiscovery) {
		t.Errorf("response parsed as request: %v", err)
	}
	bad := resp
	bad[3] = 71
	if _, _, err := ParseDiscoveryResponse(bad[:]); !errors.Is(err, ErrBadDiscovery) {
		t.Errorf("length field 71: %v", err)
	}
	zeroPort := DiscoveryResponse(1, netip.MustParseAddrPort("1.2.3.4:0"))
	if _, _, err := ParseDiscoveryResponse(zeroPort[:]); !errors.Is(err, ErrBadDiscovery) {
		t.Errorf("port 0: %v", err)
	}
	v6 := DiscoveryResponse(1, netip.MustParseAddrPort("[2001:db8::1]:9"))
	if _, _, err := ParseDiscoveryResponse(v6[:]); !errors.Is(err, ErrBadDiscovery) {
		t.Errorf("IPv6 address: %v", err)
	}
	if _, err := ParseDiscoveryRequest(req[:10]); !errors.Is(err, ErrBadDiscovery) {
		t.Errorf("short request: %v", err)
	}
}

// FuzzGatewayMessage feeds arbitrary frames through every payload decoder
// a server or client applies; none may panic, and what decodes must
// encode again.
func FuzzGatewayMessage(f *testing.F) {
	for _, s := range []string{
		`{"op":0,"d":{"server_id":"1","user_id":"2","session_id":"s","token":"t","max_dave_protocol_version":1}}`,
		`{"op":1,"d":{"protocol":"udp","data":{"address":"127.0.0.1","port":5,"mode":"aead_aes256_gcm_rtpsize"}}}`,
		`{"op":3,"d":{"t":1,"seq_ack":2}}`, `{"op":3,"d":5}`,
		`{"op":5,"d":{"speaking":true,"delay":0}}`,
		`{"op":5,"d":{"user_id":9,"ssrc":4,"speaking":1},"seq":3}`,
		`{"op":7,"d":{"server_id":1,"session_id":"s","token":"t","seq_ack":-1}}`,
		`{"op":4,"d":{"mode":"x","secret_key":[1,2,3],"dave_protocol_version":1}}`,
		`{"op":11,"d":{"user_ids":["1",2]}}`,
		`{"op":`, `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m RawMessage
		if json.Unmarshal(data, &m) != nil {
			return
		}
		m.Sequence()
		_ = m.Op.String()
		for _, v := range []any{&Identify{}, &Resume{}, &SelectProtocol{}, &Heartbeat{}, &HeartbeatACK{},
			&Hello{}, &Ready{}, &SessionDescription{}, &Speaking{}, &PeerSpeaking{}, &ClientsConnect{}, &ClientDisconnect{}} {
			if json.Unmarshal(m.D, v) == nil {
				if _, err := json.Marshal(v); err != nil {
					t.Fatalf("%T decoded from %s but does not encode: %v", v, m.D, err)
				}
			}
		}
	})
}

// FuzzDiscovery: the discovery parsers never panic, and a response they
// accept encodes back to the same datagram.
func FuzzDiscovery(f *testing.F) {
	r := DiscoveryResponse(7, netip.MustParseAddrPort("10.0.0.1:4000"))
	q := DiscoveryRequest(7)
	f.Add(r[:])
	f.Add(q[:])
	f.Fuzz(func(t *testing.T, pkt []byte) {
		_, _ = ParseDiscoveryRequest(pkt)
		ssrc, addr, err := ParseDiscoveryResponse(pkt)
		if err != nil {
			return
		}
		again := DiscoveryResponse(ssrc, addr)
		if _, addr2, err := ParseDiscoveryResponse(again[:]); err != nil || addr2 != addr {
			t.Fatalf("re-encoded response %v: %v %v", addr, addr2, err)
		}
	})
}

func TestOpLabelIsAClosedSet(t *testing.T) {
	labels := map[string]bool{}
	for o := Op(-300); o < 70000; o++ {
		labels[o.Label()] = true
	}
	// 13 JSON opcodes (0-13 without 10), 11 DAVE opcodes, and "unknown".
	if len(labels) != 15+11+1 {
		t.Fatalf("%d distinct labels: %v", len(labels), labels)
	}
	if Op(10).Known() || Op(16).Known() || !Op(15).Known() || !Op(31).Known() || !OpIdentify.Known() {
		t.Fatal("Known() wrong at the edges")
	}
}
