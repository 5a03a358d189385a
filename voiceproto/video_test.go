package voiceproto

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// allocated is what a server answered a two-layer Identify with.
var allocated = []Stream{
	{Type: StreamVideo, RID: "100", Quality: 100, SSRC: 1000, RTXSSRC: 1001},
	{Type: StreamVideo, RID: "50", Quality: 50, SSRC: 1002, RTXSSRC: 1003},
}

func TestCheckStreams(t *testing.T) {
	res := func(typ string, w, h int) *Resolution { return &Resolution{Type: typ, Width: w, Height: h} }
	tests := []struct {
		name    string
		streams []Stream
		ok      bool
	}{
		{"none", nil, true},
		{"two layers", []Stream{{Type: "video", RID: "100", Quality: 100, MaxResolution: res("fixed", 1280, 720)}, {Type: "video", RID: "50", Quality: 50}}, true},
		{"screen", []Stream{{Type: "screen", RID: "100", Quality: 100, MaxFramerate: 30, MaxBitrate: 2_500_000}}, true},
		{"bad type", []Stream{{Type: "audio", RID: "1"}}, false},
		{"quality high", []Stream{{Type: "video", Quality: 101}}, false},
		{"quality negative", []Stream{{Type: "video", Quality: -1}}, false},
		{"bitrate", []Stream{{Type: "video", MaxBitrate: -5}}, false},
		{"framerate", []Stream{{Type: "video", MaxFramerate: 1000}}, false},
		{"resolution type", []Stream{{Type: "video", MaxResolution: res("huge", 1, 1)}}, false},
		{"resolution size", []Stream{{Type: "video", MaxResolution: res("fixed", 100000, 1)}}, false},
		{"rid long", []Stream{{Type: "video", RID: strings.Repeat("x", 17)}}, false},
		{"rid repeated", []Stream{{Type: "video", RID: "a"}, {Type: "video", RID: "a"}}, false},
		{"too many", make([]Stream, MaxStreams+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckStreams(tt.streams)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckStreams = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadVideo) {
				t.Fatalf("error %v is not ErrBadVideo", err)
			}
		})
	}
}

func TestDecodeVideo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    error // nil: ok
		active  []bool
		rtxSSRC uint32
	}{
		{"both layers", `{"audio_ssrc":7,"video_ssrc":1000,"rtx_ssrc":1001,"streams":[{"type":"video","rid":"100","ssrc":1000,"active":true,"quality":100},{"type":"video","rid":"50","ssrc":1002,"active":true,"quality":50}]}`, nil, []bool{true, true}, 1001},
		{"by rid, rtx implied", `{"audio_ssrc":7,"video_ssrc":1000,"streams":[{"type":"video","rid":"50","active":true,"quality":50}]}`, nil, []bool{false, true}, 1001},
		{"video off", `{"audio_ssrc":7,"video_ssrc":0,"rtx_ssrc":0,"streams":[{"type":"video","rid":"100","ssrc":1000,"active":true,"quality":100}]}`, nil, []bool{false, false}, 0},
		{"no audio ssrc", `{"video_ssrc":1000,"streams":[]}`, nil, []bool{false, false}, 1001},
		{"not json", `{"audio_ssrc":`, ErrBadPayload, nil, 0},
		{"wrong type", `{"audio_ssrc":"x"}`, ErrBadPayload, nil, 0},
		{"trailing", `{} {}`, ErrBadPayload, nil, 0},
		{"negative ssrc", `{"video_ssrc":-1}`, ErrBadPayload, nil, 0},
		{"user_id", `{"user_id":"5","video_ssrc":0}`, ErrBadVideo, nil, 0},
		{"someone's audio", `{"audio_ssrc":8,"video_ssrc":0}`, ErrBadVideo, nil, 0},
		{"foreign video ssrc", `{"audio_ssrc":7,"video_ssrc":999}`, ErrBadVideo, nil, 0},
		{"foreign rtx", `{"audio_ssrc":7,"video_ssrc":1000,"rtx_ssrc":5}`, ErrBadVideo, nil, 0},
		{"foreign stream", `{"video_ssrc":1000,"streams":[{"type":"video","rid":"100","ssrc":5,"active":true}]}`, ErrBadVideo, nil, 0},
		{"unknown rid", `{"video_ssrc":1000,"streams":[{"type":"video","rid":"75","active":true}]}`, ErrBadVideo, nil, 0},
		{"repeated", `{"video_ssrc":1000,"streams":[{"type":"video","rid":"100","ssrc":1000},{"type":"video","rid":"100","ssrc":1000}]}`, ErrBadVideo, nil, 0},
		{"type changed", `{"video_ssrc":1000,"streams":[{"type":"screen","rid":"100","ssrc":1000}]}`, ErrBadVideo, nil, 0},
		{"bad quality", `{"video_ssrc":1000,"streams":[{"type":"video","rid":"100","ssrc":1000,"quality":300}]}`, ErrBadVideo, nil, 0},
		{"too many", `{"video_ssrc":1000,"streams":[{},{},{},{},{}]}`, ErrBadVideo, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := DecodeVideo([]byte(tt.in), 7, allocated)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("DecodeVideo = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Streams) != len(allocated) || v.AudioSSRC != 7 || v.RTXSSRC != tt.rtxSSRC {
				t.Fatalf("DecodeVideo = %+v", v)
			}
			for i, s := range v.Streams {
				if s.Active != tt.active[i] || s.SSRC != allocated[i].SSRC {
					t.Fatalf("stream %d = %+v, want active %v", i, s, tt.active[i])
				}
			}
		})
	}
}

