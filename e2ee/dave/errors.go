package dave

import "errors"

// Frame layout errors (dave.md §7), returned by CheckFrame and Decrypt.
var (
	// ErrFrameTooShort: the frame is shorter than the minimum DAVE footer.
	ErrFrameTooShort = errors.New("dave: frame too short")
	// ErrNoMarker: the frame does not end with the 0xFAFA marker.
	ErrNoMarker = errors.New("dave: no FA FA marker")
	// ErrSupplementalSize: the supplemental size byte is out of range.
	ErrSupplementalSize = errors.New("dave: bad supplemental size")
	// ErrNonce: the ULEB128 nonce is missing, truncated or exceeds 32 bits.
	ErrNonce = errors.New("dave: bad nonce")
	// ErrRanges: the unencrypted ranges do not decode, are not ascending and
	// non-overlapping, or leave the interleaved part of the frame.
	ErrRanges = errors.New("dave: bad unencrypted ranges")
	// ErrLEB128: a ULEB128 value is truncated or overflows 64 bits.
	ErrLEB128 = errors.New("dave: bad ULEB128")
)

// Encryption and decryption errors. Per-frame drop reasons are counted in
// EncryptorStats and DecryptorStats.
var (
	// ErrNoKey: no key ratchet is installed and passthrough is off.
	ErrNoKey = errors.New("dave: no key ratchet")
	// ErrEmptyFrame: an empty frame cannot be encrypted (its footer would
	// fill the whole frame, which CheckFrame rejects).
	ErrEmptyFrame = errors.New("dave: empty frame")
	// ErrTooManyRanges: the codec produced more unencrypted ranges than the
	// one-byte supplemental size can describe.
	ErrTooManyRanges = errors.New("dave: too many unencrypted ranges")
	// ErrCiphertextValidation: every retry produced an H.264/H.265 start
	// code inside the ciphertext or footer.
	ErrCiphertextValidation = errors.New("dave: ciphertext validation failed")
	// ErrUnencrypted: an unencrypted (non-DAVE) frame arrived while
	// passthrough is not allowed.
	ErrUnencrypted = errors.New("dave: unencrypted frame while passthrough is off")
	// ErrAuth: no key authenticated the frame (wrong key or tampering).
	ErrAuth = errors.New("dave: authentication failed")
	// ErrReplay: the (generation, nonce) was already decrypted or is older
	// than the replay window.
	ErrReplay = errors.New("dave: replayed or too old nonce")
	// ErrGenerationExpired: the frame's key generation was already erased.
	ErrGenerationExpired = errors.New("dave: key generation expired")
	// ErrGenerationTooNew: the frame's key generation is too far ahead of
	// the newest one seen, or of what the ratchet's age allows.
	ErrGenerationTooNew = errors.New("dave: key generation too far ahead")
	// ErrSealedSize: the ciphertext and tag given to FinishSeal do not
	// match the job's plaintext (or the job was not begun).
	ErrSealedSize = errors.New("dave: sealed frame does not match its job")
)

// Key derivation errors.
var (
	// ErrSecretSize: a base secret is not 16 bytes.
	ErrSecretSize = errors.New("dave: base secret must be 16 bytes")
	// ErrNilExporter: no exporter was given.
	ErrNilExporter = errors.New("dave: nil exporter")
)

// Verification code errors (dave.md §8).
var (
	// ErrCodeParams: bad length/group size or too little input data.
	ErrCodeParams = errors.New("dave: bad displayable code parameters")
	// ErrFingerprintKey: empty key or unsupported fingerprint version.
	ErrFingerprintKey = errors.New("dave: bad fingerprint input")
)

// Opcode codec errors (dave.md §3).
var (
	// ErrShortMessage: a gateway message ends before its fields.
	ErrShortMessage = errors.New("dave: message too short")
	// ErrUnknownOpcode: not a DAVE opcode, or not one of the expected kind.
	ErrUnknownOpcode = errors.New("dave: unknown opcode")
	// ErrWrongDirection: a server-to-client opcode in a client frame or the
	// reverse.
	ErrWrongDirection = errors.New("dave: opcode sent in the wrong direction")
	// ErrVarint: an MLS variable-length integer is invalid (top bits 11,
	// non-minimal, or truncated).
	ErrVarint = errors.New("dave: bad MLS varint")
	// ErrTrailingData: bytes follow the end of a message.
	ErrTrailingData = errors.New("dave: trailing data")
	// ErrField: a field has an invalid value (e.g. proposals op not 0 or 1).
	ErrField = errors.New("dave: invalid field value")
)

// Participant errors.
var (
	// ErrConfig: a ParticipantConfig misses a required field.
	ErrConfig = errors.New("dave: invalid participant config")
)
