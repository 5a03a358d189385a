package fleet

import (
	stdcmp "cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parleyhq/parley/internal/voicectl"
)

// RegistryConfig configures a control plane's Registry.
type RegistryConfig struct {
	// Endpoints are etcd's client addresses, host:port (ParseURL).
	Endpoints []string
	// Prefix is the fleet's key prefix (default DefaultPrefix).
	Prefix string
	// DialTimeout bounds connecting to etcd (default 5 s).
	DialTimeout time.Duration
	// Logger receives structured logs; nil discards them.
	Logger  *slog.Logger
	Metrics prometheus.Registerer
}

func (c RegistryConfig) withDefaults() RegistryConfig {
	c.Prefix, c.DialTimeout, c.Logger = etcdDefaults(c.Prefix, c.DialTimeout, c.Logger)
	return c
}

func (c RegistryConfig) etcdClient() ([]string, time.Duration) { return c.Endpoints, c.DialTimeout }

// Validate reports the first problem; it changes nothing.
func (c RegistryConfig) Validate() error {
	return validateEtcd(c.Endpoints, c.Prefix, c.DialTimeout)
}

// Registry is the control plane's view of the fleet in etcd: a prefix
// watch keeps every node in memory (Nodes makes no round trip), and Place
// stores each channel's node with a compare-and-swap.
type Registry struct {
	cfg     RegistryConfig
	cli     *clientv3.Client
	metrics *registryMetrics

	mu sync.Mutex // guards all following fields
	// nodes are the live records by id, as the watch last saw them.
	nodes map[string]record
	// synced is closed once the first listing is in nodes.
	synced  chan struct{}
	started bool
	// watchers are OnLeaving's callbacks by registration number.
	watchers map[int]func(voicectl.Node)
	nextW    int

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var (
	_ voicectl.Registry = (*Registry)(nil)
	_ voicectl.Watcher  = (*Registry)(nil)
	_ voicectl.Presence = (*Registry)(nil)
)

// NewRegistry validates cfg and makes the etcd client (which connects
// lazily). Nothing runs until Start.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	cfg, cli, err := openConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Registry{cfg: cfg, cli: cli, metrics: newRegistryMetrics(cfg.Metrics), nodes: map[string]record{},
		synced: make(chan struct{}), cancel: func() {}, watchers: map[int]func(voicectl.Node){}}, nil
}

// Start starts the watch goroutine and returns at once; Synced tells when
// the first listing is in.
func (r *Registry) Start(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return ErrClosed
	}
	r.started = true
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(1)
	go r.watch(ctx) // owned by Close
	return nil
}

// Synced is closed once the registry has listed the fleet.
func (r *Registry) Synced() <-chan struct{} { return r.synced }

// Close stops the watch, waits for it and closes the client. It is
// idempotent.
func (r *Registry) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.started = true // a later Start fails
		r.mu.Unlock()
		r.cancel()
		done := make(chan struct{})
		go func() { r.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			r.closeErr = fmt.Errorf("fleet: waiting for the registry watch: %w", ctx.Err())
			<-done // the watch ends on its cancelled context; never leaked
		}
		r.closeErr = errors.Join(r.closeErr, r.cli.Close())
	})
	return r.closeErr
}

