package voiceproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// chromeOffer is a Chromium offer's fragment, as a browser sends it.
const chromeOffer = `a=extmap-allow-mixed
a=ice-ufrag:Qw9x
a=ice-pwd:Z0WbX1eTfgp7zB6wF4aK2Pq3
a=ice-options:trickle
a=fingerprint:sha-256 1B:8B:D2:F1:3C:B0:2E:57:8C:36:54:0D:A4:6A:0C:8D:57:05:91:2F:5A:EB:3E:7C:6D:2A:7F:05:B6:9B:1C:21
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=rtpmap:111 opus/48000/2
a=rtpmap:63 red/48000/2
a=rtpmap:9 G722/8000
a=rtpmap:96 VP8/90000
`

func TestParseOffer(t *testing.T) {
	o, err := ParseOffer(chromeOffer)
	if err != nil {
		t.Fatal(err)
	}
	if o.ICEUfrag != "Qw9x" || o.ICEPwd != "Z0WbX1eTfgp7zB6wF4aK2Pq3" || !o.ExtmapAllowMixed || len(o.Fingerprint.Value) != 32 {
		t.Fatalf("%+v", o)
	}
	if pt, ok := o.Opus(); !ok || pt != 111 {
		t.Fatalf("opus pt %d %v", pt, ok)
	}
	if id, ok := o.Extmap("http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"); !ok || id != 3 {
		t.Fatalf("twcc extmap %d %v", id, ok)
	}
	if !strings.HasPrefix(o.Fingerprint.String(), "sha-256 1B:8B:") {
		t.Fatalf("fingerprint %s", o.Fingerprint)
	}
	full := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n" + strings.ReplaceAll(chromeOffer, "\n", "\r\n") +
		"a=ssrc:123 cname:x\r\na=fmtp:111 minptime=10\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n" + strings.ReplaceAll(chromeOffer, "\n", "\r\n")
	frag := OfferFragment(full)
	if strings.Contains(frag, "a=mid") || strings.Contains(frag, "a=ssrc:") || strings.Contains(frag, "fmtp") || strings.Count(frag, "a=ice-ufrag") != 1 {
		t.Fatalf("fragment %q", frag)
	}
	if again, err := ParseOffer(frag); err != nil || again.ICEUfrag != o.ICEUfrag || len(again.RTPMaps) != len(o.RTPMaps) {
		t.Fatalf("fragment of the full offer: %+v %v", again, err)
	}
}

func TestParseOfferRefuses(t *testing.T) {
	drop := func(prefix string) string {
		var b strings.Builder
		for _, l := range strings.Split(chromeOffer, "\n") {
			if !strings.HasPrefix(l, prefix) {
				b.WriteString(l + "\n")
			}
		}
		return b.String()
	}
	for name, frag := range map[string]string{
		"oversized":          strings.Repeat("a=x\n", MaxFragmentBytes/4+1),
		"too many lines":     strings.Repeat("\n", maxFragmentLines+1),
		"long line":          "a=ice-ufrag:" + strings.Repeat("a", 2000),
		"no ufrag":           drop("a=ice-ufrag"),
		"no fingerprint":     drop("a=fingerprint"),
		"sha-1 fingerprint":  strings.Replace(chromeOffer, "sha-256 1B", "sha-1 1B", 1),
		"short fingerprint":  strings.Replace(chromeOffer, "1B:8B:", "", 1),
		"bad ufrag char":     strings.Replace(chromeOffer, "Qw9x", "Qw9x;", 1),
		"short pwd":          strings.Replace(chromeOffer, "Z0WbX1eTfgp7zB6wF4aK2Pq3", "short", 1),
		"bad extmap":         chromeOffer + "a=extmap:0 urn:x\n",
		"bad rtpmap pt":      chromeOffer + "a=rtpmap:300 opus/48000/2\n",
		"bad rtpmap clock":   chromeOffer + "a=rtpmap:100 opus/x/2\n",
		"bad rtpmap channel": chromeOffer + "a=rtpmap:100 opus/48000/99\n",
	} {
		if _, err := ParseOffer(frag); !errors.Is(err, ErrBadSDP) {
			t.Errorf("%s: %v, want ErrBadSDP", name, err)
		}
	}
}

func TestAnswerRoundTrip(t *testing.T) {
	fp := Fingerprint{Algorithm: "sha-256", Value: bytes.Repeat([]byte{0xAB}, 32)}
	a := Answer{Addr: netip.MustParseAddrPort("203.0.113.7:50001"), ICEUfrag: "srvU", ICEPwd: "0123456789abcdefghijklmn", Fingerprint: fp}
	s := a.String()
	for _, want := range []string{"m=audio 50001 ICE/SDP\n", "c=IN IP4 203.0.113.7\n", "a=candidate:1 1 UDP 4261412862 203.0.113.7 50001 typ host\n"} {
		if !strings.Contains(s, want) {
			t.Fatalf("answer %q lacks %q", s, want)
		}
	}
	back, err := ParseAnswer(s)
	if err != nil || back.Addr != a.Addr || back.ICEUfrag != a.ICEUfrag || !bytes.Equal(back.Fingerprint.Value, fp.Value) {
		t.Fatalf("round trip %+v %v", back, err)
	}
	if _, err := ParseAnswer("m=audio 1 ICE/SDP\n"); !errors.Is(err, ErrBadSDP) {
		t.Fatalf("incomplete answer: %v", err)
	}
}