func TestPickStream(t *testing.T) {
	two := []Stream{{Quality: 100, Active: true}, {Quality: 50, Active: true}}
	highOff := []Stream{{Quality: 100}, {Quality: 50, Active: true}}
	tests := []struct {
		name    string
		streams []Stream
		want    int
		pick    int
	}{
		{"best", two, 100, 0},
		{"between", two, 75, 1},
		{"low", two, 50, 1},
		{"below all: lowest", two, 10, 1},
		{"none wanted", two, 0, -1},
		{"high inactive", highOff, 100, 1},
		{"none active", []Stream{{Quality: 100}}, 100, -1},
		{"no streams", nil, 100, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PickStream(tt.streams, tt.want); got != tt.pick {
				t.Fatalf("PickStream(%d) = %d, want %d", tt.want, got, tt.pick)
			}
		})
	}
}

func TestMediaSinkWants(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
		any  int
		by   map[uint32]int
	}{
		{"any", `{"any":100}`, nil, 100, nil},
		{"per ssrc", `{"1000":50,"any":0,"pixelCounts":{"1000":921600}}`, nil, 0, map[uint32]int{1000: 50}},
		{"empty", `{}`, nil, -1, nil},
		{"integral float", `{"5":50.0}`, nil, -1, map[uint32]int{5: 50}},
		{"not object", `[1]`, ErrBadPayload, 0, nil},
		{"null", `null`, ErrBadPayload, 0, nil},
		{"string want", `{"5":"50"}`, ErrBadPayload, 0, nil},
		{"want high", `{"5":101}`, ErrBadVideo, 0, nil},
		{"want fraction", `{"any":50.5}`, ErrBadVideo, 0, nil},
		{"want negative", `{"any":-1}`, ErrBadVideo, 0, nil},
		{"unknown key", `{"some":1}`, ErrBadVideo, 0, nil},
		{"ssrc zero", `{"0":1}`, ErrBadVideo, 0, nil},
		{"ssrc leading zero", `{"05":1}`, ErrBadVideo, 0, nil},
		{"ssrc too big", `{"4294967296":1}`, ErrBadVideo, 0, nil},
		{"pixel negative", `{"pixelCounts":{"5":-1}}`, ErrBadVideo, 0, nil},
		{"pixel shape", `{"pixelCounts":[1]}`, ErrBadPayload, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := DecodeMediaSinkWants([]byte(tt.in))
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("decode = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.Any != tt.any || len(w.BySSRC) != len(tt.by) {
				t.Fatalf("decode = %+v", w)
			}
			for s, q := range tt.by {
				if w.BySSRC[s] != q {
					t.Fatalf("want[%d] = %d, want %d", s, w.BySSRC[s], q)
				}
			}
		})
	}
	w := MediaSinkWants{Any: 20, BySSRC: map[uint32]int{1000: 50}}
	if w.Want(7, 1000) != 50 || w.Want(9) != 20 || (&MediaSinkWants{Any: -1}).Want(9) != DefaultWant || (*MediaSinkWants)(nil).Want(1) != DefaultWant {
		t.Fatal("Want picks the wrong entry")
	}
	b, _ := json.Marshal(w)
	back, err := DecodeMediaSinkWants(b)
	if err != nil || back.Any != 20 || back.BySSRC[1000] != 50 {
		t.Fatalf("round trip %s = %+v, %v", b, back, err)
	}
}