// watch lists the fleet, then follows it from the listing's revision; a
// broken or compacted watch lists again.
func (r *Registry) watch(ctx context.Context) {
	defer r.wg.Done()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		rev, err := r.list(ctx)
		if err == nil {
			err = r.follow(ctx, rev+1)
		}
		if ctx.Err() != nil {
			return
		}
		r.cfg.Logger.Warn("fleet registry watch", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// list replaces the cache with the nodes in etcd and returns the revision.
func (r *Registry) list(ctx context.Context) (int64, error) {
	lctx, cancel := context.WithTimeout(ctx, r.cfg.DialTimeout)
	defer cancel()
	resp, err := r.cli.Get(lctx, nodesKey(r.cfg.Prefix), clientv3.WithPrefix())
	if err != nil {
		return 0, err
	}
	nodes := map[string]record{}
	for _, kv := range resp.Kvs {
		rec, err := decodeRecord(kv.Value)
		if err != nil {
			r.cfg.Logger.Warn("fleet: node record skipped", "key", string(kv.Key), "err", err)
			continue
		}
		nodes[rec.ID] = rec
	}
	r.mu.Lock()
	r.nodes = nodes
	select {
	case <-r.synced:
	default:
		close(r.synced)
	}
	r.mu.Unlock()
	r.metrics.setNodes(nodes)
	return resp.Header.Revision, nil
}

// follow applies watch events from rev on until the watch breaks.
func (r *Registry) follow(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	ch := r.cli.Watch(wctx, r.cfg.Prefix, clientv3.WithPrefix(), clientv3.WithRev(rev))
	nodesPrefix, seenPrefix := nodesKey(r.cfg.Prefix), seenKey(r.cfg.Prefix)
	for resp := range ch {
		if err := resp.Err(); err != nil {
			return err
		}
		// A clean leave deletes nodes/ID and seen/ID in one transaction,
		// so in one response; a node key deleted alone was lost.
		left := map[string]bool{}
		for _, ev := range resp.Events {
			if id, ok := strings.CutPrefix(string(ev.Kv.Key), seenPrefix); ok && ev.Type == clientv3.EventTypeDelete {
				left[id] = true
			}
		}
		var leaving []voicectl.Node // told to the watchers once unlocked
		r.mu.Lock()
		for _, ev := range resp.Events {
			id, ok := strings.CutPrefix(string(ev.Kv.Key), nodesPrefix)
			if !ok {
				continue
			}
			switch ev.Type {
			case clientv3.EventTypePut:
				rec, err := decodeRecord(ev.Kv.Value)
				if err == nil && rec.ID != id {
					err = fmt.Errorf("%w: id %q under key %q", ErrRecord, rec.ID, id)
				}
				if err != nil {
					r.cfg.Logger.Warn("fleet: node record skipped", "err", err)
					continue
				}
				if old, had := r.nodes[id]; rec.State == voicectl.NodeDraining && (!had || old.State != voicectl.NodeDraining) {
					leaving = append(leaving, rec.Node)
				}
				r.nodes[id] = rec
			case clientv3.EventTypeDelete:
				if old, had := r.nodes[id]; had && !left[id] {
					r.metrics.lost.Inc()
					r.cfg.Logger.Warn("voice node lost", "node", id)
					old.State, old.Load = voicectl.NodeLost, voicectl.Load{}
					leaving = append(leaving, old.Node)
				}
				delete(r.nodes, id)
			}
		}
		snapshot := maps(r.nodes)
		watchers := make([]func(voicectl.Node), 0, len(r.watchers))
		for _, f := range r.watchers {
			watchers = append(watchers, f)
		}
		r.mu.Unlock()
		r.metrics.setNodes(snapshot)
		for _, n := range leaving {
			for _, f := range watchers {
				f(n)
			}
		}
	}
	return ctx.Err()
}

func maps(m map[string]record) map[string]record {
	out := make(map[string]record, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// OnLeaving implements voicectl.Watcher: f is called from the watch
// goroutine when a node's record turns draining, and when a node is lost
// (its key vanished without a clean leave: its lease expired).
func (r *Registry) OnLeaving(f func(voicectl.Node)) func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := r.nextW
	r.nextW++
	r.watchers[id] = f
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.watchers, id)
	}
}

// Connected implements voicectl.Presence from the cached records.
func (r *Registry) Connected(node, channel, user string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := slices.BinarySearch(r.nodes[node].Present, presenceEntry(channel, user))
	return ok
}

// records returns the cached records, sorted by id.
func (r *Registry) records() []record {
	r.mu.Lock()
	out := make([]record, 0, len(r.nodes))
	for _, rec := range r.nodes {
		out = append(out, rec)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b record) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Nodes lists the live nodes from memory.
func (r *Registry) Nodes(context.Context) ([]voicectl.Node, error) {
	recs := r.records()
	out := make([]voicectl.Node, len(recs))
	for i, rec := range recs {
		out[i] = rec.Node
	}
	return out, nil
}

// Place implements voicectl.Registry. The common case is one transaction:
// create the placement if the channel has none, else read it. An
// existing placement is kept while its node lives (the cache, else one
// read of the node's key, since another control plane may have seen a
// new node first) and serves the request's region; otherwise it is
// replaced only if its revision is still the one read, and the loop reads
// again when another control plane won.
func (r *Registry) Place(ctx context.Context, req voicectl.PlaceRequest) (voicectl.Node, error) {
	if !validID(req.Channel) {
		return voicectl.Node{}, fmt.Errorf("%w: channel id %q", ErrConfig, req.Channel)
	}
	start := time.Now()
	key := placementKey(r.cfg.Prefix, req.Channel)
	excluded := map[string]bool{} // nodes whose lease turned out gone
	for range 8 {
		recs := r.records()
		nodes := make([]voicectl.Node, 0, len(recs))
		for _, rec := range recs {
			if !excluded[rec.ID] {
				nodes = append(nodes, rec.Node)
			}
		}
		choice, chooseErr := voicectl.Choose(nodes, req)
		var cmp clientv3.Cmp
		cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
		var resp *clientv3.TxnResponse
		var err error
		if chooseErr == nil {
			lease := r.leaseOf(recs, choice.ID)
			resp, err = r.cli.Txn(ctx).If(cmp).
				Then(clientv3.OpPut(key, choice.ID, clientv3.WithLease(clientv3.LeaseID(lease)))).
				Else(clientv3.OpGet(key)).Commit()
		} else {
			resp, err = r.cli.Txn(ctx).If(cmp).Else(clientv3.OpGet(key)).Commit()
		}
		if err != nil {
			if isLeaseGone(err) {
				excluded[choice.ID] = true
				continue
			}
			r.metrics.placements.WithLabelValues("error").Inc()
			return voicectl.Node{}, fmt.Errorf("fleet: place %s: %w", req.Channel, err)
		}
		if resp.Succeeded {
			if chooseErr != nil {
				r.metrics.placements.WithLabelValues("no_node").Inc()
				return voicectl.Node{}, chooseErr
			}
			r.placed(stdcmp.Or(movedLabel(req), "placed"), start)
			return choice, nil
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			continue // deleted in between (its node's lease expired)
		}
		cur, modRev := string(kvs[0].Value), kvs[0].ModRevision
		if n, ok := r.liveNode(ctx, recs, cur); ok && voicectl.Keeps(n, nodes, req) {
			r.placed("kept", start)
			return n, nil
		}
		if chooseErr != nil {
			r.metrics.placements.WithLabelValues("no_node").Inc()
			return voicectl.Node{}, chooseErr
		}
		lease := r.leaseOf(recs, choice.ID)
		resp, err = r.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
			Then(clientv3.OpPut(key, choice.ID, clientv3.WithLease(clientv3.LeaseID(lease)))).Commit()
		if err != nil {
			if isLeaseGone(err) {
				excluded[choice.ID] = true
				continue
			}
			r.metrics.placements.WithLabelValues("error").Inc()
			return voicectl.Node{}, fmt.Errorf("fleet: re-place %s: %w", req.Channel, err)
		}
		if resp.Succeeded {
			r.placed(stdcmp.Or(movedLabel(req), "replaced"), start)
			return choice, nil
		}
		// Another control plane changed the placement: read it again.
	}
	r.metrics.placements.WithLabelValues("error").Inc()
	return voicectl.Node{}, fmt.Errorf("fleet: place %s: too much contention", req.Channel)
}

// movedLabel is the placements_total result of a move (PlaceRequest.From).
func movedLabel(req voicectl.PlaceRequest) string {
	if req.From != "" {
		return "moved"
	}
	return ""
}

func (r *Registry) placed(result string, start time.Time) {
	r.metrics.placements.WithLabelValues(result).Inc()
	r.metrics.latency.Observe(time.Since(start).Seconds())
}

func (r *Registry) leaseOf(recs []record, id string) int64 {
	for _, rec := range recs {
		if rec.ID == id {
			return rec.Lease
		}
	}
	return 0
}

// liveNode finds node id in the cache or, failing that, in etcd (a node
// another control plane saw first).
func (r *Registry) liveNode(ctx context.Context, recs []record, id string) (voicectl.Node, bool) {
	for _, rec := range recs {
		if rec.ID == id {
			return rec.Node, true
		}
	}
	if !validID(id) {
		return voicectl.Node{}, false
	}
	resp, err := r.cli.Get(ctx, nodeKey(r.cfg.Prefix, id))
	if err != nil || len(resp.Kvs) == 0 {
		return voicectl.Node{}, false
	}
	rec, err := decodeRecord(resp.Kvs[0].Value)
	return rec.Node, err == nil
}

// isLeaseGone reports an etcd "requested lease not found": the chosen
// node's lease expired after the cache last saw it.
func isLeaseGone(err error) bool {
	return err != nil && strings.Contains(err.Error(), "requested lease not found")
}
