package voicectl

import (
	"cmp"
	"slices"
)

// Choose picks the node for a new placement among nodes: serving ones
// below their capacity; in req.Region when it is set and has one, else in
// the region nearest req.Region (or req.Preferred when Region is "") by
// Distance; there (and among regions equally far, such as names Distance
// does not know) the least loaded: participants, then rooms, then CPU,
// then region and id, so the choice is deterministic. ErrNoNode when none qualifies.
func Choose(nodes []Node, req PlaceRequest) (Node, error) {
	target := cmp.Or(req.Region, req.Preferred)
	var best Node
	found := false
	for _, n := range nodes {
		if n.State != NodeServing || n.Full() {
			continue
		}
		if !found || better(n, best, target) {
			best, found = n, true
		}
	}
	if !found {
		return Node{}, ErrNoNode
	}
	return best, nil
}

// better reports whether a beats b as the placement for target.
func better(a, b Node, target string) bool {
	if da, db := Distance(target, a.Region), Distance(target, b.Region); da != db {
		return da < db
	}
	// Equally far (one region, or regions unknown to the table): the
	// least loaded.
	switch {
	case a.Load.Participants != b.Load.Participants:
		return a.Load.Participants < b.Load.Participants
	case a.Load.Rooms != b.Load.Rooms:
		return a.Load.Rooms < b.Load.Rooms
	case a.Load.CPU != b.Load.CPU:
		return a.Load.CPU < b.Load.CPU
	case a.Region != b.Region:
		return a.Region < b.Region
	}
	return a.ID < b.ID
}

// Keeps reports whether an existing placement on n still stands for req:
// n is known (serving or draining: a draining node keeps its rooms until
// they are moved) and not req.From (the node the channel moves off),
// and, when req.Region is set and some serving node is in it, n is in it
// (the channel's rtc_region changed).
func Keeps(n Node, nodes []Node, req PlaceRequest) bool {
	if n.State != NodeServing && n.State != NodeDraining || n.ID == req.From {
		return false
	}
	if req.Region == "" || n.Region == req.Region {
		return true
	}
	return !slices.ContainsFunc(nodes, func(o Node) bool {
		return o.Region == req.Region && o.State == NodeServing && !o.Full()
	})
}