func TestDecodeSessionUpdate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"codecs", `{"codecs":[{"name":"opus","type":"audio","priority":1000,"payload_type":120},{"name":"VP8","type":"video","priority":1000,"payload_type":105,"rtx_payload_type":106}]}`, nil},
		{"empty", `{}`, nil},
		{"bad json", `{"codecs":1}`, ErrBadPayload},
		{"bad type", `{"codecs":[{"name":"VP8","type":"text","payload_type":105}]}`, ErrBadVideo},
		{"static pt", `{"codecs":[{"name":"VP8","type":"video","payload_type":0}]}`, ErrBadVideo},
		{"pt shared", `{"codecs":[{"name":"VP8","type":"video","payload_type":105},{"name":"H264","type":"video","payload_type":105}]}`, ErrBadVideo},
		{"rtx equals pt", `{"codecs":[{"name":"VP8","type":"video","payload_type":105,"rtx_payload_type":105}]}`, ErrBadVideo},
		{"no name", `{"codecs":[{"type":"video","payload_type":105}]}`, ErrBadVideo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeSessionUpdate([]byte(tt.in))
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("decode = %v, want %v", err, tt.want)
			}
		})
	}
	if VideoCodecFor([]Codec{{Name: "H264", Type: "video"}, {Name: "VP8", Type: "video"}}) != CodecVP8 ||
		VideoCodecFor([]Codec{{Name: "H264", Type: "video"}}) != CodecH264 || VideoCodecFor(nil) != "" {
		t.Fatal("VideoCodecFor")
	}
}

// FuzzVideoDecoders: the op 12, 14 and 15 decoders never panic, fail only
// with ErrBadPayload or ErrBadVideo, and what they accept is within bounds.
func FuzzVideoDecoders(f *testing.F) {
	for _, s := range []string{
		`{"audio_ssrc":7,"video_ssrc":1000,"rtx_ssrc":1001,"streams":[{"type":"video","rid":"100","ssrc":1000,"active":true,"quality":100}]}`,
		`{"any":100,"1000":50,"pixelCounts":{"1000":2}}`,
		`{"codecs":[{"name":"VP8","type":"video","payload_type":105,"rtx_payload_type":106}]}`,
		`{"streams":[{"type":"video","rid":"50","max_resolution":{"type":"fixed","width":1,"height":1}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		bad := func(err error) {
			if err != nil && !errors.Is(err, ErrBadPayload) && !errors.Is(err, ErrBadVideo) {
				t.Fatalf("error %v is neither ErrBadPayload nor ErrBadVideo", err)
			}
		}
		v, err := DecodeVideo(b, 7, allocated)
		bad(err)
		if err == nil {
			if len(v.Streams) != len(allocated) || v.AudioSSRC != 7 {
				t.Fatalf("accepted %+v", v)
			}
			for i, s := range v.Streams {
				if s.SSRC != allocated[i].SSRC || s.Quality < 0 || s.Quality > MaxQuality || s.Active && v.VideoSSRC == 0 {
					t.Fatalf("accepted stream %+v", s)
				}
			}
		}
		w, err := DecodeMediaSinkWants(b)
		bad(err)
		if err == nil {
			if w.Any < -1 || w.Any > MaxQuality || len(w.BySSRC) > MaxWants || len(w.PixelCounts) > MaxWants {
				t.Fatalf("accepted %+v", w)
			}
			for _, q := range w.BySSRC {
				if q < 0 || q > MaxQuality {
					t.Fatalf("accepted want %d", q)
				}
			}
		}
		u, err := DecodeSessionUpdate(b)
		bad(err)
		if err == nil && len(u.Codecs) > MaxCodecs {
			t.Fatalf("accepted %d codecs", len(u.Codecs))
		}
		var id Identify
		if json.Unmarshal(b, &id) == nil {
			bad(CheckStreams(id.Streams))
		}
	})
}
