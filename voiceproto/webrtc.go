package voiceproto

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The webrtc dialect (shared/docs/webrtc.md §1): a browser speaks the same
// gateway, but in Select Protocol (op 1) sends an SDP fragment of its offer
// and its codecs, and gets an answer fragment in Session Description
// (op 4); ICE, DTLS-SRTP carry the media. A fragment is the offer reduced
// to its ICE credentials, DTLS fingerprint, header extensions and rtpmap
// lines; no m=, mid, ssrc or fmtp. Both sides build their full
// descriptions themselves.

// Bounds on an offer fragment: a browser's is well under 2 KiB.
const (
	MaxFragmentBytes = 16 << 10
	maxFragmentLines = 256
	maxLineBytes     = 1024
)

// Fingerprint is a DTLS certificate fingerprint (RFC 8122 §5).
type Fingerprint struct {
	Algorithm string // only sha-256 is accepted
	Value     []byte // the digest
}

// String is the SDP form "sha-256 AB:CD:…".
func (f Fingerprint) String() string {
	h := strings.ToUpper(hex.EncodeToString(f.Value))
	var b strings.Builder
	b.WriteString(f.Algorithm)
	b.WriteByte(' ')
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

func parseFingerprint(v string) (Fingerprint, error) {
	alg, hexed, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(alg, "sha-256") {
		return Fingerprint{}, fmt.Errorf("%w: fingerprint %.40q: only sha-256 is accepted", ErrBadSDP, v)
	}
	raw, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(hexed), ":", ""))
	if err != nil || len(raw) != 32 {
		return Fingerprint{}, fmt.Errorf("%w: fingerprint %.40q is not 32 hex bytes", ErrBadSDP, hexed)
	}
	return Fingerprint{Algorithm: "sha-256", Value: raw}, nil
}

// Extmap is an RTP header extension mapping (RFC 8285).
type Extmap struct {
	ID  int
	URI string
}

// RTPMap is an a=rtpmap line: a payload type's codec.
type RTPMap struct {
	PayloadType int
	Name        string // as written (opus, VP8, ...)
	ClockRate   int
	Channels    int // 0 when absent
}

// Offer is a webrtc client's offer fragment, parsed.
type Offer struct {
	ICEUfrag, ICEPwd string
	ICEOptions       string
	Fingerprint      Fingerprint
	ExtmapAllowMixed bool
	Extmaps          []Extmap
	RTPMaps          []RTPMap
}

// Opus returns the offered Opus payload type.
func (o Offer) Opus() (int, bool) {
	for _, m := range o.RTPMaps {
		if strings.EqualFold(m.Name, "opus") && m.ClockRate == 48000 {
			return m.PayloadType, true
		}
	}
	return 0, false
}

// Extmap returns the id the offer gives uri.
func (o Offer) Extmap(uri string) (int, bool) {
	for _, e := range o.Extmaps {
		if e.URI == uri {
			return e.ID, true
		}
	}
	return 0, false
}

// ParseOffer parses an offer fragment (lines separated by \n or \r\n).
// Lines it does not know are ignored; a fragment over MaxFragmentBytes, a
// line over 1 KiB, missing or malformed ICE credentials or fingerprint, or
// a malformed extmap or rtpmap is ErrBadSDP with what is wrong.
func ParseOffer(fragment string) (Offer, error) {
	var o Offer
	if len(fragment) > MaxFragmentBytes {
		return o, fmt.Errorf("%w: fragment of %d bytes (at most %d)", ErrBadSDP, len(fragment), MaxFragmentBytes)
	}
	lines := strings.Split(strings.ReplaceAll(fragment, "\r\n", "\n"), "\n")
	if len(lines) > maxFragmentLines {
		return o, fmt.Errorf("%w: %d lines (at most %d)", ErrBadSDP, len(lines), maxFragmentLines)
	}
	hasFP := false
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if len(l) > maxLineBytes {
			return o, fmt.Errorf("%w: a line of %d bytes", ErrBadSDP, len(l))
		}
		attr, ok := strings.CutPrefix(l, "a=")
		if !ok {
			continue
		}
		name, val, _ := strings.Cut(attr, ":")
		var err error
		switch name {
		case "ice-ufrag":
			o.ICEUfrag, err = iceChars(val, 4, "ice-ufrag")
		case "ice-pwd":
			o.ICEPwd, err = iceChars(val, 22, "ice-pwd")
		case "ice-options":
			o.ICEOptions = val
		case "fingerprint":
			o.Fingerprint, err = parseFingerprint(val)
			hasFP = err == nil
		case "extmap-allow-mixed":
			o.ExtmapAllowMixed = true
		case "extmap":
			var e Extmap
			e, err = parseExtmap(val)
			o.Extmaps = append(o.Extmaps, e)
		case "rtpmap":
			var m RTPMap
			m, err = parseRTPMap(val)
			o.RTPMaps = append(o.RTPMaps, m)
		}
		if err != nil {
			return Offer{}, err
		}
	}
	switch {
	case o.ICEUfrag == "" || o.ICEPwd == "":
		return Offer{}, fmt.Errorf("%w: no ice-ufrag or ice-pwd", ErrBadSDP)
	case !hasFP:
		return Offer{}, fmt.Errorf("%w: no fingerprint", ErrBadSDP)
	}
	return o, nil
}

