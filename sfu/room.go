package sfu

import (
	"sync"
	"sync/atomic"
)

// Room is one voice channel's set of participants. Readers iterate an
// immutable snapshot; joins and leaves replace it (copy-on-write).
type Room struct {
	id      string
	mu      sync.Mutex // serialises writers of members
	members atomic.Pointer[[]*Participant]
	// dave: the room's media is end-to-end encrypted; the SFU checks the
	// frame format of everything it forwards (dave.md §7).
	dave atomic.Bool
}

func newRoom(id string) *Room {
	r := &Room{id: id}
	empty := []*Participant{}
	r.members.Store(&empty)
	return r
}

// ID is the room's id.
func (r *Room) ID() string { return r.id }

func (r *Room) snapshot() []*Participant { return *r.members.Load() }

func (r *Room) add(p *Participant) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.snapshot()
	next := make([]*Participant, len(old), len(old)+1)
	copy(next, old)
	next = append(next, p)
	r.members.Store(&next)
}

// remove drops p and returns how many remain.
func (r *Room) remove(p *Participant) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.snapshot()
	next := make([]*Participant, 0, len(old))
	for _, q := range old {
		if q != p {
			next = append(next, q)
		}
	}
	r.members.Store(&next)
	return len(next)
}
