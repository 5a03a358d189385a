package mls

import "fmt"

// ProposalType values (RFC 9420 §17.4).
type ProposalType uint16

// Proposal types.
const (
	ProposalAdd                    ProposalType = 1
	ProposalUpdate                 ProposalType = 2
	ProposalRemove                 ProposalType = 3
	ProposalPSK                    ProposalType = 4
	ProposalReInit                 ProposalType = 5
	ProposalExternalInit           ProposalType = 6
	ProposalGroupContextExtensions ProposalType = 7
)

// PSK types (RFC 9420 §8.4).
const (
	PSKExternal   uint8 = 1
	PSKResumption uint8 = 2
)

// PreSharedKeyID names a PSK (RFC 9420 §8.4).
type PreSharedKeyID struct {
	Type     uint8
	ID       []byte // external
	Usage    uint8  // resumption
	GroupID  []byte // resumption
	Epoch    uint64 // resumption
	PSKNonce []byte
}

func (p *PreSharedKeyID) marshal(w *writer) {
	w.u8(p.Type)
	switch p.Type {
	case PSKExternal:
		w.bytes(p.ID)
	case PSKResumption:
		w.u8(p.Usage)
		w.bytes(p.GroupID)
		w.u64(p.Epoch)
	}
	w.bytes(p.PSKNonce)
}

func (p *PreSharedKeyID) unmarshal(r *reader) {
	p.Type = r.u8()
	switch p.Type {
	case PSKExternal:
		p.ID = r.bytes()
	case PSKResumption:
		p.Usage = r.u8()
		p.GroupID = r.bytes()
		p.Epoch = r.u64()
	default:
		r.failf("psk type %d", p.Type)
	}
	p.PSKNonce = r.bytes()
}

// ReInit is the body of a ReInit proposal.
type ReInit struct {
	GroupID     []byte
	Version     uint16
	CipherSuite uint16
	Extensions  []Extension
}

// Proposal is one MLS proposal (RFC 9420 §12.1). Exactly the field for
// Type is set.
type Proposal struct {
	Type       ProposalType
	KeyPackage *KeyPackage     // Add
	LeafNode   *LeafNode       // Update
	Removed    uint32          // Remove
	PSK        *PreSharedKeyID // PreSharedKey
	ReInit     *ReInit         // ReInit
	KEMOutput  []byte          // ExternalInit
	Extensions []Extension     // GroupContextExtensions
}

// AddProposal returns an Add proposal for kp.
func AddProposal(kp *KeyPackage) Proposal { return Proposal{Type: ProposalAdd, KeyPackage: kp} }

// RemoveProposal returns a Remove proposal for a leaf index.
func RemoveProposal(leaf uint32) Proposal { return Proposal{Type: ProposalRemove, Removed: leaf} }

func (p *Proposal) marshal(w *writer) {
	w.u16(uint16(p.Type))
	switch p.Type {
	case ProposalAdd:
		p.KeyPackage.marshal(w)
	case ProposalUpdate:
		p.LeafNode.marshal(w)
	case ProposalRemove:
		w.u32(p.Removed)
	case ProposalPSK:
		p.PSK.marshal(w)
	case ProposalReInit:
		w.bytes(p.ReInit.GroupID)
		w.u16(p.ReInit.Version)
		w.u16(p.ReInit.CipherSuite)
		marshalExtensions(w, p.ReInit.Extensions)
	case ProposalExternalInit:
		w.bytes(p.KEMOutput)
	case ProposalGroupContextExtensions:
		marshalExtensions(w, p.Extensions)
	}
}

func (p *Proposal) unmarshal(r *reader) {
	p.Type = ProposalType(r.u16())
	switch p.Type {
	case ProposalAdd:
		p.KeyPackage = new(KeyPackage)
		p.KeyPackage.unmarshal(r)
	case ProposalUpdate:
		p.LeafNode = new(LeafNode)
		p.LeafNode.unmarshal(r)
	case ProposalRemove:
		p.Removed = r.u32()
	case ProposalPSK:
		p.PSK = new(PreSharedKeyID)
		p.PSK.unmarshal(r)
	case ProposalReInit:
		p.ReInit = &ReInit{GroupID: r.bytes(), Version: r.u16(), CipherSuite: r.u16()}
		p.ReInit.Extensions = unmarshalExtensions(r)
	case ProposalExternalInit:
		p.KEMOutput = r.bytes()
	case ProposalGroupContextExtensions:
		p.Extensions = unmarshalExtensions(r)
	default:
		// Unknown proposal types have no self-describing length.
		r.fail(fmt.Errorf("%w: proposal type %d", ErrUnsupported, p.Type))
	}
}

