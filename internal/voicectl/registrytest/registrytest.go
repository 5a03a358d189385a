// Package registrytest is the one test suite every voicectl.Registry
// implementation passes (the embedded registry and the etcd one): listing
// nodes, placement by rtc_region, by nearest region and by load, capacity,
// draining, a placement that sticks, one re-placed when its node is gone
// or the channel's region changed, and concurrent placements of one
// channel agreeing.
package registrytest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicectl"
)

// Harness is one fresh registry and the means to change the fleet under
// it the way the nodes themselves would.
type Harness struct {
	Registry voicectl.Registry
	// Join makes n known (as the node registering itself would); Join of
	// a known id updates it (state, load).
	Join func(t *testing.T, n voicectl.Node)
	// Leave makes the node disappear as a node that died does.
	Leave func(t *testing.T, id string)
}

// Run runs the suite; newHarness gives each subtest a fresh, empty fleet.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tc.run(t, h)
		})
	}
}

// settle waits until the registry lists the nodes with the states and
// participant counts given (a watch may lag the writes).
func settle(t *testing.T, r voicectl.Registry, want ...voicectl.Node) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, func() bool {
		got, err := r.Nodes(context.Background())
		if err != nil || len(got) != len(want) {
			return false
		}
		for _, w := range want {
			ok := false
			for _, g := range got {
				ok = ok || (g.ID == w.ID && g.State == w.State && g.Load == w.Load && g.Region == w.Region &&
					g.Endpoint == w.Endpoint && g.Capacity == w.Capacity)
			}
			if !ok {
				return false
			}
		}
		return true
	}, "registry lists %d nodes as joined", len(want))
}

func node(id, region string, participants int) voicectl.Node {
	return voicectl.Node{ID: id, Region: region, Endpoint: id + ".example:443", State: voicectl.NodeServing,
		Load: voicectl.Load{Participants: participants, Rooms: participants / 2}}
}

func join(t *testing.T, h Harness, nodes ...voicectl.Node) {
	t.Helper()
	for _, n := range nodes {
		h.Join(t, n)
	}
	settle(t, h.Registry, nodes...)
}

func place(t *testing.T, r voicectl.Registry, channel, region, preferred string) string {
	t.Helper()
	n, err := r.Place(context.Background(), voicectl.PlaceRequest{Channel: channel, Region: region, Preferred: preferred})
	if err != nil {
		t.Fatalf("Place(%s, region %q, preferred %q): %v", channel, region, preferred, err)
	}
	return n.ID
}

