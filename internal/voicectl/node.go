package voicectl

import (
	"context"
	"errors"
	"time"
)

// The fleet: voice nodes announce themselves to a registry (Node), and the
// control plane places each voice channel on one of them (Registry.Place).
// Two implementations exist: chat/registry.Embedded, in-process, for one
// machine, and fleet.Registry on etcd; both pass registrytest.Run.

// ErrNoNode means no serving voice node can take the channel.
var ErrNoNode = errors.New("voicectl: no serving voice node")

// NodeState is a node's place in its life cycle.
type NodeState string

// Node states.
const (
	// NodeServing nodes take new placements.
	NodeServing NodeState = "serving"
	// NodeDraining nodes keep their rooms but take no new placement.
	NodeDraining NodeState = "draining"
	// NodeLost nodes were registered and their lease expired (or they
	// lost their registry session); only status listings show them.
	NodeLost NodeState = "lost"
)

// Load is a node's live load, refreshed every few seconds.
type Load struct {
	Rooms            int     `json:"rooms"`
	Participants     int     `json:"participants"`
	PacketsPerSecond float64 `json:"packets_per_second"`
	// CPU is the node process's share of the machine's cores over the
	// last refresh interval (0..1).
	CPU float64 `json:"cpu"`
}

// Node is one voice node as the registry knows it.
type Node struct {
	ID string `json:"id"`
	// Region is the rtc_region name clients may select ("local",
	// "rotterdam", …; see Distance for the regions placement knows).
	Region string `json:"region"`
	// Endpoint is host:port, what VOICE_SERVER_UPDATE carries.
	Endpoint string `json:"endpoint"`
	// Capacity bounds the participants placed on the node (0: no bound).
	Capacity int       `json:"capacity"`
	State    NodeState `json:"state"`
	Load     Load      `json:"load"`
	// Updated is when the node last published its load.
	Updated time.Time `json:"updated"`
}

// Full reports whether the node is at its capacity.
func (n Node) Full() bool { return n.Capacity > 0 && n.Load.Participants >= n.Capacity }

// PlaceRequest asks for the node of one voice channel.
type PlaceRequest struct {
	// Channel identifies the voice channel (its snowflake).
	Channel string
	// Region is the channel's rtc_region ("": automatic).
	Region string
	// Preferred is the first joiner's preferred region, used when Region
	// is "" (in `parley serve`: the chat node's --region).
	Preferred string
	// From, when set, is the node the channel is moved off (draining or
	// lost): a placement there no longer stands, whatever its state.
	From string
}

// Registry is the control plane's view of the fleet.
type Registry interface {
	// Nodes lists the known nodes (serving and draining) from memory:
	// never a round trip to a store per call.
	Nodes(ctx context.Context) ([]Node, error)
	// Place returns the one node serving the channel: its existing
	// placement while that node lives (and is in Region, when Region is
	// set and has a node), else a new one chosen by Choose and stored so
	// that no two control planes place one channel twice.
	Place(ctx context.Context, req PlaceRequest) (Node, error)
}

// Watcher is what a Registry offers a control plane that moves calls:
// OnLeaving registers f, called with a node each time it starts draining
// (State NodeDraining) or is lost (State NodeLost: its lease expired);
// the control plane then moves the channels it placed there (PlaceRequest.From).
// f is called from the registry's goroutine and must not block. The
// returned function unregisters f.
type Watcher interface {
	OnLeaving(f func(Node)) (cancel func())
}

// Presence is what a Registry may know of who is connected where, as the
// nodes last published it (every few seconds): the control plane removes
// from voice a moved member who never reached the new node.
type Presence interface {
	// Connected reports whether the user was connected to the channel on
	// node, as of the node's last publication.
	Connected(node, channel, user string) bool
}
