package registry

import (
	"context"
	"sync"

	"github.com/parleyhq/parley/internal/voicectl"
)

// Node is one voice node (voicectl.Node).
type Node = voicectl.Node

// Registry is what chat places voice channels through (voicectl.Registry).
type Registry = voicectl.Registry

// ErrNoNode means no serving voice node is available.
var ErrNoNode = voicectl.ErrNoNode

// LoadFunc reports a node's live load.
type LoadFunc func() voicectl.Load

// Embedded is an in-process registry (one machine).
type Embedded struct {
	mu sync.Mutex // guards all following fields
	// nodes by id, in the order they were added.
	nodes []Node
	loads map[string]LoadFunc
	// placed maps a channel to the id of its node.
	placed map[string]string
}

var _ Registry = (*Embedded)(nil)

// NewEmbedded returns a registry of the given nodes (a node whose State is
// "" is serving).
func NewEmbedded(nodes ...Node) *Embedded {
	e := &Embedded{loads: map[string]LoadFunc{}, placed: map[string]string{}}
	for _, n := range nodes {
		e.Upsert(n, nil)
	}
	return e
}

// Upsert adds or replaces a node (by ID), with an optional live load that
// then overrides n.Load.
func (e *Embedded) Upsert(n Node, load LoadFunc) {
	if n.State == "" {
		n.State = voicectl.NodeServing
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if load != nil {
		e.loads[n.ID] = load
	} else {
		delete(e.loads, n.ID)
	}
	for i := range e.nodes {
		if e.nodes[i].ID == n.ID {
			e.nodes[i] = n
			return
		}
	}
	e.nodes = append(e.nodes, n)
}

// Remove forgets a node (it died); its channels are placed again on their
// next Place.
func (e *Embedded) Remove(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.loads, id)
	for i := range e.nodes {
		if e.nodes[i].ID == id {
			e.nodes = append(e.nodes[:i], e.nodes[i+1:]...)
			return
		}
	}
}

// SetState changes a node's state (serving or draining).
func (e *Embedded) SetState(id string, st voicectl.NodeState) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.nodes {
		if e.nodes[i].ID == id {
			e.nodes[i].State = st
		}
	}
}

// Nodes lists the nodes with their live load.
func (e *Embedded) Nodes(context.Context) ([]Node, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.nodesLocked(), nil
}

func (e *Embedded) nodesLocked() []Node {
	out := make([]Node, len(e.nodes))
	for i, n := range e.nodes {
		if f := e.loads[n.ID]; f != nil {
			n.Load = f()
		}
		out[i] = n
	}
	return out
}

// Place implements voicectl.Registry: one mutex makes concurrent
// placements of a channel agree.
func (e *Embedded) Place(_ context.Context, req voicectl.PlaceRequest) (Node, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	nodes := e.nodesLocked()
	if id, ok := e.placed[req.Channel]; ok {
		for _, n := range nodes {
			if n.ID == id && voicectl.Keeps(n, nodes, req) {
				return n, nil
			}
		}
	}
	n, err := voicectl.Choose(nodes, req)
	if err != nil {
		return Node{}, err
	}
	e.placed[req.Channel] = n.ID
	return n, nil
}
