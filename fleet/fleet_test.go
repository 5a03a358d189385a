package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testetcd"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicectl/registrytest"
)

// testTTL is the shortest lease the test etcd grants comfortably.
const testTTL = 2 * time.Second

var prefixes atomic.Int64

func newPrefix() string { return fmt.Sprintf("/t%d/", prefixes.Add(1)) }

// closeCtx bounds a cleanup's Close: a partitioned etcd must not hang it.
func closeCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel) // registered inside a cleanup: runs right after it
	return ctx
}

// signal sends on a buffered channel without blocking: a Member's
// callback must not hold its goroutine when a session flaps (a loaded
// machine may miss a 2 s test lease's keep-alives) and nobody reads.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func startRegistry(t *testing.T, endpoint, prefix string) *Registry {
	t.Helper()
	r, err := NewRegistry(RegistryConfig{Endpoints: []string{endpoint}, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			t.Errorf("registry close: %v", err)
		}
	})
	return r
}

// die ends m as a crashed node would end: no clean leave, its lease
// revoked (as its expiry would), so its seen/ key stays.
func (m *Member) die() {
	m.closeOnce.Do(func() {
		m.stop()
		m.mu.Lock()
		lease := m.lease
		m.lease = 0
		m.mu.Unlock()
		if lease != 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = m.cli.Revoke(ctx, lease)
			cancel()
		}
		m.closeErr = m.cli.Close()
	})
}

// harness registers members the way voice nodes do.
type harness struct {
	endpoint, prefix string

	mu      sync.Mutex
	members map[string]*Member
	nodes   map[string]voicectl.Node
}

func (h *harness) join(t *testing.T, n voicectl.Node) {
	t.Helper()
	h.mu.Lock()
	old := h.nodes[n.ID]
	h.nodes[n.ID] = n
	m := h.members[n.ID]
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if m != nil && old.Capacity != n.Capacity { // configuration: register afresh
		_ = m.Close(ctx)
		m = nil
	}
	if m != nil {
		if err := m.SetState(ctx, n.State); err != nil {
			t.Fatalf("SetState %s: %v", n.ID, err)
		}
		return
	}
	registered := make(chan struct{}, 1)
	id := n.ID
	m, err := NewMember(MemberConfig{Endpoints: []string{h.endpoint}, Prefix: h.prefix, Node: n, TTL: testTTL,
		LoadInterval: time.Hour, // the suite publishes through SetState
		Load: func() voicectl.Load {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.nodes[id].Load
		},
		OnServing: func() { signal(registered) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(closeCtx(t)) })
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-registered:
	case <-ctx.Done():
		t.Fatalf("node %s did not register", n.ID)
	}
	if n.State != voicectl.NodeServing {
		if err := m.SetState(ctx, n.State); err != nil {
			t.Fatal(err)
		}
	}
	h.mu.Lock()
	h.members[n.ID] = m
	h.mu.Unlock()
}

func (h *harness) leave(_ *testing.T, id string) {
	h.mu.Lock()
	m := h.members[id]
	delete(h.members, id)
	h.mu.Unlock()
	if m != nil {
		m.die()
	}
}

// TestRegistrySuite runs the suite every registry passes on etcd.
func TestRegistrySuite(t *testing.T) {
	testkit.NoLeaks(t)
	etcd := testetcd.Start(t)
	registrytest.Run(t, func(t *testing.T) registrytest.Harness {
		h := &harness{endpoint: etcd.Endpoint, prefix: newPrefix(), members: map[string]*Member{}, nodes: map[string]voicectl.Node{}}
		return registrytest.Harness{Registry: startRegistry(t, etcd.Endpoint, h.prefix), Join: h.join, Leave: h.leave}
	})
}