var cases = []struct {
	name string
	run  func(t *testing.T, h Harness)
}{
	{"empty", func(t *testing.T, h Harness) {
		if nodes, err := h.Registry.Nodes(context.Background()); err != nil || len(nodes) != 0 {
			t.Fatalf("Nodes = %v, %v", nodes, err)
		}
		if _, err := h.Registry.Place(context.Background(), voicectl.PlaceRequest{Channel: "1"}); !errors.Is(err, voicectl.ErrNoNode) {
			t.Fatalf("Place on an empty fleet: %v", err)
		}
	}},
	{"nodes round-trip", func(t *testing.T, h Harness) {
		a := node("a", "rotterdam", 3)
		a.Capacity, a.Load.PacketsPerSecond, a.Load.CPU = 50, 1500, 0.25
		join(t, h, a, node("b", "japan", 0))
	}},
	{"rtc_region then least loaded", func(t *testing.T, h Harness) {
		join(t, h, node("a1", "rotterdam", 5), node("a2", "rotterdam", 1), node("b", "japan", 0))
		tests := []struct{ channel, region, preferred, want string }{
			{"1", "rotterdam", "", "a2"},
			{"2", "japan", "rotterdam", "b"},      // rtc_region wins over preference
			{"3", "", "europe", "a2"},             // nearest to Frankfurt
			{"4", "", "singapore", "b"},           // nearest to Singapore
			{"5", "moon", "", "b"},                // unknown region without a node: the least loaded
			{"6", "", "", "b"},                    // automatic, no preference
			{"7", "south-korea", "", "b"},         // no node there: the nearest region
			{"8", "europe", "japan", "a2"},        // the nearest to rtc_region, not to the preference
			{"9", "rotterdam", "rotterdam", "a2"}, // both agree
		}
		for _, tc := range tests {
			if got := place(t, h.Registry, tc.channel, tc.region, tc.preferred); got != tc.want {
				t.Errorf("channel %s (region %q, preferred %q) placed on %s, want %s", tc.channel, tc.region, tc.preferred, got, tc.want)
			}
		}
	}},
	{"capacity", func(t *testing.T, h Harness) {
		full := node("full", "rotterdam", 10)
		full.Capacity = 10
		spare := node("spare", "rotterdam", 40)
		join(t, h, full, spare)
		if got := place(t, h.Registry, "1", "rotterdam", ""); got != "spare" {
			t.Fatalf("placed on %s, want spare (full is at capacity)", got)
		}
		spare.Capacity = 40
		join(t, h, full, spare)
		if _, err := h.Registry.Place(context.Background(), voicectl.PlaceRequest{Channel: "2"}); !errors.Is(err, voicectl.ErrNoNode) {
			t.Fatalf("every node full: %v", err)
		}
	}},
	{"draining takes no new placement", func(t *testing.T, h Harness) {
		d := node("d", "rotterdam", 0)
		join(t, h, d, node("s", "rotterdam", 9))
		if got := place(t, h.Registry, "old", "rotterdam", ""); got != "d" {
			t.Fatalf("placed on %s, want d", got)
		}
		d.State = voicectl.NodeDraining
		join(t, h, d, node("s", "rotterdam", 9))
		if got := place(t, h.Registry, "new", "rotterdam", ""); got != "s" {
			t.Fatalf("new channel placed on %s, want s (d drains)", got)
		}
		if got := place(t, h.Registry, "old", "rotterdam", ""); got != "d" {
			t.Fatalf("old channel moved to %s: a draining node keeps its rooms until they are moved", got)
		}
	}},
	{"moved off a draining node", func(t *testing.T, h Harness) {
		d := node("d", "rotterdam", 0)
		join(t, h, d, node("s", "rotterdam", 9), node("j", "japan", 0))
		if got := place(t, h.Registry, "1", "rotterdam", ""); got != "d" {
			t.Fatalf("placed on %s, want d", got)
		}
		d.State = voicectl.NodeDraining
		join(t, h, d, node("s", "rotterdam", 9), node("j", "japan", 0))
		req := voicectl.PlaceRequest{Channel: "1", Region: "rotterdam", From: "d"}
		for range 2 { // a second mover (another control plane) finds it moved
			if n, err := h.Registry.Place(context.Background(), req); err != nil || n.ID != "s" {
				t.Fatalf("moving off d: %v, %v; want s (same region, though busier than japan's)", n.ID, err)
			}
		}
		if got := place(t, h.Registry, "1", "rotterdam", ""); got != "s" {
			t.Fatalf("after the move the channel is on %s, want s", got)
		}
	}},
	{"watcher reports draining and lost nodes", func(t *testing.T, h Harness) {
		w, ok := h.Registry.(voicectl.Watcher)
		if !ok {
			t.Skip("registry is not a voicectl.Watcher")
		}
		got := make(chan voicectl.Node, 8)
		cancel := w.OnLeaving(func(n voicectl.Node) { got <- n })
		defer cancel()
		d := node("d", "rotterdam", 0)
		join(t, h, d, node("x", "rotterdam", 0))
		d.State = voicectl.NodeDraining
		join(t, h, d, node("x", "rotterdam", 0))
		h.Leave(t, "x")
		want := map[string]voicectl.NodeState{"d": voicectl.NodeDraining, "x": voicectl.NodeLost}
		for range want {
			select {
			case n := <-got:
				if want[n.ID] != n.State {
					t.Fatalf("OnLeaving(%s, %s), want %v", n.ID, n.State, want)
				}
				delete(want, n.ID)
			case <-time.After(10 * time.Second):
				t.Fatalf("OnLeaving not called for %v", want)
			}
		}
	}},
	{"placement sticks", func(t *testing.T, h Harness) {
		join(t, h, node("a", "rotterdam", 0), node("b", "rotterdam", 5))
		if got := place(t, h.Registry, "1", "", "rotterdam"); got != "a" {
			t.Fatalf("placed on %s, want a", got)
		}
		join(t, h, node("a", "rotterdam", 50), node("b", "rotterdam", 5))
		if got := place(t, h.Registry, "1", "", "rotterdam"); got != "a" {
			t.Fatalf("placement moved to %s when load changed", got)
		}
		if got := place(t, h.Registry, "2", "", "rotterdam"); got != "b" {
			t.Fatalf("another channel placed on %s, want b", got)
		}
	}},
	{"re-placed when its node is gone", func(t *testing.T, h Harness) {
		join(t, h, node("a", "rotterdam", 0), node("b", "rotterdam", 5))
		if got := place(t, h.Registry, "1", "rotterdam", ""); got != "a" {
			t.Fatalf("placed on %s, want a", got)
		}
		h.Leave(t, "a")
		settle(t, h.Registry, node("b", "rotterdam", 5))
		if got := place(t, h.Registry, "1", "rotterdam", ""); got != "b" {
			t.Fatalf("after a left, placed on %s, want b", got)
		}
		h.Join(t, node("a", "rotterdam", 0))
		settle(t, h.Registry, node("a", "rotterdam", 0), node("b", "rotterdam", 5))
		if got := place(t, h.Registry, "1", "rotterdam", ""); got != "b" {
			t.Fatalf("a's return moved the channel to %s", got)
		}
	}},
	{"re-placed when rtc_region changes", func(t *testing.T, h Harness) {
		join(t, h, node("a", "rotterdam", 0), node("b", "japan", 5))
		if got := place(t, h.Registry, "1", "", "rotterdam"); got != "a" {
			t.Fatalf("placed on %s, want a", got)
		}
		if got := place(t, h.Registry, "1", "japan", ""); got != "b" {
			t.Fatalf("rtc_region japan: placed on %s, want b", got)
		}
		if got := place(t, h.Registry, "1", "", "rotterdam"); got != "b" {
			t.Fatalf("back to automatic: moved to %s, want b kept", got)
		}
		if got := place(t, h.Registry, "1", "moon", ""); got != "b" {
			t.Fatalf("a region without nodes moved the channel to %s", got)
		}
	}},
	{"concurrent placements agree", func(t *testing.T, h Harness) {
		join(t, h, node("a", "rotterdam", 0), node("b", "rotterdam", 0), node("c", "japan", 0))
		const n = 16
		got := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if nd, err := h.Registry.Place(context.Background(), voicectl.PlaceRequest{Channel: "1", Preferred: "rotterdam"}); err == nil {
					got[i] = nd.ID
				}
			}()
		}
		wg.Wait()
		for i := range got {
			if got[i] != got[0] || got[i] == "" {
				t.Fatalf("concurrent placements disagree: %v", got)
			}
		}
	}},
}
