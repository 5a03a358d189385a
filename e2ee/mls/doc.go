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
//   - secrettree.go, privatemessage.go: the secret tree and PrivateMessage
//     unprotection (RFC 9420 §9, §6.3), checked against vectors only.
//   - group.go, commit.go, pendingcommit.go: the participant state machine
//     [Group]: create, join from a Welcome, cache proposals, create and
//     process commits, exporter and epoch_authenticator.
//   - external.go: the delivery service's external sender
//     ([ExternalSender], RFC 9420 §12.1.8.1) that signs Add and Remove
//     proposals without any group secret.
//   - server.go: [ServerGroupView], the delivery service's key-less roster
//     that validates commits (dave.md §5) and splits Welcomes.
//   - parallel.go: runs independent public-key operations (path
//     encryptions and key derivations, Welcome secrets, leaf signature
//     checks on join, a commit's signatures) across GOMAXPROCS.
//
// Performance: tree nodes are immutable and shared between clones; each
// node caches its encoding and subtree hash, invalidated along the path
// when it changes, so a commit rehashes only the changed paths
// (bench_test.go measures 25, 100 and 500 members).
//
// Handshake messages are always PublicMessage (wire format 1), as DAVE
// requires; PrivateMessage is decoded but not processed by [Group].
//
// Participant use (one DAVE member):
//
//	kp, _ := mls.NewKeyPackage(sigKey, mls.BasicCredential(userIDBigEndian))
//	g, _ := mls.NewGroup(channelIDBigEndian, kp, []mls.Extension{gatewaySender.Extension()})
//	p, ref, _ := g.ProcessProposal(op27Message)        // external Add/Remove, cached by ref
//	commit, welcome, _ := g.CreateCommit([]mls.ProposalRef{ref}, nil)
//	sum, _ := g.ProcessCommit(op29Commit)              // own pending commit or another's
//	g2, _ := mls.JoinFromWelcome(op30Welcome, kp)
//	key, _ := g.Exporter("Discord Secure Frames v0", senderIDLittleEndian, 16)
//	code := g.EpochAuthenticator()
//
// Delivery-service use (the gateway):
//
//	es := mls.NewExternalSender(gatewayKey, gatewayIdentity) // es.Entry().Marshal() is op 25
//	v := mls.NewServerGroupView(groupID, es)
//	msg, ref, _ := v.ProposeAdd(op26KeyPackage)              // op 27 append
//	cc, _ := v.CheckCommit(op28Payload, committersKeyPackage) // dave.md §5 validity
//	_ = v.ApplyCommit(cc)                                    // cc.Commit -> op 29, cc.Added[i].Welcome -> op 30
//
// The package is checked against the MLS working group's interop vectors
// for suite 2 (shared/testvectors/mls, see vectors_test.go) and against
// @snazzah/davey (OpenMLS) in interop_test.go.
package mls