// TestLeaseExpiry: a node partitioned from etcd (its connection cut)
// vanishes from the control plane's view within the TTL, is counted lost
// and listed lost by Status, and calls OnLost (its voice node then serves
// nothing); its placements go with it. Healed, it registers again and
// calls OnServing.
func TestLeaseExpiry(t *testing.T) {
	testkit.NoLeaks(t)
	etcd := testetcd.Start(t)
	proxy := etcd.NewProxy(t)
	prefix := newPrefix()
	reg := startRegistry(t, etcd.Endpoint, prefix)
	// The member's state, from its callbacks (which alternate, serving
	// first). A loaded machine may miss the 2 s test lease's keep-alives
	// before the cut: the session then flaps (lost, registered again),
	// which is legitimate, so the test follows the state, not a sequence.
	var serving, lost atomic.Int32
	up := func() bool { return serving.Load() > lost.Load() }
	m, err := NewMember(MemberConfig{Endpoints: []string{proxy.Endpoint}, Prefix: prefix, TTL: testTTL, LoadInterval: 500 * time.Millisecond,
		Node:      voicectl.Node{ID: "n1", Region: "rotterdam", Endpoint: "n1.example:443"},
		OnServing: func() { serving.Add(1) },
		OnLost:    func() { lost.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(closeCtx(t)) })
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, up, "n1 serving")
	testkit.Eventually(t, 5*time.Second, func() bool { n, _ := reg.Nodes(context.Background()); return len(n) == 1 }, "registry sees n1")
	if _, err := reg.Place(context.Background(), voicectl.PlaceRequest{Channel: "42"}); err != nil {
		t.Fatal(err)
	}

	proxy.Cut()
	cut := time.Now()
	flaps := lost.Load() // sessions lost before the cut
	if flaps > 0 {
		t.Logf("the session flapped %d times before the cut (a loaded machine)", flaps)
	}
	testkit.Eventually(t, testTTL+3*time.Second, func() bool { return !up() }, "n1 stops serving after the cut")
	lostAfter := time.Since(cut)
	if len(mustNodes(t, reg)) != 1 && lost.Load() > flaps {
		t.Errorf("the node stopped serving only after the control plane saw it gone (%v after the cut)", lostAfter)
	}
	testkit.Eventually(t, testTTL+3*time.Second, func() bool { return len(mustNodes(t, reg)) == 0 }, "n1 vanished")
	gone := time.Since(cut)
	t.Logf("partitioned node: stopped serving %v after the cut, gone from the registry after %v (TTL %v)",
		lostAfter.Round(time.Millisecond), gone.Round(time.Millisecond), testTTL)
	if gone > testTTL+1500*time.Millisecond {
		t.Errorf("node vanished %v after the cut, want within the TTL %v (+ etcd's expiry tick)", gone, testTTL)
	}
	st, err := Status(context.Background(), []string{etcd.Endpoint}, prefix)
	if err != nil || len(st) != 1 || st[0].State != voicectl.NodeLost || st[0].Placements != 0 {
		t.Fatalf("status after the partition: %+v, %v", st, err)
	}
	if got := testutilCount(reg.metrics.lost); got != 1 {
		t.Errorf("lost nodes counted %v, want 1", got)
	}

	proxy.Heal()
	testkit.Eventually(t, 10*time.Second, up, "n1 serving again after the heal")
	testkit.Eventually(t, 5*time.Second, func() bool { n, _ := reg.Nodes(context.Background()); return len(n) == 1 }, "n1 back")
	if err := m.Close(closeCtx(t)); err != nil {
		t.Fatal(err)
	}
	st, err = Status(context.Background(), []string{etcd.Endpoint}, prefix)
	if err != nil || len(st) != 0 {
		t.Fatalf("status after a clean leave: %+v, %v", st, err)
	}
	if got := testutilCount(reg.metrics.lost); got != 1 {
		t.Errorf("a clean leave counted lost: %v", got)
	}
}

