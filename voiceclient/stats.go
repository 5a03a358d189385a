package voiceclient

import (
	"sync/atomic"
	"time"
)

type counters struct {
	framesSent     atomic.Uint64
	bytesSent      atomic.Uint64
	framesReceived atomic.Uint64
	bytesReceived  atomic.Uint64
	decryptErrors  atomic.Uint64
	unknownSSRC    atomic.Uint64
	earlyFrames    atomic.Uint64
	daveDropped    atomic.Uint64
	daveWaits      atomic.Uint64
	daveNotReady   atomic.Uint64
	ignored        atomic.Uint64
	udpErrors      atomic.Uint64
	badMessages    atomic.Uint64

	videoFramesSent     atomic.Uint64
	videoFramesReceived atomic.Uint64
	videoKeyframes      atomic.Uint64
	videoGaps           atomic.Uint64

	videoRTXReceived     atomic.Uint64
	videoNACKed          atomic.Uint64
	videoPLIReceived     atomic.Uint64
	videoPLISent         atomic.Uint64
	videoKeyframesForced atomic.Uint64
	videoSenderReports   atomic.Uint64
	videoReceiverReports atomic.Uint64
	videoLayerPauses     atomic.Uint64
	videoLayerResumes    atomic.Uint64
	rtcpReceived         atomic.Uint64
	rtcpMalformed        atomic.Uint64
}

// Stats are a Conn's counters since Dial.
type Stats struct {
	FramesSent     uint64 `json:"frames_sent"`
	BytesSent      uint64 `json:"bytes_sent"`
	FramesReceived uint64 `json:"frames_received"`
	BytesReceived  uint64 `json:"bytes_received"`
	// DecryptErrors counts RTP datagrams that failed authentication.
	DecryptErrors uint64 `json:"decrypt_errors"`
	// UnknownSSRC counts frames dropped because the server never announced
	// their SSRC (op 5) and the hold queue was full.
	UnknownSSRC uint64 `json:"unknown_ssrc"`
	// EarlyFrames counts frames that arrived before the server's op 5 for
	// their SSRC and were held until it came. A conforming server announces
	// an SSRC before forwarding its audio, and clients such as
	// @discordjs/voice drop such frames, so this should stay 0.
	EarlyFrames uint64 `json:"early_frames"`
	// DAVEDropped counts frames DAVE could not decrypt (no key yet,
	// authentication or replay failure); see Conn.DAVE for details.
	DAVEDropped uint64 `json:"dave_dropped"`
	// DAVEWaits counts sends that waited for DAVE to settle (a sender key
	// for the room's group) before going out; DAVENotReady those that gave
	// up after 5 s and returned ErrDAVENotReady.
	DAVEWaits    uint64 `json:"dave_waits"`
	DAVENotReady uint64 `json:"dave_not_ready"`
	// Ignored counts keepalives, non-media and unclassifiable datagrams.
	Ignored     uint64 `json:"ignored"`
	UDPErrors   uint64 `json:"udp_errors"`
	BadMessages uint64 `json:"bad_messages"`
	// Video: frames sent and received (reassembled and decrypted), of
	// which keyframes, and frames lost to a missing packet.
	VideoFramesSent     uint64 `json:"video_frames_sent"`
	VideoFramesReceived uint64 `json:"video_frames_received"`
	VideoKeyframes      uint64 `json:"video_keyframes"`
	VideoGaps           uint64 `json:"video_gaps"`
	// Video feedback: RTX packets received, SNs NACKed, keyframe
	// requests (PLI, FIR) received and sent (as a receiver: a stream with
	// nothing decodable) and keyframes sent early for them (or for a
	// resumed layer), sender reports (one per layer) and receiver
	// reports sent, layers paused and resumed by the server's op 15,
	// RTCP received and RTCP that did not parse.
	VideoRTXReceived     uint64        `json:"video_rtx_received"`
	VideoNACKed          uint64        `json:"video_nacked"`
	VideoPLIReceived     uint64        `json:"video_pli_received"`
	VideoPLISent         uint64        `json:"video_pli_sent"`
	VideoKeyframesForced uint64        `json:"video_keyframes_forced"`
	VideoSenderReports   uint64        `json:"video_sender_reports"`
	VideoReceiverReports uint64        `json:"video_receiver_reports"`
	VideoLayerPauses     uint64        `json:"video_layer_pauses"`
	VideoLayerResumes    uint64        `json:"video_layer_resumes"`
	RTCPReceived         uint64        `json:"rtcp_received"`
	RTCPMalformed        uint64        `json:"rtcp_malformed"`
	HeartbeatRTT         time.Duration `json:"heartbeat_rtt_ns"`
	ConnectedSince       time.Time     `json:"connected_since"`
}

// Stats returns a snapshot of the counters.
func (c *Conn) Stats() Stats {
	s := &c.stats
	return Stats{
		FramesSent:           s.framesSent.Load(),
		BytesSent:            s.bytesSent.Load(),
		FramesReceived:       s.framesReceived.Load(),
		BytesReceived:        s.bytesReceived.Load(),
		DecryptErrors:        s.decryptErrors.Load(),
		UnknownSSRC:          s.unknownSSRC.Load(),
		EarlyFrames:          s.earlyFrames.Load(),
		DAVEDropped:          s.daveDropped.Load(),
		DAVEWaits:            s.daveWaits.Load(),
		DAVENotReady:         s.daveNotReady.Load(),
		Ignored:              s.ignored.Load(),
		UDPErrors:            s.udpErrors.Load(),
		BadMessages:          s.badMessages.Load(),
		VideoFramesSent:      s.videoFramesSent.Load(),
		VideoFramesReceived:  s.videoFramesReceived.Load(),
		VideoKeyframes:       s.videoKeyframes.Load(),
		VideoGaps:            s.videoGaps.Load(),
		VideoRTXReceived:     s.videoRTXReceived.Load(),
		VideoNACKed:          s.videoNACKed.Load(),
		VideoPLIReceived:     s.videoPLIReceived.Load(),
		VideoPLISent:         s.videoPLISent.Load(),
		VideoKeyframesForced: s.videoKeyframesForced.Load(),
		VideoSenderReports:   s.videoSenderReports.Load(),
		VideoReceiverReports: s.videoReceiverReports.Load(),
		VideoLayerPauses:     s.videoLayerPauses.Load(),
		VideoLayerResumes:    s.videoLayerResumes.Load(),
		RTCPReceived:         s.rtcpReceived.Load(),
		RTCPMalformed:        s.rtcpMalformed.Load(),
		HeartbeatRTT:         time.Duration(c.lastRTT.Load()),
		ConnectedSince:       c.joinedAt,
	}
}
