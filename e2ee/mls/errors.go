package mls

import "errors"

// Sentinel errors. Functions wrap them with detail; match with errors.Is.
var (
	// ErrTruncated: the input ended inside a structure.
	ErrTruncated = errors.New("mls: truncated input")
	// ErrMalformed: an encoding rule was broken (bad varint, enum, optional byte).
	ErrMalformed = errors.New("mls: malformed input")
	// ErrTrailingData: bytes remained after a complete structure.
	ErrTrailingData = errors.New("mls: trailing data")
	// ErrUnsupported: a version, cipher suite, credential or feature this package does not implement.
	ErrUnsupported = errors.New("mls: unsupported")
	// ErrInvalidSignature: a signature did not verify.
	ErrInvalidSignature = errors.New("mls: invalid signature")
	// ErrInvalidKey: a public or private key could not be parsed.
	ErrInvalidKey = errors.New("mls: invalid key")
	// ErrDecrypt: an HPKE or AEAD ciphertext failed to open.
	ErrDecrypt = errors.New("mls: decryption failed")
	// ErrWrongGroup: a message names another group.
	ErrWrongGroup = errors.New("mls: wrong group")
	// ErrWrongEpoch: a message is for another epoch.
	ErrWrongEpoch = errors.New("mls: wrong epoch")
	// ErrInvalidTag: a membership or confirmation tag did not match.
	ErrInvalidTag = errors.New("mls: invalid tag")
	// ErrUnknownProposal: a commit references a proposal that is not cached.
	ErrUnknownProposal = errors.New("mls: unknown proposal reference")
	// ErrInvalidProposal: a proposal is not valid in the group's current state.
	ErrInvalidProposal = errors.New("mls: invalid proposal")
	// ErrInvalidCommit: a commit is not valid (missing path, bad sender, ...).
	ErrInvalidCommit = errors.New("mls: invalid commit")
	// ErrInvalidTree: the ratchet tree failed validation (hashes, parent hashes, leaves).
	ErrInvalidTree = errors.New("mls: invalid ratchet tree")
	// ErrInvalidKeyPackage: a key package failed validation.
	ErrInvalidKeyPackage = errors.New("mls: invalid key package")
	// ErrNotForMe: a Welcome holds no secrets for this key package.
	ErrNotForMe = errors.New("mls: welcome not addressed to this key package")
	// ErrUnknownMember: a leaf index or identity is not in the group.
	ErrUnknownMember = errors.New("mls: unknown member")
	// ErrNoPendingCommit: there is no pending own commit.
	ErrNoPendingCommit = errors.New("mls: no pending commit")
	// ErrRemoved: a commit removed this member; discard the group.
	ErrRemoved = errors.New("mls: removed from group")
	// ErrRejected: the delivery service's commit validation refused a commit (dave.md §5).
	ErrRejected = errors.New("mls: commit rejected")
)