// TestLeaseExpiryAtRegistration: a partition right as the node registers
// (inside OnServing) stops it serving within the lease's grace, counted
// from the grant, as a later one does: nothing the Member does after
// registering (the drain key's look-up) holds its watchdog back.
func TestLeaseExpiryAtRegistration(t *testing.T) {
	testkit.NoLeaks(t)
	etcd := testetcd.Start(t)
	proxy := etcd.NewProxy(t)
	var cut atomic.Int64 // unix nanoseconds of the cut
	lost := make(chan time.Time, 1)
	m, err := NewMember(MemberConfig{Endpoints: []string{proxy.Endpoint}, Prefix: newPrefix(), TTL: testTTL,
		Node: voicectl.Node{ID: "n1", Region: "rotterdam", Endpoint: "n1.example:443"},
		OnServing: func() {
			if cut.Load() == 0 {
				proxy.Cut()
				cut.Store(time.Now().UnixNano())
			}
		},
		OnLost: func() {
			select {
			case lost <- time.Now():
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(closeCtx(t)) })
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-lost:
		d := at.Sub(time.Unix(0, cut.Load()))
		t.Logf("cut at registration: stopped serving %v after (TTL %v)", d.Round(time.Millisecond), testTTL)
		if d > testTTL {
			t.Errorf("stopped serving %v after the cut, past the TTL %v", d, testTTL)
		}
	case <-time.After(testTTL + 3*time.Second):
		t.Fatalf("still serving %v after a cut at registration", testTTL+3*time.Second)
	}
}

func mustNodes(t *testing.T, r *Registry) []voicectl.Node {
	n, err := r.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPlacementRace: two control planes that would choose different
// nodes (their users prefer different regions) place the same channel at
// once, many times over: each channel ends on one node, and both were
// told that node.
func TestPlacementRace(t *testing.T) {
	testkit.NoLeaks(t)
	etcd := testetcd.Start(t)
	prefix := newPrefix()
	h := &harness{endpoint: etcd.Endpoint, prefix: prefix, members: map[string]*Member{}, nodes: map[string]voicectl.Node{}}
	h.join(t, voicectl.Node{ID: "r", Region: "rotterdam", Endpoint: "r:1", State: voicectl.NodeServing})
	h.join(t, voicectl.Node{ID: "j", Region: "japan", Endpoint: "j:1", State: voicectl.NodeServing})
	a, b := startRegistry(t, etcd.Endpoint, prefix), startRegistry(t, etcd.Endpoint, prefix)
	for _, r := range []*Registry{a, b} {
		testkit.Eventually(t, 5*time.Second, func() bool { n, _ := r.Nodes(context.Background()); return len(n) == 2 }, "both nodes seen")
	}
	const rounds = 200
	wins := map[string]int{}
	start := time.Now()
	for i := range rounds {
		ch := fmt.Sprint(1000 + i)
		var got [2]string
		var wg sync.WaitGroup
		for k, pr := range []struct {
			r    *Registry
			pref string
		}{{a, "europe"}, {b, "hongkong"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := pr.r.Place(context.Background(), voicectl.PlaceRequest{Channel: ch, Preferred: pr.pref})
				if err != nil {
					t.Errorf("place %s: %v", ch, err)
				}
				got[k] = n.ID
			}()
		}
		wg.Wait()
		if got[0] != got[1] || got[0] == "" {
			t.Fatalf("channel %s placed twice: %v", ch, got)
		}
		wins[got[0]]++
	}
	elapsed := time.Since(start)
	t.Logf("%d channels raced by two control planes: each placed once (rotterdam %d, japan %d); %v per race of two placements",
		rounds, wins["r"], wins["j"], (elapsed / rounds).Round(time.Microsecond))
	if wins["r"] == 0 || wins["j"] == 0 {
		t.Logf("one side won every race (scheduling): the check still holds")
	}
}

// TestRequestDrain: `parley voice drain` reaches the node's Member
// (OnDrain, once); a node not registered is ErrNoNode.
func TestRequestDrain(t *testing.T) {
	testkit.NoLeaks(t)
	etcd := testetcd.Start(t)
	prefix := newPrefix()
	registered, drained := make(chan struct{}, 1), make(chan struct{}, 2)
	m, err := NewMember(MemberConfig{Endpoints: []string{etcd.Endpoint}, Prefix: prefix, TTL: testTTL,
		Node:      voicectl.Node{ID: "n1", Region: "rotterdam", Endpoint: "n1.example:443"},
		OnServing: func() { signal(registered) }, OnDrain: func() { drained <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(closeCtx(t)) })
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-registered
	ctx := context.Background()
	if err := RequestDrain(ctx, []string{etcd.Endpoint}, prefix, "n2"); !errors.Is(err, ErrNoNode) {
		t.Fatalf("drain of an unknown node: %v", err)
	}
	for range 2 {
		if err := RequestDrain(ctx, []string{etcd.Endpoint}, prefix, "n1"); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("OnDrain not called")
	}
	if err := m.SetState(ctx, voicectl.NodeDraining); err != nil { // a marker: the Member's loop ran past both puts
		t.Fatal(err)
	}
	if len(drained) != 0 {
		t.Fatal("OnDrain called twice for one registration")
	}
}

// TestPresence: a node publishes who is connected with its load, and the
// control plane's registry answers Connected from its cache.
func TestPresence(t *testing.T) {
	testkit.NoLeaks(t)
	etcd := testetcd.Start(t)
	prefix := newPrefix()
	reg := startRegistry(t, etcd.Endpoint, prefix)
	var mu sync.Mutex
	parts := []voicectl.Participant{{ChannelID: "42", UserID: "7"}}
	m, err := NewMember(MemberConfig{Endpoints: []string{etcd.Endpoint}, Prefix: prefix, TTL: testTTL,
		Node: voicectl.Node{ID: "n1", Region: "rotterdam", Endpoint: "n1.example:443"},
		Participants: func() []voicectl.Participant {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(parts)
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(closeCtx(t)) })
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return reg.Connected("n1", "42", "7") }, "7 connected to 42 on n1")
	if reg.Connected("n1", "42", "8") || reg.Connected("n2", "42", "7") || reg.Connected("n1", "43", "7") {
		t.Fatal("Connected answers for someone not there")
	}
	mu.Lock()
	parts = []voicectl.Participant{{ChannelID: "42", UserID: "8"}}
	mu.Unlock()
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return reg.Connected("n1", "42", "8") && !reg.Connected("n1", "42", "7") }, "8 replaced 7")
}