// TestParseAnswerRefuses: a bad answer is ErrBadSDP, said once (a parse
// helper's error, already ErrBadSDP, used to be wrapped again).
func TestParseAnswerRefuses(t *testing.T) {
	good := Answer{Addr: netip.MustParseAddrPort("203.0.113.7:50001"), ICEUfrag: "srvU", ICEPwd: "0123456789abcdefghijklmn",
		Fingerprint: Fingerprint{Algorithm: "sha-256", Value: bytes.Repeat([]byte{0xAB}, 32)}}.String()
	tests := []struct{ name, answer string }{
		{"oversized", strings.Repeat("a=x\n", MaxFragmentBytes/4+1)},
		{"incomplete", "m=audio 1 ICE/SDP\n"},
		{"bad port", strings.Replace(good, "m=audio 50001", "m=audio x", 1)},
		{"bad address", strings.Replace(good, "c=IN IP4 203.0.113.7", "c=IN IP4 nope", 1)},
		{"short ufrag", strings.Replace(good, "a=ice-ufrag:srvU", "a=ice-ufrag:s", 1)},
		{"bad fingerprint", strings.Replace(good, "sha-256", "sha-1", 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAnswer(tc.answer)
			if !errors.Is(err, ErrBadSDP) {
				t.Fatalf("%v, want ErrBadSDP", err)
			}
			if n := strings.Count(err.Error(), ErrBadSDP.Error()); n != 1 {
				t.Fatalf("%q says %q %d times", err, ErrBadSDP, n)
			}
		})
	}
}

// TestRemoteDescriptionCandidate: the full remote description carries the
// same host candidate as the answer fragment, once, in its first section.
func TestRemoteDescriptionCandidate(t *testing.T) {
	a := Answer{Addr: netip.MustParseAddrPort("203.0.113.7:50001"), ICEUfrag: "srvU", ICEPwd: "0123456789abcdefghijklmn",
		Fingerprint: Fingerprint{Algorithm: "sha-256", Value: bytes.Repeat([]byte{0xAB}, 32)}}
	const cand = "a=candidate:1 1 UDP 4261412862 203.0.113.7 50001 typ host"
	sdp := a.RemoteDescription([]RemoteSection{{MID: "0", Kind: "audio", Direction: "sendrecv", PayloadType: 111, Codec: "opus/48000/2"},
		{MID: "1", Kind: "audio", Direction: "sendonly", PayloadType: 111, Codec: "opus/48000/2"}})
	if strings.Count(sdp, cand+"\r\n") != 1 || strings.Index(sdp, cand) > strings.Index(sdp, "a=mid:1") {
		t.Fatalf("remote description %q: want %q once, in the first section", sdp, cand)
	}
	if !strings.Contains(a.String(), cand+"\n") {
		t.Fatalf("answer %q lacks %q", a, cand)
	}
}

func TestSelectProtocolDialects(t *testing.T) {
	in := `{"protocol":"webrtc","data":"a=ice-ufrag:x","sdp":"a=ice-ufrag:x","rtc_connection_id":"c1",
		"codecs":[{"name":"opus","type":"audio","priority":1000,"payload_type":111}]}`
	var sp SelectProtocol
	if err := json.Unmarshal([]byte(in), &sp); err != nil {
		t.Fatal(err)
	}
	if sp.Protocol != ProtocolWebRTC || sp.Data.Fragment != "a=ice-ufrag:x" || sp.SDP == "" || len(sp.Codecs) != 1 || sp.Codecs[0].PayloadType != 111 {
		t.Fatalf("%+v", sp)
	}
	var udp SelectProtocol
	if err := json.Unmarshal([]byte(`{"protocol":"udp","data":{"address":"1.2.3.4","port":5,"mode":"m"}}`), &udp); err != nil || udp.Data.Port != 5 {
		t.Fatalf("udp %+v %v", udp, err)
	}
	b, _ := json.Marshal(SessionDescription{AudioCodec: "opus", SDP: "m=audio", DaveProtocolVersion: 0})
	if strings.Contains(string(b), "secret_key") || strings.Contains(string(b), "mode") {
		t.Fatalf("webrtc session description %s carries native fields", b)
	}
}

