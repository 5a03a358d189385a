package voiceproto

import (
	"net/netip"
	"strings"
	"testing"
)

func TestVideoCodec(t *testing.T) {
	offer := Offer{RTPMaps: []RTPMap{{111, "opus", 48000, 2}, {96, "VP8", 90000, 0}, {97, "rtx", 90000, 0}, {98, "VP9", 90000, 0}}}
	cases := []struct {
		name   string
		codecs []Codec
		want   VideoCodecPT
		ok     bool
	}{
		{"from codecs", []Codec{{Name: "VP8", Type: "video", PayloadType: 96, RTXPayloadType: 97}}, VideoCodecPT{"VP8", 96, 97}, true},
		{"case", []Codec{{Name: "vp8", Type: "video", PayloadType: 96}}, VideoCodecPT{"VP8", 96, 0}, true},
		{"rtx clashes", []Codec{{Name: "VP8", Type: "video", PayloadType: 96, RTXPayloadType: 98}}, VideoCodecPT{"VP8", 96, 0}, true},
		{"rtx equal", []Codec{{Name: "VP8", Type: "video", PayloadType: 96, RTXPayloadType: 96}}, VideoCodecPT{"VP8", 96, 0}, true},
		{"pt of another codec: the fragment's", []Codec{{Name: "VP8", Type: "video", PayloadType: 111}}, VideoCodecPT{"VP8", 96, 0}, true},
		{"pt out of range", []Codec{{Name: "VP8", Type: "video", PayloadType: 7}}, VideoCodecPT{"VP8", 96, 0}, true},
		{"audio type ignored", []Codec{{Name: "VP8", Type: "audio", PayloadType: 100}}, VideoCodecPT{"VP8", 96, 0}, true},
		{"fragment only", nil, VideoCodecPT{"VP8", 96, 0}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := VideoCodec(offer, c.codecs, "VP8")
			if got != c.want || ok != c.ok {
				t.Errorf("got %+v %v, want %+v %v", got, ok, c.want, c.ok)
			}
		})
	}
	if _, ok := VideoCodec(offer, nil, "H264"); ok {
		t.Error("H264 found in an offer without it")
	}
}

func TestRID(t *testing.T) {
	for in, ok := range map[string]bool{"50": true, "100": true, "hi-q_1": true, "": false, "a b": false, "x\x00": false,
		strings.Repeat("a", MaxRIDLen): true, strings.Repeat("a", MaxRIDLen+1): false} {
		got, gotOK := RID([]byte(in))
		if gotOK != ok || (ok && got != in) {
			t.Errorf("RID(%q) = %q, %v", in, got, gotOK)
		}
	}
}

func FuzzRID(f *testing.F) {
	f.Add([]byte("100"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, ok := RID(b); ok && (len(s) == 0 || len(s) > MaxRIDLen) {
			t.Fatalf("RID(%q) accepted %q", b, s)
		}
	})
}

// TestRemoteDescriptionVideo: a camera section lists RTX with its apt, the
// header extensions and the simulcast rids; a receiving video section its
// sender's SSRC.
func TestRemoteDescriptionVideo(t *testing.T) {
	a := Answer{Addr: netip.MustParseAddrPort("192.0.2.1:5000"), ICEUfrag: "abcd", ICEPwd: "abcdefghijklmnopqrstuvwx",
		Fingerprint: Fingerprint{Algorithm: "sha-256", Value: make([]byte, 32)}}
	sdp := a.RemoteDescription([]RemoteSection{
		{MID: "0", Kind: "audio", Direction: "recvonly", PayloadType: 111, Codec: "opus/48000/2"},
		{MID: "1", Kind: "video", Direction: "recvonly", PayloadType: 96, RTXPayloadType: 97, Codec: "VP8/90000",
			Feedback: []string{"nack", "nack pli"}, Extmaps: []Extmap{{4, ExtMID}, {10, ExtRID}}, RIDs: CameraRIDs},
		{MID: "2", Kind: "video", Direction: "sendonly", PayloadType: 96, Codec: "VP8/90000", SSRCs: []uint32{42}},
	})
	for _, want := range []string{
		"m=video 5000 UDP/TLS/RTP/SAVPF 96 97\r\n", "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n",
		"a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n", "a=extmap:10 " + ExtRID + "\r\n",
		"a=rid:50 recv\r\na=rid:100 recv\r\na=simulcast:recv 50;100\r\n",
		"m=video 5000 UDP/TLS/RTP/SAVPF 96\r\n", "a=ssrc:42 cname:42\r\n",
	} {
		if !strings.Contains(sdp, want) {
			t.Errorf("remote description lacks %q:\n%s", want, sdp)
		}
	}
}
