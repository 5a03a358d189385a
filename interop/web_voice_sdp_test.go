package interop

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/voiceproto"
)

// TestWebVoiceSDP: web/voice/voice.js (run in Node) reduces an offer and
// builds the remote description byte for byte as voiceproto does, on a
// real Chromium offer and the sections a browser has: the microphone
// alone, with receivers free or carrying room SSRCs, and a microphone
// transceiver that also receives. testdata/chromium-offer.sdp is Debian's
// Chromium 156's offer in TestBrowserVoice (PARLEY_SAVE_OFFER=FILE there
// writes the current one).
func TestWebVoiceSDP(t *testing.T) {
	node := nodeBinary(t)
	offer, err := os.ReadFile(repoFile(t, filepath.Join("testdata", "chromium-offer.sdp")))
	if err != nil {
		t.Fatal(err)
	}
	fp := make([]byte, 32)
	for i := range fp {
		fp[i] = byte(i * 7)
	}
	answer := voiceproto.Answer{Addr: netip.MustParseAddrPort("203.0.113.7:50001"), ICEUfrag: "Ab3+",
		ICEPwd: "abcdefghijklmnopqrstuv/+", Fingerprint: voiceproto.Fingerprint{Algorithm: "sha-256", Value: fp}}
	mic := voiceproto.RemoteSection{MID: "0", Kind: "audio", Direction: "recvonly", PayloadType: 111, Codec: "opus/48000/2"}
	recv := func(mid, dir string, ssrcs ...uint32) voiceproto.RemoteSection {
		return voiceproto.RemoteSection{MID: mid, Kind: "audio", Direction: dir, PayloadType: 111, Codec: "opus/48000/2", SSRCs: ssrcs}
	}
	cases := map[string][]voiceproto.RemoteSection{
		"microphone alone":       {mic},
		"receivers":              {mic, recv("1", "sendonly", 380042886), recv("2", "inactive"), recv("3", "sendonly", 4294967295)},
		"microphone receives":    {recv("0", "sendrecv", 7, 8)},
		"other payload type":     {{MID: "a", Kind: "audio", Direction: "recvonly", PayloadType: 109, Codec: "opus/48000/2"}},
		"lower-case fingerprint": {mic},
		"camera and video receivers": {mic,
			{MID: "1", Kind: "video", Direction: "recvonly", PayloadType: 96, RTXPayloadType: 97, Codec: "VP8/90000",
				Feedback: []string{"nack", "nack pli", "ccm fir", "transport-cc"}, RIDs: voiceproto.CameraRIDs,
				Extmaps: []voiceproto.Extmap{{ID: 4, URI: voiceproto.ExtMID}, {ID: 10, URI: voiceproto.ExtRID}, {ID: 11, URI: voiceproto.ExtRepairedRID}, {ID: 3, URI: voiceproto.TransportCC}}},
			{MID: "2", Kind: "video", Direction: "sendonly", PayloadType: 96, Codec: "VP8/90000", Feedback: []string{"nack", "nack pli"}, SSRCs: []uint32{2882400000}},
			{MID: "3", Kind: "video", Direction: "inactive", PayloadType: 96, Codec: "VP8/90000"}},
	}

	type jsExtmap struct {
		ID  int    `json:"id"`
		URI string `json:"uri"`
	}
	type jsSection struct {
		MID         string     `json:"mid"`
		Kind        string     `json:"kind"`
		Direction   string     `json:"direction"`
		PayloadType int        `json:"payloadType"`
		Codec       string     `json:"codec"`
		SSRCs       []uint32   `json:"ssrcs"`
		Feedback    []string   `json:"feedback,omitempty"`
		Extmaps     []jsExtmap `json:"extmaps,omitempty"`
		RTX         int        `json:"rtxPayloadType,omitempty"`
		RIDs        []string   `json:"rids,omitempty"`
	}
	type jsCase struct {
		Answer   string      `json:"answer"`
		Sections []jsSection `json:"sections"`
	}
	in := struct {
		Offers []string          `json:"offers"`
		Cases  map[string]jsCase `json:"cases"`
	}{Offers: []string{string(offer), firefoxLikeOffer}, Cases: map[string]jsCase{}}
	want := map[string]string{}
	for name, secs := range cases {
		frag := answer.String()
		if name == "lower-case fingerprint" {
			frag = strings.Replace(frag, answer.Fingerprint.String(), strings.ToLower(answer.Fingerprint.String()), 1)
		}
		a, err := voiceproto.ParseAnswer(frag)
		if err != nil {
			t.Fatal(err)
		}
		want[name] = a.RemoteDescription(secs)
		c := jsCase{Answer: frag}
		for _, s := range secs {
			js := jsSection{MID: s.MID, Kind: s.Kind, Direction: s.Direction, PayloadType: s.PayloadType, Codec: s.Codec,
				SSRCs: append([]uint32{}, s.SSRCs...), Feedback: s.Feedback, RTX: s.RTXPayloadType, RIDs: s.RIDs}
			for _, e := range s.Extmaps {
				js.Extmaps = append(js.Extmaps, jsExtmap{e.ID, e.URI})
			}
			c.Sections = append(c.Sections, js)
		}
		in.Cases[name] = c
	}

	module := url.URL{Scheme: "file", Path: repoFile(t, filepath.Join("..", "web", "voice", "voice.js"))}
	script := `import { offerFragment, parseAnswer, remoteDescription } from ` + strconvQuote(module.String()) + `;
let raw = '';
for await (const chunk of process.stdin) raw += chunk;
const input = JSON.parse(raw);
const out = { fragments: input.offers.map(offerFragment), remote: {} };
for (const [name, c] of Object.entries(input.cases)) out.remote[name] = remoteDescription(parseAnswer(c.answer), c.sections);
try { parseAnswer('m=audio 1 ICE/SDP\nc=IN IP4 127.0.0.1\n'); out.rejects = false; } catch { out.rejects = true; }
process.stdout.write(JSON.stringify(out));`
	b, _ := json.Marshal(in)
	cmd := exec.Command(node, "--input-type=module", "-e", script)
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var got struct {
		Fragments []string          `json:"fragments"`
		Remote    map[string]string `json:"remote"`
		Rejects   bool              `json:"rejects"`
	}
	if err := json.Unmarshal(outb, &got); err != nil {
		t.Fatalf("node output %q: %v", outb, err)
	}
	for i, o := range in.Offers {
		w := voiceproto.OfferFragment(o)
		if i >= len(got.Fragments) || got.Fragments[i] != w {
			t.Errorf("offer %d fragment:\nvoice.js\n%q\nvoiceproto\n%q", i, got.Fragments, w)
			continue
		}
		if _, err := voiceproto.ParseOffer(w); err != nil {
			t.Errorf("offer %d: the server refuses the fragment: %v", i, err)
		}
	}
	for name, w := range want {
		if got.Remote[name] != w {
			t.Errorf("%s: remote description:\nvoice.js\n%q\nvoiceproto\n%q", name, got.Remote[name], w)
		}
	}
	if !got.Rejects {
		t.Errorf("voice.js accepts an answer without ICE credentials or fingerprint")
	}
}

// firefoxLikeOffer has what the Chromium offer lacks: header extensions
// (one with a direction), a session-level fingerprint, blank padding.
const firefoxLikeOffer = "v=0\r\no=mozilla...THIS_IS_SDPARTA-99.0 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" +
	"a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n" +
	"a=group:BUNDLE 0 1\r\na=ice-options:trickle\r\na=msid-semantic:WMS *\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101\r\nc=IN IP4 0.0.0.0\r\na=sendrecv\r\n" +
	"a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level\r\n" +
	"a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1\r\n" +
	"  a=ice-pwd:0123456789abcdef0123456789abcdef  \r\na=ice-ufrag:a1b2c3d4\r\na=mid:0\r\n" +
	"a=rtpmap:109 opus/48000/2\r\na=rtpmap:9 G722/8000/1\r\na=rtpmap:101 telephone-event/8000\r\na=setup:actpass\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 109\r\nc=IN IP4 0.0.0.0\r\na=recvonly\r\n" +
	"a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=ice-pwd:0123456789abcdef0123456789abcdef\r\n" +
	"a=ice-ufrag:a1b2c3d4\r\na=mid:1\r\na=rtpmap:109 opus/48000/2\r\n"

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
