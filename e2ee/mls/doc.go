// Package mls implements the subset of Messaging Layer Security (RFC 9420)
// that Discord's DAVE protocol needs (shared/docs/dave.md), on the Go
// standard library only, for one cipher suite:
// MLS_128_DHKEMP256_AES128GCM_SHA256_P256 (suite 2).
//
// Layout:
//
//   - codec.go: TLS presentation language with MLS varint vector headers
//     (RFC 9420 §2.1.2). Every decoder returns an error, never panics.
//   - crypto.go: ExpandWithLabel, DeriveSecret, RefHash, SignWithLabel,
//     EncryptWithLabel (RFC 9420 §5).
//   - treemath.go, tree.go: the array-based ratchet tree, resolutions, tree
//     hashes and parent hashes (RFC 9420 §4, §7).
//   - treekem.go: UpdatePath creation and application (RFC 9420 §7.4-§7.6).
//   - keyschedule.go: GroupContext, epoch secrets, PSKs, exporter and
//     transcript hashes (RFC 9420 §8).
//   - leafnode.go, keypackage.go: credentials, leaf nodes and key packages
//     (RFC 9420 §5.3, §7.2, §10).
//   - proposal.go, framing.go: proposals, commits, PublicMessage,
//     PrivateMessage and MLSMessage (RFC 9420 §6, §12).
//   - welcome.go: GroupInfo, GroupSecrets and Welcome (RFC 9420 §12.4.3).
//   - group.go, commit.go: the participant state machine [Group].
//   - external.go: the delivery service's external sender
//     ([ExternalSender], RFC 9420 §12.1.8.1) that signs Add and Remove
//     proposals without any group secret.
//   - server.go: [ServerGroupView], the delivery service's key-less roster
//     that validates commits (dave.md §5) and splits Welcomes.
//
// Handshake messages are always PublicMessage (wire format 1), as DAVE
// requires; PrivateMessage is decoded but not processed.
package mls
