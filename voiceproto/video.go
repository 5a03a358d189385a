package voiceproto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Video signalling on the voice gateway (shared/docs/video.md §1): the
// streams of Identify and Ready, op 12 Video, op 14 Session Update and op 15
// Media Sink Wants. Decoders are strict: a payload that is not the right
// JSON shape is ErrBadPayload (close 4002), one whose values are out of
// range or inconsistent is ErrBadVideo (close 4020).

// Bounds of the video signalling.
const (
	// MaxStreams bounds the streams (simulcast layers) one client declares.
	MaxStreams = 4
	// MaxRIDLen bounds a stream's rid.
	MaxRIDLen = 16
	// MaxQuality is the highest stream quality and sink want (percent).
	MaxQuality = 100
	// MaxBitrate bounds a stream's max_bitrate (bits per second).
	MaxBitrate = 100_000_000
	// MaxFramerate bounds a stream's max_framerate.
	MaxFramerate = 240
	// MaxDimension bounds a stream's max_resolution width and height.
	MaxDimension = 8192
	// MaxWants bounds the entries of one op 15 (per-SSRC wants and pixel
	// counts each).
	MaxWants = 256
	// MaxCodecs bounds the codecs of one op 14.
	MaxCodecs = 16
)

// Stream types.
const (
	StreamVideo  = "video"
	StreamScreen = "screen"
)

// Resolution types of a stream's max_resolution.
const (
	ResolutionFixed  = "fixed"
	ResolutionSource = "source"
)

// Video clock and payload types (Discord's dynamic payload types, as the
// desktop client and Discord-video-stream use them).
const (
	VideoClockRate = 90000
	// PayloadTypeH264 and PayloadTypeVP8 are the media payload types;
	// each codec's RTX (RFC 4588) payload type is one more.
	PayloadTypeH264 = 101
	PayloadTypeVP8  = 105
)

// Stream is one video stream (a simulcast layer) of Identify, Ready and op
// 12. A client declares Type, RID, Quality and the limits in Identify; the
// server answers SSRC and RTXSSRC (and Active) in Ready; op 12 carries the
// full set with Active saying which layers the client sends.
type Stream struct {
	Type          string      `json:"type"`
	RID           string      `json:"rid"`
	Quality       int         `json:"quality"`
	Active        bool        `json:"active"`
	MaxBitrate    int         `json:"max_bitrate,omitempty"`
	MaxFramerate  int         `json:"max_framerate,omitempty"`
	MaxResolution *Resolution `json:"max_resolution,omitempty"`
	SSRC          uint32      `json:"ssrc,omitempty"`
	RTXSSRC       uint32      `json:"rtx_ssrc,omitempty"`
}

