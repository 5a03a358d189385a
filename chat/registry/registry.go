package registry

import (
	"context"
	"errors"
	"sort"
	"sync"
)

// ErrNoNode means no healthy voice node is available.
var ErrNoNode = errors.New("registry: no healthy voice node")

// Node is one voice server.
type Node struct {
	ID string `json:"id"`
	// Region is the rtc_region name clients may select ("local", "eu", …).
	Region string `json:"region"`
	// Endpoint is host:port, what VOICE_SERVER_UPDATE carries.
	Endpoint string `json:"endpoint"`
	// Load is a relative load figure (e.g. connected users); lower is better.
	Load float64 `json:"load"`
	// Healthy nodes are eligible.
	Healthy bool `json:"healthy"`
}

// Registry picks voice nodes.
type Registry interface {
	// Pick returns the least-loaded healthy node in region, or in any
	// region when region is "" (automatic) or has no healthy node.
	Pick(ctx context.Context, region string) (Node, error)
	// Nodes lists every known node.
	Nodes(ctx context.Context) ([]Node, error)
}

// LoadFunc reports a node's current load.
type LoadFunc func() float64

// Embedded is a static in-process registry (one machine).
type Embedded struct {
	mu sync.RWMutex
	// nodes and loads are guarded by mu.
	nodes []Node
	loads map[string]LoadFunc
}

// NewEmbedded returns a registry of fixed nodes.
func NewEmbedded(nodes ...Node) *Embedded {
	return &Embedded{nodes: append([]Node(nil), nodes...), loads: map[string]LoadFunc{}}
}

// Upsert adds or replaces a node (by ID), with an optional live load.
func (e *Embedded) Upsert(n Node, load LoadFunc) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if load != nil {
		e.loads[n.ID] = load
	}
	for i := range e.nodes {
		if e.nodes[i].ID == n.ID {
			e.nodes[i] = n
			return
		}
	}
	e.nodes = append(e.nodes, n)
}

// SetHealthy marks a node up or down.
func (e *Embedded) SetHealthy(id string, healthy bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.nodes {
		if e.nodes[i].ID == id {
			e.nodes[i].Healthy = healthy
		}
	}
}

// Nodes lists the nodes with their current load.
func (e *Embedded) Nodes(context.Context) ([]Node, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]Node, len(e.nodes))
	for i, n := range e.nodes {
		if f := e.loads[n.ID]; f != nil {
			n.Load = f()
		}
		out[i] = n
	}
	return out, nil
}

// Pick implements Registry.
func (e *Embedded) Pick(ctx context.Context, region string) (Node, error) {
	nodes, _ := e.Nodes(ctx)
	var healthy, inRegion []Node
	for _, n := range nodes {
		if !n.Healthy {
			continue
		}
		healthy = append(healthy, n)
		if n.Region == region {
			inRegion = append(inRegion, n)
		}
	}
	pool := healthy
	if len(inRegion) > 0 {
		pool = inRegion
	}
	if len(pool) == 0 {
		return Node{}, ErrNoNode
	}
	sort.SliceStable(pool, func(i, j int) bool { return pool[i].Load < pool[j].Load })
	return pool[0], nil
}
