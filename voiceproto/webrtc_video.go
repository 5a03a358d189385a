package voiceproto

import "strings"

// Video in the webrtc dialect (shared/docs/video.md §1, webrtc.md §1).
//
// A browser announces its camera like a native client: Identify carries
// its streams (one per simulcast layer, rid and quality), Ready answers an
// SSRC and RTX SSRC for each, op 12 says which it sends. Its RTP, though,
// carries SSRCs the browser chose itself; Parley maps them by rid:
//
//   - the browser's sendEncodings rids are the rids of its Identify
//     streams (Parley's web client uses "50" at half resolution, quality
//     50, and "100" at full, quality 100: CameraStreams);
//   - the remote description's camera section lists those rids
//     (a=rid:R recv, a=simulcast:recv) and the MID, RID and repaired-RID
//     header extensions, so the browser writes the rid into its packets;
//   - the server maps each browser SSRC to the allocated stream whose rid
//     its RID extension names (an RTX SSRC through the repaired RID) and
//     forwards the packet with the allocated SSRC and the room's payload
//     type (PayloadTypeVP8), as a native client would have sent it;
//   - toward a browser, every video sender is one recvonly m-section on
//     the browser's side (the server's sendonly) listing the sender's
//     first stream SSRC, the one SSRC video is forwarded on, in the
//     browser's own VP8 payload type.
//
// A packet whose SSRC the server has not mapped yet and which carries no
// RID is dropped (Chromium writes the RID until RTCP acknowledges the
// SSRC).

// Header extension URIs a camera section negotiates (RFC 8843 §15, RFC 8852).
const (
	ExtMID         = "urn:ietf:params:rtp-hdrext:sdes:mid"
	ExtRID         = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
	ExtRepairedRID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
)

// CameraRIDs are the web client's simulcast rids, lowest layer first: the
// rid is the stream's quality (percent of full resolution).
var CameraRIDs = []string{"50", "100"}

// CameraStreams is what a webrtc client with a simulcast camera declares
// in Identify: one video stream per CameraRIDs entry, rid and quality
// alike.
func CameraStreams() []Stream {
	return []Stream{
		{Type: StreamVideo, RID: "50", Quality: 50},
		{Type: StreamVideo, RID: "100", Quality: 100},
	}
}

// VideoCodecPT is a webrtc client's payload types of one video codec.
type VideoCodecPT struct {
	Name           string // VP8, H264
	PayloadType    int
	RTXPayloadType int // 0: none
}

// VideoCodec returns the payload types a webrtc client gives video codec
// name (VP8 or H264): from Select Protocol's codecs (which carry the RTX
// payload type), else from the offer's rtpmaps (without RTX: a fragment has
// no fmtp apt). A codec entry whose payload types are out of the dynamic
// range, equal, or given to another codec in the offer is not taken.
func VideoCodec(o Offer, codecs []Codec, name string) (VideoCodecPT, bool) {
	other := func(pt int) bool { // the offer maps pt to something else
		for _, m := range o.RTPMaps {
			if m.PayloadType == pt && !strings.EqualFold(m.Name, name) && !strings.EqualFold(m.Name, "rtx") {
				return true
			}
		}
		return false
	}
	for _, c := range codecs {
		if !strings.EqualFold(c.Name, name) || c.Type != "video" {
			continue
		}
		if !dynamicPT(c.PayloadType) || other(c.PayloadType) {
			continue
		}
		rtx := c.RTXPayloadType
		if rtx != 0 && (!dynamicPT(rtx) || rtx == c.PayloadType || other(rtx)) {
			rtx = 0
		}
		return VideoCodecPT{Name: name, PayloadType: c.PayloadType, RTXPayloadType: rtx}, true
	}
	for _, m := range o.RTPMaps {
		if strings.EqualFold(m.Name, name) && m.ClockRate == VideoClockRate && dynamicPT(m.PayloadType) {
			return VideoCodecPT{Name: name, PayloadType: m.PayloadType}, true
		}
	}
	return VideoCodecPT{}, false
}

// dynamicPT: a payload type a browser uses for video (RFC 3551 §6: 96-127;
// Chromium also takes 35-63 when those run out).
func dynamicPT(pt int) bool { return (pt >= 96 && pt <= 127) || (pt >= 35 && pt <= 63) }

// RID reads the value of a RID or repaired-RID header extension (RFC 8852
// §3, RFC 8851 rid-id: letters, digits, '-' and '_'), at most MaxRIDLen.
func RID(v []byte) (string, bool) {
	if len(v) == 0 || len(v) > MaxRIDLen {
		return "", false
	}
	for _, c := range v {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return "", false
		}
	}
	return string(v), true
}
