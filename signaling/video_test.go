package signaling_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/parleyhq/parley/signaling"
	"github.com/parleyhq/parley/voiceproto"
)

// identifyVideo identifies declaring streams and returns Ready.
func (c *client) identifyVideo(h *harness, user, channel string, streams []map[string]any) voiceproto.Ready {
	c.t.Helper()
	c.c, c.tk = h.creds(user, channel)
	c.send(0, map[string]any{"server_id": "g1", "user_id": user, "session_id": c.c.SessionID, "token": c.tk, "streams": streams})
	var r voiceproto.Ready
	if err := json.Unmarshal(c.next(2).D, &r); err != nil {
		c.t.Fatal(err)
	}
	return r
}

// nextWants reads the next op 15 sent to the client.
func (c *client) nextWants() voiceproto.MediaSinkWants {
	c.t.Helper()
	w, err := voiceproto.DecodeMediaSinkWants(c.next(15).D)
	if err != nil {
		c.t.Fatal(err)
	}
	return w
}

var twoLayers = []map[string]any{
	{"type": "video", "rid": "100", "quality": 100, "max_resolution": map[string]any{"type": "fixed", "width": 1280, "height": 720}},
	{"type": "video", "rid": "50", "quality": 50},
}

// TestVideoSignalling: Ready answers Identify's streams with their SSRCs;
// op 12 is relayed with user_id and a joiner is told of the sender; op 15
// tells the sender which layers nobody gets as the receivers' wants
// change; op 14 is answered with the call's codecs.
func TestVideoSignalling(t *testing.T) {
	h := newHarness(t, signaling.Config{})
	alice := h.dial("?v=8")
	ready := alice.identifyVideo(h, "alice", "c1", twoLayers)
	if len(ready.Streams) != 2 {
		t.Fatalf("Ready streams %+v", ready.Streams)
	}
	for i, s := range ready.Streams {
		if s.SSRC == 0 || s.RTXSSRC != s.SSRC+1 || s.Active || s.RID != twoLayers[i]["rid"] || s.SSRC == ready.SSRC {
			t.Fatalf("Ready stream %d: %+v", i, s)
		}
	}
	bob := h.dial("?v=8")
	bobReady := bob.identifyVideo(h, "bob", "c1", nil)
	if bobReady.Streams == nil || len(bobReady.Streams) != 0 {
		t.Fatalf("Ready without streams answered %v, want []", bobReady.Streams)
	}
	s0, s1 := ready.Streams[0].SSRC, ready.Streams[1].SSRC
	alice.send(12, map[string]any{"audio_ssrc": ready.SSRC, "video_ssrc": s0, "rtx_ssrc": s0 + 1, "streams": []map[string]any{
		{"type": "video", "rid": "100", "ssrc": s0, "active": true, "quality": 100},
		{"type": "video", "rid": "50", "ssrc": s1, "active": true, "quality": 50},
	}})
	var v voiceproto.Video
	if err := json.Unmarshal(bob.next(12).D, &v); err != nil {
		t.Fatal(err)
	}
	if v.UserID != "alice" || v.AudioSSRC != ready.SSRC || v.VideoSSRC != s0 || len(v.Streams) != 2 || !v.Streams[1].Active {
		t.Fatalf("relayed op 12 %+v", v)
	}
	// Bob wants the best: both layers stay on (his bandwidth may move him
	// down to the low one).
	if w := alice.nextWants(); w.BySSRC[s0] != 100 || w.BySSRC[s1] != 100 {
		t.Fatalf("op 15 to the sender %+v", w)
	}
	bob.send(15, map[string]any{strconv.FormatUint(uint64(ready.SSRC), 10): 50, "any": 100})
	if w := alice.nextWants(); w.BySSRC[s0] != 0 || w.BySSRC[s1] != 100 {
		t.Fatalf("op 15 after bob wants 50: %+v", w)
	}
	carol := h.dial("?v=8")
	carol.identifyVideo(h, "carol", "c1", nil)
	if err := json.Unmarshal(carol.next(12).D, &v); err != nil || v.UserID != "alice" || v.VideoSSRC != s0 {
		t.Fatalf("joiner's op 12 %+v, %v", v, err)
	}
	if w := alice.nextWants(); w.BySSRC[s0] != 100 || w.BySSRC[s1] != 100 {
		t.Fatalf("op 15 after carol joined: %+v", w)
	}
	carol.send(14, map[string]any{"codecs": []map[string]any{
		{"name": "opus", "type": "audio", "priority": 1000, "payload_type": 120},
		{"name": "H264", "type": "video", "priority": 1000, "payload_type": 101, "rtx_payload_type": 102},
		{"name": "VP8", "type": "video", "priority": 1000, "payload_type": 105, "rtx_payload_type": 106},
	}})
	var u voiceproto.SessionUpdate
	if err := json.Unmarshal(carol.next(14).D, &u); err != nil || u.AudioCodec != "opus" || u.VideoCodec != "VP8" {
		t.Fatalf("op 14 answer %+v, %v", u, err)
	}
	// Video off: relayed, and the sender is told nothing more.
	alice.send(12, map[string]any{"audio_ssrc": ready.SSRC, "video_ssrc": 0, "rtx_ssrc": 0, "streams": []any{}})
	// (Bob may have been told of alice's streams twice: once as a joiner
	// whose introduction ran after her op 12, once by the op 12 itself.)
	for v.VideoSSRC != 0 {
		if err := json.Unmarshal(bob.next(12).D, &v); err != nil {
			t.Fatal(err)
		}
	}
	if v.Streams[0].Active || v.Streams[1].Active {
		t.Fatalf("video off relayed as %+v", v)
	}
}