// Resolution is a stream's max_resolution.
type Resolution struct {
	Type   string `json:"type"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// RTX returns the stream's retransmission SSRC: rtx_ssrc, or ssrc+1 when
// absent (video.md §1).
func (s Stream) RTX() uint32 {
	if s.RTXSSRC != 0 {
		return s.RTXSSRC
	}
	return s.SSRC + 1
}

// checkStream validates one stream's declared fields.
func checkStream(i int, s Stream) error {
	switch {
	case s.Type != StreamVideo && s.Type != StreamScreen:
		return fmt.Errorf("%w: stream %d: type %q is not video or screen", ErrBadVideo, i, s.Type)
	case len(s.RID) > MaxRIDLen:
		return fmt.Errorf("%w: stream %d: rid longer than %d", ErrBadVideo, i, MaxRIDLen)
	case s.Quality < 0 || s.Quality > MaxQuality:
		return fmt.Errorf("%w: stream %d: quality %d not in 0-%d", ErrBadVideo, i, s.Quality, MaxQuality)
	case s.MaxBitrate < 0 || s.MaxBitrate > MaxBitrate:
		return fmt.Errorf("%w: stream %d: max_bitrate %d out of range", ErrBadVideo, i, s.MaxBitrate)
	case s.MaxFramerate < 0 || s.MaxFramerate > MaxFramerate:
		return fmt.Errorf("%w: stream %d: max_framerate %d out of range", ErrBadVideo, i, s.MaxFramerate)
	}
	if r := s.MaxResolution; r != nil {
		if r.Type != ResolutionFixed && r.Type != ResolutionSource {
			return fmt.Errorf("%w: stream %d: max_resolution type %q", ErrBadVideo, i, r.Type)
		}
		if r.Width < 0 || r.Width > MaxDimension || r.Height < 0 || r.Height > MaxDimension {
			return fmt.Errorf("%w: stream %d: max_resolution %dx%d out of range", ErrBadVideo, i, r.Width, r.Height)
		}
	}
	return nil
}

// CheckStreams validates the streams a client declares in Identify: at most
// MaxStreams, each well-formed, rids unique. SSRCs a client puts there are
// ignored (the server allocates them).
func CheckStreams(streams []Stream) error {
	if len(streams) > MaxStreams {
		return fmt.Errorf("%w: %d streams, at most %d", ErrBadVideo, len(streams), MaxStreams)
	}
	for i, s := range streams {
		if err := checkStream(i, s); err != nil {
			return err
		}
		for _, o := range streams[:i] {
			if o.RID == s.RID {
				return fmt.Errorf("%w: stream %d: rid %q repeated", ErrBadVideo, i, s.RID)
			}
		}
	}
	return nil
}

// Video is op 12. From a client: its audio SSRC, the SSRC of its first
// video stream (0: no video), that stream's RTX SSRC, and its streams, the
// authoritative layer set (Active: sent now). From the server to the
// others: the same with UserID.
type Video struct {
	UserID    ID       `json:"user_id,omitempty"`
	AudioSSRC uint32   `json:"audio_ssrc"`
	VideoSSRC uint32   `json:"video_ssrc"`
	RTXSSRC   uint32   `json:"rtx_ssrc"`
	Streams   []Stream `json:"streams"`
}

// DecodeVideo decodes a client's op 12 and checks it against what the
// server allocated to the client: audio is its audio SSRC, allocated its
// streams as Ready answered them. Each stream must be one allocated
// (matched by SSRC, or by rid when the SSRC is absent) with the allocated
// type; video_ssrc must be 0 or the first allocated stream's SSRC. The
// result carries the allocated streams with the client's Active, Quality
// and limits, in allocation order.
func DecodeVideo(b []byte, audio uint32, allocated []Stream) (Video, error) {
	var v Video
	if err := decodeStrict(b, &v); err != nil {
		return Video{}, err
	}
	if v.UserID != "" {
		return Video{}, fmt.Errorf("%w: op 12 from a client carries user_id", ErrBadVideo)
	}
	if v.AudioSSRC != 0 && v.AudioSSRC != audio {
		return Video{}, fmt.Errorf("%w: audio_ssrc %d is not the session's %d", ErrBadVideo, v.AudioSSRC, audio)
	}
	if len(v.Streams) > MaxStreams {
		return Video{}, fmt.Errorf("%w: %d streams, at most %d", ErrBadVideo, len(v.Streams), MaxStreams)
	}
	if v.VideoSSRC != 0 && (len(allocated) == 0 || v.VideoSSRC != allocated[0].SSRC) {
		return Video{}, fmt.Errorf("%w: video_ssrc %d was not allocated to this session", ErrBadVideo, v.VideoSSRC)
	}
	if v.RTXSSRC != 0 && (len(allocated) == 0 || v.RTXSSRC != allocated[0].RTX()) {
		return Video{}, fmt.Errorf("%w: rtx_ssrc %d was not allocated to this session", ErrBadVideo, v.RTXSSRC)
	}
	out := slices.Clone(allocated)
	for i := range out {
		out[i].Active = false
	}
	seen := make([]bool, len(allocated))
	for i, s := range v.Streams {
		if err := checkStream(i, s); err != nil {
			return Video{}, err
		}
		k := slices.IndexFunc(allocated, func(a Stream) bool {
			if s.SSRC != 0 {
				return a.SSRC == s.SSRC
			}
			return a.RID == s.RID
		})
		if k < 0 {
			return Video{}, fmt.Errorf("%w: stream %d (ssrc %d, rid %q) was not allocated to this session", ErrBadVideo, i, s.SSRC, s.RID)
		}
		if seen[k] {
			return Video{}, fmt.Errorf("%w: stream %d repeats ssrc %d", ErrBadVideo, i, allocated[k].SSRC)
		}
		seen[k] = true
		if s.RTXSSRC != 0 && s.RTXSSRC != allocated[k].RTX() {
			return Video{}, fmt.Errorf("%w: stream %d: rtx_ssrc %d was not allocated", ErrBadVideo, i, s.RTXSSRC)
		}
		if s.Type != allocated[k].Type {
			return Video{}, fmt.Errorf("%w: stream %d: type %q, allocated %q", ErrBadVideo, i, s.Type, allocated[k].Type)
		}
		a := &out[k]
		a.Active = s.Active && v.VideoSSRC != 0
		a.Quality = s.Quality
		a.MaxBitrate, a.MaxFramerate, a.MaxResolution = s.MaxBitrate, s.MaxFramerate, s.MaxResolution
	}
	v.Streams = out
	if v.VideoSSRC == 0 {
		v.RTXSSRC = 0
	} else if v.RTXSSRC == 0 {
		v.RTXSSRC = allocated[0].RTX()
	}
	v.AudioSSRC = audio
	return v, nil
}

// PickStream chooses the stream a receiver that wants quality want (0-100)
// gets: the highest quality at or below want among the active streams, or
// the lowest active one if all are above it; -1 for want 0 or no active
// stream. This is what a want means on both ends (the SFU's forwarding and
// the gateway's op 15 to senders).
func PickStream(streams []Stream, want int) int {
	if want <= 0 {
		return -1
	}
	best, lowest := -1, -1
	for i, s := range streams {
		if !s.Active {
			continue
		}
		if s.Quality <= want && (best < 0 || s.Quality > streams[best].Quality) {
			best = i
		}
		if lowest < 0 || s.Quality < streams[lowest].Quality {
			lowest = i
		}
	}
	if best < 0 {
		return lowest
	}
	return best
}

// MediaSinkWants is op 15 in both directions: a receiver's wanted quality
// (0-100, 0 = none) per sender SSRC and for any other ("any"), with optional
// pixel counts; from the server to a sender, the quality wanted of each of
// its streams (0: nobody watches it; pause it).
// Wire: {"<ssrc>": q, "any": q, "pixelCounts": {"<ssrc>": n}}.
type MediaSinkWants struct {
	// Any is the want for senders not in BySSRC; -1 when absent.
	Any         int
	BySSRC      map[uint32]int
	PixelCounts map[uint32]float64
}

// DefaultWant is the quality a receiver gets of a sender its op 15 does not
// name (or before any op 15): the best.
const DefaultWant = MaxQuality

// Want returns the quality wanted of a sender known by any of ssrcs (its
// audio SSRC, its video SSRCs): the first named, else Any, else DefaultWant.
func (w *MediaSinkWants) Want(ssrcs ...uint32) int {
	if w == nil {
		return DefaultWant
	}
	for _, s := range ssrcs {
		if q, ok := w.BySSRC[s]; ok {
			return q
		}
	}
	if w.Any >= 0 {
		return w.Any
	}
	return DefaultWant
}

// MarshalJSON writes the flat wire object.
func (w MediaSinkWants) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(w.BySSRC)+2)
	for s, q := range w.BySSRC {
		m[strconv.FormatUint(uint64(s), 10)] = q
	}
	if w.Any >= 0 {
		m["any"] = w.Any
	}
	if len(w.PixelCounts) > 0 {
		pc := make(map[string]float64, len(w.PixelCounts))
		for s, n := range w.PixelCounts {
			pc[strconv.FormatUint(uint64(s), 10)] = n
		}
		m["pixelCounts"] = pc
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the wire object: keys are decimal SSRCs (1 to
// 2^32-1), "any" or "pixelCounts"; wants are integers 0-100; pixel counts
// finite and non-negative; at most MaxWants of each. Unknown keys are
// ErrBadVideo, a wrong JSON shape ErrBadPayload.
func (w *MediaSinkWants) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return fmt.Errorf("%w: media sink wants is not an object", ErrBadPayload)
	}
	out := MediaSinkWants{Any: -1}
	for k, v := range raw {
		switch k {
		case "any":
			q, err := decodeWant(v)
			if err != nil {
				return fmt.Errorf("any: %w", err)
			}
			out.Any = q
		case "pixelCounts":
			var pc map[string]float64
			if err := json.Unmarshal(v, &pc); err != nil {
				return fmt.Errorf("%w: pixelCounts: %v", ErrBadPayload, err)
			}
			if len(pc) > MaxWants {
				return fmt.Errorf("%w: %d pixel counts, at most %d", ErrBadVideo, len(pc), MaxWants)
			}
			for ks, n := range pc {
				s, err := parseSSRCKey(ks)
				if err != nil {
					return err
				}
				if n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
					return fmt.Errorf("%w: pixel count %v", ErrBadVideo, n)
				}
				if out.PixelCounts == nil {
					out.PixelCounts = map[uint32]float64{}
				}
				out.PixelCounts[s] = n
			}
		default:
			s, err := parseSSRCKey(k)
			if err != nil {
				return err
			}
			q, err := decodeWant(v)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			if out.BySSRC == nil {
				out.BySSRC = map[uint32]int{}
			}
			if len(out.BySSRC) >= MaxWants {
				return fmt.Errorf("%w: more than %d wants", ErrBadVideo, MaxWants)
			}
			out.BySSRC[s] = q
		}
	}
	*w = out
	return nil
}

// decodeWant reads one want: an integer 0-100.
func decodeWant(v json.RawMessage) (int, error) {
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		return 0, fmt.Errorf("%w: want is not a number", ErrBadPayload)
	}
	if f != math.Trunc(f) || f < 0 || f > MaxQuality {
		return 0, fmt.Errorf("%w: want %v not an integer 0-%d", ErrBadVideo, f, MaxQuality)
	}
	return int(f), nil
}

// parseSSRCKey reads a decimal SSRC key.
func parseSSRCKey(k string) (uint32, error) {
	s, err := strconv.ParseUint(k, 10, 32)
	if err != nil || s == 0 || k[0] == '0' || k[0] == '+' {
		return 0, fmt.Errorf("%w: key %q is not an SSRC, \"any\" or \"pixelCounts\"", ErrBadVideo, truncate(k, 24))
	}
	return uint32(s), nil
}

// DecodeMediaSinkWants decodes a client's op 15.
func DecodeMediaSinkWants(b []byte) (MediaSinkWants, error) {
	var w MediaSinkWants
	if err := w.UnmarshalJSON(b); err != nil {
		return MediaSinkWants{}, err
	}
	return w, nil
}

// SessionUpdate is op 14. From a client: the codecs it can send and decode
// (Codecs). From the server: the codecs of the call.
type SessionUpdate struct {
	Codecs         []Codec `json:"codecs,omitempty"`
	AudioCodec     string  `json:"audio_codec,omitempty"`
	VideoCodec     string  `json:"video_codec,omitempty"`
	MediaSessionID string  `json:"media_session_id,omitempty"`
}

// Codec names (Codec.Name) Parley knows.
const (
	CodecOpus = "opus"
	CodecVP8  = "VP8"
	CodecH264 = "H264"
)

// DecodeSessionUpdate decodes a client's op 14: at most MaxCodecs codecs,
// each with a name, type audio or video, and dynamic payload types
// (96-127) that no two codecs share.
func DecodeSessionUpdate(b []byte) (SessionUpdate, error) {
	var u SessionUpdate
	if err := decodeStrict(b, &u); err != nil {
		return SessionUpdate{}, err
	}
	if len(u.Codecs) > MaxCodecs {
		return SessionUpdate{}, fmt.Errorf("%w: %d codecs, at most %d", ErrBadVideo, len(u.Codecs), MaxCodecs)
	}
	used := map[int]bool{}
	for i, c := range u.Codecs {
		switch {
		case c.Name == "" || len(c.Name) > 16:
			return SessionUpdate{}, fmt.Errorf("%w: codec %d: name", ErrBadVideo, i)
		case c.Type != "audio" && c.Type != "video":
			return SessionUpdate{}, fmt.Errorf("%w: codec %d: type %q", ErrBadVideo, i, truncate(c.Type, 16))
		case c.PayloadType < 96 || c.PayloadType > 127 || used[c.PayloadType]:
			return SessionUpdate{}, fmt.Errorf("%w: codec %d: payload_type %d", ErrBadVideo, i, c.PayloadType)
		case c.RTXPayloadType != 0 && (c.RTXPayloadType < 96 || c.RTXPayloadType > 127 || used[c.RTXPayloadType] || c.RTXPayloadType == c.PayloadType):
			return SessionUpdate{}, fmt.Errorf("%w: codec %d: rtx_payload_type %d", ErrBadVideo, i, c.RTXPayloadType)
		}
		used[c.PayloadType] = true
		if c.RTXPayloadType != 0 {
			used[c.RTXPayloadType] = true
		}
	}
	return u, nil
}

// VideoCodecFor picks the call's video codec for a client that offered
// codecs: VP8, then H264, the first the client lists as video; "" if none.
func VideoCodecFor(codecs []Codec) string {
	for _, want := range []string{CodecVP8, CodecH264} {
		for _, c := range codecs {
			if c.Type == "video" && c.Name == want {
				return want
			}
		}
	}
	return ""
}

// decodeStrict decodes a JSON object into v, refusing trailing data;
// failures are ErrBadPayload.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", ErrBadPayload)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