// Marshal returns the Proposal encoding.
func (p *Proposal) Marshal() []byte {
	var w writer
	p.marshal(&w)
	return w.b
}

// ParseProposal decodes a Proposal.
func ParseProposal(b []byte) (*Proposal, error) {
	r := newReader(b)
	p := new(Proposal)
	p.unmarshal(r)
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("proposal: %w", err)
	}
	return p, nil
}

// ProposalRef identifies a proposal by hash (RFC 9420 §5.2).
type ProposalRef []byte

// ProposalOrRef types.
const (
	proposalOrRefProposal  uint8 = 1
	proposalOrRefReference uint8 = 2
)

// ProposalOrRef is one entry of Commit.proposals.
type ProposalOrRef struct {
	Proposal  *Proposal   // inline, or nil
	Reference ProposalRef // by reference, or nil
}

// UpdatePathNode is one node of an UpdatePath (RFC 9420 §7.6).
type UpdatePathNode struct {
	EncryptionKey       []byte
	EncryptedPathSecret []HPKECiphertext
}

// UpdatePath is a committer's new path (RFC 9420 §7.6).
type UpdatePath struct {
	LeafNode LeafNode
	Nodes    []UpdatePathNode
}

func (u *UpdatePath) marshal(w *writer) {
	u.LeafNode.marshal(w)
	w.vec(func(w *writer) {
		for i := range u.Nodes {
			n := &u.Nodes[i]
			w.bytes(n.EncryptionKey)
			w.vec(func(w *writer) {
				for j := range n.EncryptedPathSecret {
					n.EncryptedPathSecret[j].marshal(w)
				}
			})
		}
	})
}

func (u *UpdatePath) unmarshal(r *reader) {
	u.LeafNode.unmarshal(r)
	r.each(func(r *reader) {
		var n UpdatePathNode
		n.EncryptionKey = r.bytes()
		r.each(func(r *reader) {
			var c HPKECiphertext
			c.unmarshal(r)
			n.EncryptedPathSecret = append(n.EncryptedPathSecret, c)
		})
		u.Nodes = append(u.Nodes, n)
	})
}

// Commit is the body of a commit message (RFC 9420 §12.4).
type Commit struct {
	Proposals []ProposalOrRef
	Path      *UpdatePath
}

func (c *Commit) marshal(w *writer) {
	w.vec(func(w *writer) {
		for _, p := range c.Proposals {
			if p.Proposal != nil {
				w.u8(proposalOrRefProposal)
				p.Proposal.marshal(w)
			} else {
				w.u8(proposalOrRefReference)
				w.bytes(p.Reference)
			}
		}
	})
	w.optional(c.Path != nil, func(w *writer) { c.Path.marshal(w) })
}

func (c *Commit) unmarshal(r *reader) {
	r.each(func(r *reader) {
		switch t := r.u8(); t {
		case proposalOrRefProposal:
			p := new(Proposal)
			p.unmarshal(r)
			c.Proposals = append(c.Proposals, ProposalOrRef{Proposal: p})
		case proposalOrRefReference:
			c.Proposals = append(c.Proposals, ProposalOrRef{Reference: r.bytes()})
		default:
			r.failf("proposal_or_ref type %d", t)
		}
	})
	if r.optional() {
		c.Path = new(UpdatePath)
		c.Path.unmarshal(r)
	}
}

// Marshal returns the Commit encoding.
func (c *Commit) Marshal() []byte {
	var w writer
	c.marshal(&w)
	return w.b
}

// ParseCommit decodes a Commit.
func ParseCommit(b []byte) (*Commit, error) {
	r := newReader(b)
	c := new(Commit)
	c.unmarshal(r)
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return c, nil
}
