package voiceproto

// Transport-encryption mode names as they appear in the voice gateway's
// Ready (op 2) "modes" list and in Select Protocol (op 1).
const (
	ModeAES256GCMRTPSize    = "aead_aes256_gcm_rtpsize"
	ModeXChaCha20RTPSize    = "aead_xchacha20_poly1305_rtpsize"
	ModeXSalsa20            = "xsalsa20_poly1305"              // legacy
	ModeXSalsa20Suffix      = "xsalsa20_poly1305_suffix"       // legacy
	ModeXSalsa20Lite        = "xsalsa20_poly1305_lite"         // legacy
	ModeXSalsa20LiteRTPSize = "xsalsa20_poly1305_lite_rtpsize" // legacy
	ModeAES256GCM           = "aead_aes256_gcm"                // legacy, not rtpsize
)

// KeySize is the length of the secret_key in Session Description (op 4).
const KeySize = 32

// TagSize is the length of the Poly1305 or GCM authentication tag.
const TagSize = 16

type modeID uint8

const (
	modeInvalid modeID = iota
	modeAESRTPSize
	modeXChaChaRTPSize
	modeXSalsa
	modeXSalsaSuffix
	modeXSalsaLite
	modeXSalsaLiteRTPSize
	modeAESGCM
)

func parseMode(s string) modeID {
	switch s {
	case ModeAES256GCMRTPSize:
		return modeAESRTPSize
	case ModeXChaCha20RTPSize:
		return modeXChaChaRTPSize
	case ModeXSalsa20:
		return modeXSalsa
	case ModeXSalsa20Suffix:
		return modeXSalsaSuffix
	case ModeXSalsa20Lite:
		return modeXSalsaLite
	case ModeXSalsa20LiteRTPSize:
		return modeXSalsaLiteRTPSize
	case ModeAES256GCM:
		return modeAESGCM
	}
	return modeInvalid
}

// rtpsize reports whether the clear part is the rtpsize header (CSRCs and
// extension preamble) rather than the 12-byte fixed header.
func (m modeID) rtpsize() bool {
	return m == modeAESRTPSize || m == modeXChaChaRTPSize || m == modeXSalsaLiteRTPSize
}

// suffix is the number of nonce bytes appended to the packet.
func (m modeID) suffix() int {
	switch m {
	case modeXSalsa:
		return 0
	case modeXSalsaSuffix:
		return 24
	}
	return 4
}

func (m modeID) secretbox() bool {
	switch m {
	case modeXSalsa, modeXSalsaSuffix, modeXSalsaLite, modeXSalsaLiteRTPSize:
		return true
	}
	return false
}

// Modes returns the modes a server offers in Ready, in preference order:
// AES-256-GCM (fastest with AES-NI), then XChaCha20-Poly1305 (required).
// With legacy it also offers the deprecated modes (discontinued by Discord
// on 2024-11-18; discordgo <= v0.29.0 needs xsalsa20_poly1305). The slice
// is fresh on every call.
func Modes(legacy bool) []string {
	m := []string{ModeAES256GCMRTPSize, ModeXChaCha20RTPSize}
	if legacy {
		m = append(m, ModeXSalsa20LiteRTPSize, ModeAES256GCM, ModeXSalsa20Lite, ModeXSalsa20Suffix, ModeXSalsa20)
	}
	return m
}

// IsLegacy reports whether mode is one of the deprecated modes. It is false
// for the two current modes and for unknown strings.
func IsLegacy(mode string) bool {
	switch parseMode(mode) {
	case modeInvalid, modeAESRTPSize, modeXChaChaRTPSize:
		return false
	}
	return true
}

// Supported reports whether mode is one of the Mode constants.
func Supported(mode string) bool { return parseMode(mode) != modeInvalid }
