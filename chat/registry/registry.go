package registry

import (
	"context"
	"slices"
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
	// watchers are OnLeaving's callbacks by registration number.
	watchers map[int]func(Node)
	nextW    int
}

var (
	_ Registry         = (*Embedded)(nil)
	_ voicectl.Watcher = (*Embedded)(nil)
)

// NewEmbedded returns a registry of the given nodes (a node whose State is
// "" is serving).
func NewEmbedded(nodes ...Node) *Embedded {
	e := &Embedded{loads: map[string]LoadFunc{}, placed: map[string]string{}, watchers: map[int]func(Node){}}
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
	if load != nil {
		e.loads[n.ID] = load
	} else {
		delete(e.loads, n.ID)
	}
	var was voicectl.NodeState
	i := slices.IndexFunc(e.nodes, func(o Node) bool { return o.ID == n.ID })
	if i >= 0 {
		was = e.nodes[i].State
		e.nodes[i] = n
	} else {
		e.nodes = append(e.nodes, n)
	}
	notify := e.leavingLocked(n, was)
	e.mu.Unlock()
	notify()
}

// leavingLocked returns what tells the watchers that n now drains (was
// its state before), or a no-op.
func (e *Embedded) leavingLocked(n Node, was voicectl.NodeState) func() {
	if n.State == was || n.State != voicectl.NodeDraining && n.State != voicectl.NodeLost {
		return func() {}
	}
	fs := make([]func(Node), 0, len(e.watchers))
	for _, f := range e.watchers {
		fs = append(fs, f)
	}
	return func() {
		for _, f := range fs {
			f(n)
		}
	}
}

// OnLeaving implements voicectl.Watcher: f is called (on the caller's
// goroutine of SetState, Upsert or Remove) when a node starts draining or
// is removed (lost).
func (e *Embedded) OnLeaving(f func(Node)) func() {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := e.nextW
	e.nextW++
	e.watchers[id] = f
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.watchers, id)
	}
}

// Remove forgets a node (it died); its channels are placed again on their
// next Place.
func (e *Embedded) Remove(id string) {
	e.mu.Lock()
	delete(e.loads, id)
	notify := func() {}
	if i := slices.IndexFunc(e.nodes, func(o Node) bool { return o.ID == id }); i >= 0 {
		n := e.nodes[i]
		e.nodes = slices.Delete(e.nodes, i, i+1)
		was := n.State
		n.State = voicectl.NodeLost
		notify = e.leavingLocked(n, was)
	}
	e.mu.Unlock()
	notify()
}

// SetState changes a node's state (serving or draining).
func (e *Embedded) SetState(id string, st voicectl.NodeState) {
	e.mu.Lock()
	notify := func() {}
	if i := slices.IndexFunc(e.nodes, func(o Node) bool { return o.ID == id }); i >= 0 {
		was := e.nodes[i].State
		e.nodes[i].State = st
		notify = e.leavingLocked(e.nodes[i], was)
	}
	e.mu.Unlock()
	notify()
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