// TestVideoCloseCodes: malformed video signalling closes with 4002, well-
// formed but invalid with 4020.
func TestVideoCloseCodes(t *testing.T) {
	h := newHarness(t, signaling.Config{})
	tests := []struct {
		name string
		do   func(c *client, r voiceproto.Ready)
		want int
	}{
		{"identify bad stream", func(c *client, _ voiceproto.Ready) {}, 4020},
		{"op 12 not an object", func(c *client, _ voiceproto.Ready) { c.send(12, "video") }, 4002},
		{"op 12 foreign ssrc", func(c *client, r voiceproto.Ready) {
			c.send(12, map[string]any{"audio_ssrc": r.SSRC, "video_ssrc": 12345})
		}, 4020},
		{"op 12 someone's audio", func(c *client, r voiceproto.Ready) {
			c.send(12, map[string]any{"audio_ssrc": r.SSRC + 1, "video_ssrc": 0})
		}, 4020},
		{"op 15 not an object", func(c *client, _ voiceproto.Ready) { c.send(15, []int{1}) }, 4002},
		{"op 15 bad key", func(c *client, _ voiceproto.Ready) { c.send(15, map[string]any{"everyone": 100}) }, 4020},
		{"op 15 want too high", func(c *client, _ voiceproto.Ready) { c.send(15, map[string]any{"any": 1000}) }, 4020},
		{"op 14 bad payload type", func(c *client, _ voiceproto.Ready) {
			c.send(14, map[string]any{"codecs": []map[string]any{{"name": "VP8", "type": "video", "payload_type": 300}}})
		}, 4020},
		{"op 14 wrong shape", func(c *client, _ voiceproto.Ready) { c.send(14, map[string]any{"codecs": "VP8"}) }, 4002},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.dial("?v=8")
			user := "u" + strconv.Itoa(i)
			if i == 0 {
				c.c, c.tk = h.creds(user, "c1")
				c.send(0, map[string]any{"server_id": "g1", "user_id": user, "session_id": c.c.SessionID, "token": c.tk,
					"streams": []map[string]any{{"type": "video", "rid": "100", "quality": 500}}})
			} else {
				tt.do(c, c.identifyVideo(h, user, "c1", twoLayers))
			}
			if got := c.closeCode(); got != tt.want {
				t.Fatalf("close code %d, want %d", got, tt.want)
			}
		})
	}
}