// String is the offer as a fragment (the form OfferFragment reduces a
// full SDP to): ICE credentials and options, fingerprint, extmaps, rtpmaps.
func (o Offer) String() string {
	var b strings.Builder
	b.WriteString("a=ice-ufrag:" + o.ICEUfrag + "\na=ice-pwd:" + o.ICEPwd + "\n")
	if o.ICEOptions != "" {
		b.WriteString("a=ice-options:" + o.ICEOptions + "\n")
	}
	b.WriteString("a=fingerprint:" + o.Fingerprint.String() + "\n")
	if o.ExtmapAllowMixed {
		b.WriteString("a=extmap-allow-mixed\n")
	}
	for _, e := range o.Extmaps {
		b.WriteString("a=extmap:" + strconv.Itoa(e.ID) + " " + e.URI + "\n")
	}
	for _, m := range o.RTPMaps {
		b.WriteString("a=rtpmap:" + strconv.Itoa(m.PayloadType) + " " + m.Name + "/" + strconv.Itoa(m.ClockRate))
		if m.Channels > 0 {
			b.WriteString("/" + strconv.Itoa(m.Channels))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// IsMuxedRTCP reports whether a datagram of an RTP/RTCP-multiplexed
// session (SRTP and SRTCP on one port, as WebRTC has it) is RTCP: its
// second byte, RTCP's packet type, is 192..223 (RFC 5761 §4).
func IsMuxedRTCP(pkt []byte) bool { return len(pkt) >= 2 && pkt[1] >= 192 && pkt[1] <= 223 }

// iceCharset is the alphabet of ICE credentials (RFC 8839 §5.4).
const iceCharset = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"

// RandomICE returns n random ice-chars, for an ICE ufrag (n >= 4) or
// password (n >= 22).
func RandomICE(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	for i := range b {
		b[i] = iceCharset[int(b[i])%len(iceCharset)]
	}
	return string(b)
}

// iceChars checks an ICE credential: ice-chars (RFC 8839 §5.4), min..256.
func iceChars(v string, min int, what string) (string, error) {
	if len(v) < min || len(v) > 256 {
		return "", fmt.Errorf("%w: %s of %d characters", ErrBadSDP, what, len(v))
	}
	for _, c := range v {
		if !strings.ContainsRune(iceCharset, c) {
			return "", fmt.Errorf("%w: %s has %q", ErrBadSDP, what, c)
		}
	}
	return v, nil
}

func parseExtmap(v string) (Extmap, error) {
	id, rest, ok := strings.Cut(v, " ")
	id, _, _ = strings.Cut(id, "/") // a=extmap:3/sendrecv uri
	n, err := strconv.Atoi(id)
	uri, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
	if !ok || err != nil || n < 1 || n > 255 || uri == "" {
		return Extmap{}, fmt.Errorf("%w: extmap %.60q", ErrBadSDP, v)
	}
	return Extmap{ID: n, URI: uri}, nil
}

func parseRTPMap(v string) (RTPMap, error) {
	pt, enc, ok := strings.Cut(v, " ")
	n, err := strconv.Atoi(pt)
	parts := strings.Split(strings.TrimSpace(enc), "/")
	if !ok || err != nil || n < 0 || n > 127 || len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return RTPMap{}, fmt.Errorf("%w: rtpmap %.60q", ErrBadSDP, v)
	}
	m := RTPMap{PayloadType: n, Name: parts[0]}
	if m.ClockRate, err = strconv.Atoi(parts[1]); err != nil || m.ClockRate <= 0 {
		return RTPMap{}, fmt.Errorf("%w: rtpmap clock rate in %.60q", ErrBadSDP, v)
	}
	if len(parts) == 3 {
		if m.Channels, err = strconv.Atoi(parts[2]); err != nil || m.Channels < 1 || m.Channels > 8 {
			return RTPMap{}, fmt.Errorf("%w: rtpmap channels in %.60q", ErrBadSDP, v)
		}
	}
	return m, nil
}

// OfferFragment reduces a full SDP offer to the fragment a browser sends:
// the a=extmap-allow-mixed, a=ice-*, a=fingerprint, a=extmap and a=rtpmap
// lines of its first media section (all sections share them in BUNDLE),
// each once.
func OfferFragment(sdp string) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.ReplaceAll(sdp, "\r\n", "\n"), "\n") {
		l = strings.TrimSpace(l)
		keep := false
		for _, p := range []string{"a=extmap-allow-mixed", "a=ice-", "a=fingerprint:", "a=extmap:", "a=rtpmap:"} {
			keep = keep || strings.HasPrefix(l, p)
		}
		if keep && !seen[l] {
			seen[l] = true
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// PayloadTypeWebRTCOpus is the Opus payload type webrtc clients offer by
// default (Chrome's). The server takes whatever payload type an offer
// gives Opus.
const PayloadTypeWebRTCOpus = 111

// WebRTCSelect is Select Protocol in the webrtc dialect as a browser sends
// it: the offer fragment both as data and as sdp, Opus at opusPT as the one
// codec, and a fresh random rtc_connection_id.
func WebRTCSelect(fragment string, opusPT int) SelectProtocol {
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read does not fail
	return SelectProtocol{
		Protocol:        ProtocolWebRTC,
		Data:            SelectProtocolData{Fragment: fragment},
		SDP:             fragment,
		RTCConnectionID: hex.EncodeToString(id[:]),
		Codecs:          []Codec{{Name: "opus", Type: "audio", Priority: 1000, PayloadType: opusPT}},
	}
}

// Fragment is a webrtc Select Protocol's offer fragment: sdp, or data when
// a client sent no sdp.
func (sp SelectProtocol) Fragment() string {
	if sp.SDP != "" {
		return sp.SDP
	}
	return sp.Data.Fragment
}

// Answer is the server's answer fragment in Session Description: where
// the ICE-lite server listens, its ICE credentials and DTLS fingerprint.
type Answer struct {
	Addr             netip.AddrPort
	ICEUfrag, ICEPwd string
	Fingerprint      Fingerprint
}

// candidatePriority is a host candidate's priority as Discord writes it.
const candidatePriority = 4261412862

// String is the fragment as op 4 carries it.
func (a Answer) String() string {
	ip, port := a.Addr.Addr().Unmap().String(), strconv.Itoa(int(a.Addr.Port()))
	return "m=audio " + port + " ICE/SDP\n" +
		"a=fingerprint:" + a.Fingerprint.String() + "\n" +
		"c=IN IP4 " + ip + "\n" +
		"a=rtcp:" + port + "\n" +
		"a=ice-ufrag:" + a.ICEUfrag + "\n" +
		"a=ice-pwd:" + a.ICEPwd + "\n" +
		a.candidate() + "\n"
}

// candidate is the server's one host candidate line (without its line end).
func (a Answer) candidate() string {
	return "a=candidate:1 1 UDP " + strconv.Itoa(candidatePriority) + " " + a.Addr.Addr().Unmap().String() + " " +
		strconv.Itoa(int(a.Addr.Port())) + " typ host"
}

// ParseAnswer parses an answer fragment (client side).
func ParseAnswer(s string) (Answer, error) {
	var a Answer
	if len(s) > MaxFragmentBytes {
		return a, fmt.Errorf("%w: answer of %d bytes", ErrBadSDP, len(s))
	}
	var ip netip.Addr
	var port int
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		l = strings.TrimSpace(l)
		var err error
		switch {
		case strings.HasPrefix(l, "m=audio "):
			f := strings.Fields(l)
			port, err = strconv.Atoi(f[1])
		case strings.HasPrefix(l, "c=IN IP4 "):
			ip, err = netip.ParseAddr(strings.TrimPrefix(l, "c=IN IP4 "))
		case strings.HasPrefix(l, "a=ice-ufrag:"):
			a.ICEUfrag, err = iceChars(strings.TrimPrefix(l, "a=ice-ufrag:"), 4, "ice-ufrag")
		case strings.HasPrefix(l, "a=ice-pwd:"):
			a.ICEPwd, err = iceChars(strings.TrimPrefix(l, "a=ice-pwd:"), 22, "ice-pwd")
		case strings.HasPrefix(l, "a=fingerprint:"):
			a.Fingerprint, err = parseFingerprint(strings.TrimPrefix(l, "a=fingerprint:"))
		}
		switch {
		case errors.Is(err, ErrBadSDP): // says what is wrong already
			return Answer{}, err
		case err != nil:
			return Answer{}, fmt.Errorf("%w: %.60q: %v", ErrBadSDP, l, err)
		}
	}
	if !ip.IsValid() || port < 1 || port > 65535 || a.ICEUfrag == "" || a.ICEPwd == "" || len(a.Fingerprint.Value) == 0 {
		return Answer{}, fmt.Errorf("%w: answer lacks the address, ICE credentials or fingerprint", ErrBadSDP)
	}
	a.Addr = netip.AddrPortFrom(ip, uint16(port))
	return a, nil
}

// RemoteSection is one m-section of the full remote description a webrtc
// client builds from the server's answer (webrtc.md §1): one per
// transceiver of its offer, in order, each naming the room SSRCs it
// receives (who they are comes from op 5, never from SDP).
type RemoteSection struct {
	MID string
	// Kind is "audio" or "video"; Direction the server's side of the
	// transceiver (recvonly for the client's send-only uplink, sendonly for
	// a receive-only downlink, sendrecv for both).
	Kind, Direction string
	// PayloadType and Codec ("opus/48000/2") are the client's own.
	PayloadType int
	Codec       string
	SSRCs       []uint32
	// Feedback are the RTCP feedback types the server takes for the
	// codec: "nack" (it answers from a cache) and "transport-cc" (it sends
	// transport-wide congestion feedback for the client's uplink).
	Feedback []string
	// Extmaps are the header extensions the client may send, with its own
	// ids: the server reads TransportCC, and on a camera section the MID,
	// RID and repaired RID (webrtc_video.go).
	Extmaps []Extmap
	// RTXPayloadType, when set, is the client's RTX (RFC 4588) payload
	// type for PayloadType: listed after it, with fmtp apt.
	RTXPayloadType int
	// RIDs are the simulcast layers the server receives on this section
	// (the client's sendEncodings rids, RFC 8851/8853): one a=rid:R recv
	// each and a=simulcast:recv R1;R2.
	RIDs []string
}

// TransportCC is the transport-wide congestion control extension's URI.
const TransportCC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

// RemoteDescription is the SDP answer a webrtc client sets as its remote
// description: the server's ICE-lite credentials, fingerprint and one host
// candidate, then sections.
func (a Answer) RemoteDescription(sections []RemoteSection) string {
	ip, port := a.Addr.Addr().Unmap().String(), strconv.Itoa(int(a.Addr.Port()))
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 2 IN IP4 " + ip + "\r\ns=-\r\nt=0 0\r\n")
	b.WriteString("a=group:BUNDLE")
	for _, s := range sections {
		b.WriteString(" " + s.MID)
	}
	b.WriteString("\r\na=ice-lite\r\na=msid-semantic: WMS *\r\n")
	for i, s := range sections {
		pt, pts := strconv.Itoa(s.PayloadType), strconv.Itoa(s.PayloadType)
		rtx := strconv.Itoa(s.RTXPayloadType)
		if s.RTXPayloadType > 0 {
			pts += " " + rtx
		}
		b.WriteString("m=" + s.Kind + " " + port + " UDP/TLS/RTP/SAVPF " + pts + "\r\n")
		b.WriteString("c=IN IP4 " + ip + "\r\na=rtcp:" + port + "\r\n")
		b.WriteString("a=ice-ufrag:" + a.ICEUfrag + "\r\na=ice-pwd:" + a.ICEPwd + "\r\n")
		b.WriteString("a=fingerprint:" + a.Fingerprint.String() + "\r\na=setup:passive\r\n")
		b.WriteString("a=mid:" + s.MID + "\r\na=" + s.Direction + "\r\na=rtcp-mux\r\n")
		b.WriteString("a=rtpmap:" + pt + " " + s.Codec + "\r\n")
		for _, fb := range s.Feedback {
			b.WriteString("a=rtcp-fb:" + pt + " " + fb + "\r\n")
		}
		if s.RTXPayloadType > 0 {
			b.WriteString("a=rtpmap:" + rtx + " rtx/" + strconv.Itoa(VideoClockRate) + "\r\na=fmtp:" + rtx + " apt=" + pt + "\r\n")
		}
		for _, e := range s.Extmaps {
			b.WriteString("a=extmap:" + strconv.Itoa(e.ID) + " " + e.URI + "\r\n")
		}
		for _, rid := range s.RIDs {
			b.WriteString("a=rid:" + rid + " recv\r\n")
		}
		if len(s.RIDs) > 0 {
			b.WriteString("a=simulcast:recv " + strings.Join(s.RIDs, ";") + "\r\n")
		}
		for _, ssrc := range s.SSRCs {
			id := strconv.FormatUint(uint64(ssrc), 10)
			b.WriteString("a=ssrc:" + id + " cname:" + id + "\r\n")
			b.WriteString("a=ssrc:" + id + " msid:" + id + " " + id + "\r\n")
		}
		if i == 0 {
			b.WriteString(a.candidate() + "\r\n")
			b.WriteString("a=end-of-candidates\r\n")
		}
	}
	return b.String()
}