// TestWebRTCSelect: the Select Protocol WebRTCSelect builds goes over the
// wire with the fragment as data and sdp and reads back with Fragment; a
// client that sends only one of them is read too.
func TestWebRTCSelect(t *testing.T) {
	b, err := json.Marshal(Message{Op: OpSelectProtocol, D: WebRTCSelect("a=ice-ufrag:abcd\n", PayloadTypeWebRTCOpus)})
	if err != nil {
		t.Fatal(err)
	}
	var m RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var sp SelectProtocol
	if err := json.Unmarshal(m.D, &sp); err != nil {
		t.Fatal(err)
	}
	if sp.Protocol != ProtocolWebRTC || sp.Data.Fragment != "a=ice-ufrag:abcd\n" || len(sp.RTCConnectionID) != 32 ||
		!reflect.DeepEqual(sp.Codecs, []Codec{{Name: "opus", Type: "audio", Priority: 1000, PayloadType: 111}}) {
		t.Fatalf("%s read back as %+v", b, sp)
	}
	if other := WebRTCSelect("", 96); other.RTCConnectionID == sp.RTCConnectionID || other.Codecs[0].PayloadType != 96 {
		t.Fatalf("a second select %+v", other)
	}
	tests := []struct {
		name string
		sp   SelectProtocol
		want string
	}{
		{"both", WebRTCSelect("a=x", 111), "a=x"},
		{"sdp only", SelectProtocol{SDP: "a=sdp"}, "a=sdp"},
		{"data only", SelectProtocol{Data: SelectProtocolData{Fragment: "a=data"}}, "a=data"},
		{"sdp first", SelectProtocol{SDP: "a=sdp", Data: SelectProtocolData{Fragment: "a=data"}}, "a=sdp"},
		{"neither", SelectProtocol{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.sp.Fragment(); got != tc.want {
				t.Fatalf("Fragment() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestOfferString: an offer written by Offer.String (as the bench's web
// participants send it) with RandomICE credentials parses back to itself.
func TestOfferString(t *testing.T) {
	o := Offer{ICEUfrag: RandomICE(8), ICEPwd: RandomICE(24), Fingerprint: Fingerprint{Algorithm: "sha-256", Value: make([]byte, 32)},
		Extmaps: []Extmap{{ID: 3, URI: TransportCC}}, RTPMaps: []RTPMap{{PayloadType: 111, Name: "opus", ClockRate: 48000, Channels: 2}}}
	got, err := ParseOffer(o.String())
	if err != nil || !reflect.DeepEqual(got, o) {
		t.Fatalf("ParseOffer(%q) = %+v, %v; want %+v", o.String(), got, err, o)
	}
	if pt, ok := got.Opus(); !ok || pt != 111 {
		t.Errorf("Opus() = %d, %v", pt, ok)
	}
}

func FuzzParseOffer(f *testing.F) {
	f.Add(chromeOffer)
	f.Add("a=ice-ufrag:abcd\na=ice-pwd:0123456789012345678901\na=fingerprint:sha-256 00")
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseOffer(s)
		if err != nil {
			return
		}
		if _, err := ParseOffer(OfferFragment(s)); err != nil {
			t.Fatalf("the fragment of an accepted offer is refused: %v", err)
		}
		if again, err := ParseOffer(o.String()); err != nil || !reflect.DeepEqual(again, o) {
			t.Fatalf("re-encoded offer %q: %+v, %v; want %+v", o.String(), again, err, o)
		}
		_, _ = o.Opus()
	})
}

func FuzzParseAnswer(f *testing.F) {
	a := Answer{Addr: netip.MustParseAddrPort("10.0.0.1:9"), ICEUfrag: "abcd", ICEPwd: "0123456789012345678901",
		Fingerprint: Fingerprint{Algorithm: "sha-256", Value: make([]byte, 32)}}
	f.Add(a.String())
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseAnswer(s)
		if err != nil {
			return
		}
		if again, err := ParseAnswer(b.String()); err != nil || again.Addr != b.Addr {
			t.Fatalf("re-encoded answer: %+v %v", again, err)
		}
	})
}

func TestIsMuxedRTCP(t *testing.T) {
	for _, tc := range []struct {
		pkt  []byte
		want bool
	}{
		{nil, false}, {[]byte{0x80}, false},
		{[]byte{0x80, 111}, false}, {[]byte{0x80, 0x80 | 111}, false}, // RTP, with and without the marker
		{[]byte{0x80, 191}, false}, {[]byte{0x80, 192}, true}, {[]byte{0x81, 200}, true}, {[]byte{0x81, 205}, true},
		{[]byte{0x80, 223}, true}, {[]byte{0x80, 224}, false},
	} {
		if got := IsMuxedRTCP(tc.pkt); got != tc.want {
			t.Errorf("IsMuxedRTCP(% x) = %v, want %v", tc.pkt, got, tc.want)
		}
	}
}
