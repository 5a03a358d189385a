package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parleyhq/parley/internal/voicectl"
)

// DefaultTTL is a node's lease: it vanishes this long after its last
// keep-alive.
const DefaultTTL = 5 * time.Second

// MemberConfig configures a voice node's registration.
type MemberConfig struct {
	// Endpoints are etcd's client addresses, host:port (ParseURL).
	Endpoints []string
	// Prefix is the fleet's key prefix (default DefaultPrefix).
	Prefix string
	// Node describes the node: ID, Region and Endpoint are required,
	// Capacity optional; State and Load are the Member's.
	Node voicectl.Node
	// TTL is the lease, in whole seconds (default DefaultTTL, 5 s; at
	// least 2 s, the shortest lease etcd grants with its default timing).
	TTL time.Duration
	// LoadInterval is how often the load is published (default 2 s).
	LoadInterval time.Duration
	// Load measures the node's live load (nil: zero).
	Load func() voicectl.Load
	// Participants lists who is connected (nil: nobody is published);
	// published with the load, so control planes know whether a moved
	// member arrived (voicectl.Presence).
	Participants func() []voicectl.Participant
	// OnServing is called once registered (the node may admit sessions);
	// OnLost when the registry session is lost (the node must serve
	// nothing: voicenode.Node.SetServing(false)). Both are called from the
	// Member's goroutine, in turn, never at once.
	OnServing, OnLost func()
	// OnDrain is called (from the Member's goroutine, once per
	// registration) when an operator asks the node to drain
	// (RequestDrain, `parley voice drain`): the node announces draining
	// (SetState), its calls are moved, and it exits once empty.
	OnDrain func()
	// DialTimeout bounds etcd calls (default 5 s).
	DialTimeout time.Duration
	// Logger receives structured logs; nil discards them.
	Logger  *slog.Logger
	Metrics prometheus.Registerer
}

func (c MemberConfig) withDefaults() MemberConfig {
	c.Prefix, c.DialTimeout, c.Logger = etcdDefaults(c.Prefix, c.DialTimeout, c.Logger)
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.LoadInterval == 0 {
		c.LoadInterval = 2 * time.Second
	}
	return c
}

func (c MemberConfig) etcdClient() ([]string, time.Duration) { return c.Endpoints, c.DialTimeout }

// Validate reports the first problem; it changes nothing.
func (c MemberConfig) Validate() error {
	if err := validateEtcd(c.Endpoints, c.Prefix, c.DialTimeout); err != nil {
		return err
	}
	switch {
	case !validID(c.Node.ID):
		return fmt.Errorf("%w: node id %q (1-128 of a-z A-Z 0-9 - _ .)", ErrConfig, c.Node.ID)
	case c.Node.Region == "" || len(c.Node.Region) > 64:
		return fmt.Errorf("%w: node region must be 1-64 bytes", ErrConfig)
	case c.Node.Endpoint == "":
		return fmt.Errorf("%w: node endpoint required", ErrConfig)
	case c.Node.Capacity < 0:
		return fmt.Errorf("%w: negative capacity", ErrConfig)
	case c.TTL < 2*time.Second || c.TTL%time.Second != 0 || c.TTL > time.Hour:
		return fmt.Errorf("%w: TTL %v must be whole seconds from 2 s to 1 h", ErrConfig, c.TTL)
	case c.LoadInterval <= 0:
		return fmt.Errorf("%w: load interval must be positive", ErrConfig)
	}
	return nil
}

// Member is a voice node's registration: a lease with keep-alives, the
// node's record put under it and refreshed with its load, and after a lost
// session a new registration.
type Member struct {
	cfg     MemberConfig
	cli     *clientv3.Client
	metrics *memberMetrics
	// refresh asks the goroutine to publish now (Refresh, SetState).
	refresh chan chan error

	mu sync.Mutex // guards all following fields
	// state is the state the node announces (serving or draining).
	state voicectl.NodeState
	// lease is the live registration's lease (0 while not registered).
	lease   clientv3.LeaseID
	started bool

	cancel context.CancelFunc
	done   chan struct{}
	// wg counts the drain watchers (watchDrain), which end with their
	// registration.
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// NewMember validates cfg and makes the etcd client. Nothing is
// registered until Start.
func NewMember(cfg MemberConfig) (*Member, error) {
	cfg, cli, err := openConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Member{cfg: cfg, cli: cli, metrics: newMemberMetrics(cfg.Metrics), refresh: make(chan chan error),
		state: voicectl.NodeServing, cancel: func() {}, done: make(chan struct{})}, nil
}

// Start starts registering (in the Member's goroutine) and returns at
// once; OnServing tells when the node is registered.
func (m *Member) Start(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return ErrClosed
	}
	m.started = true
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.run(ctx) // owned by Close, which waits on done
	return nil
}

// Close stops the goroutine, leaves the fleet cleanly (deletes the node's
// keys and revokes its lease, so its placements go at once; ctx bounds
// this, and DialTimeout does when ctx has no deadline, so that Close
// returns even when etcd is unreachable) and closes the client. It is
// idempotent.
func (m *Member) Close(ctx context.Context) error {
	m.closeOnce.Do(func() {
		started := m.stop()
		var errs []error
		m.mu.Lock()
		lease := m.lease
		m.lease = 0
		m.mu.Unlock()
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, m.cfg.DialTimeout)
			defer cancel()
		}
		if started && lease != 0 {
			_, err := m.cli.Txn(ctx).Then(
				clientv3.OpDelete(nodeKey(m.cfg.Prefix, m.cfg.Node.ID)),
				clientv3.OpDelete(seenKey(m.cfg.Prefix)+m.cfg.Node.ID)).Commit()
			errs = append(errs, err)
			_, err = m.cli.Revoke(ctx, lease)
			errs = append(errs, err)
		}
		errs = append(errs, m.cli.Close())
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

// stop ends the goroutine and waits for it; it reports whether it ran.
func (m *Member) stop() bool {
	m.mu.Lock()
	started := m.started
	m.started = true // a later Start fails
	m.mu.Unlock()
	m.cancel()
	if started {
		<-m.done
	}
	m.wg.Wait()
	return started
}

// Lease is the current lease (0 while not registered).
func (m *Member) Lease() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(m.lease)
}

// Refresh publishes the node's record and load now (normally every
// LoadInterval). It fails while the node is not registered.
func (m *Member) Refresh(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case m.refresh <- reply:
	case <-ctx.Done():
		return ctx.Err()
	case <-m.done:
		return ErrClosed
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetState announces serving or draining (no new placements) and
// publishes it.
func (m *Member) SetState(ctx context.Context, st voicectl.NodeState) error {
	if st != voicectl.NodeServing && st != voicectl.NodeDraining {
		return fmt.Errorf("%w: a node announces serving or draining, not %q", ErrConfig, st)
	}
	m.mu.Lock()
	m.state = st
	m.mu.Unlock()
	return m.Refresh(ctx)
}

// run registers, keeps the record fresh, and registers again after a lost
// session, until ctx ends.
func (m *Member) run(ctx context.Context) {
	defer close(m.done)
	log := m.cfg.Logger.With("node", m.cfg.Node.ID)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		kctx, stopKeepAlive := context.WithCancel(ctx)
		// The session is counted from before the grant: etcd expires the
		// lease TTL after it, unless a keep-alive is answered.
		deadline := time.Now().Add(m.grace())
		lease, acks, err := m.register(ctx, kctx)
		if err != nil {
			stopKeepAlive()
			if ctx.Err() != nil {
				return
			}
			m.metrics.sessions.WithLabelValues("failed").Inc()
			log.Warn("fleet registration failed", "err", err)
			if !m.wait(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		m.metrics.session.Set(1)
		m.metrics.sessions.WithLabelValues("registered").Inc()
		log.Info("voice node registered", "lease", int64(lease), "ttl", m.cfg.TTL)
		if m.cfg.OnServing != nil {
			m.cfg.OnServing()
		}
		m.keep(ctx, lease, acks, m.watchDrain(kctx), deadline)
		stopKeepAlive()
		if ctx.Err() != nil {
			return // Close leaves cleanly with m.lease
		}
		m.mu.Lock()
		m.lease = 0
		m.mu.Unlock()
		m.metrics.session.Set(0)
		m.metrics.sessions.WithLabelValues("lost").Inc()
		log.Warn("voice node lost its registry session: serving nothing until registered again")
		if m.cfg.OnLost != nil {
			m.cfg.OnLost()
		}
	}
}

// wait waits d or until ctx ends; false when ctx ended.
func (m *Member) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// register grants a lease, keeps it alive (until kctx ends) and puts the
// record under it.
func (m *Member) register(ctx, kctx context.Context) (clientv3.LeaseID, <-chan *clientv3.LeaseKeepAliveResponse, error) {
	gctx, cancel := context.WithTimeout(ctx, m.cfg.DialTimeout)
	defer cancel()
	lease, err := m.cli.Grant(gctx, int64(m.cfg.TTL/time.Second))
	if err != nil {
		return 0, nil, err
	}
	acks, err := m.cli.KeepAlive(kctx, lease.ID)
	if err == nil {
		err = m.publish(gctx, lease.ID, true)
	}
	if err != nil {
		_, _ = m.cli.Revoke(gctx, lease.ID)
		return 0, nil, err
	}
	m.mu.Lock()
	m.lease = lease.ID
	m.mu.Unlock()
	return lease.ID, acks, nil
}

// grace is how long a session lasts after the last answered keep-alive
// (or the grant): 3/4 of the TTL.
func (m *Member) grace() time.Duration { return m.cfg.TTL * 3 / 4 }

// keep publishes the load every LoadInterval and on Refresh until the
// session is lost or ctx ends. The session counts as lost when the
// keep-alives (sent every TTL/3, on the etcd client's 500 ms tick) stop
// being answered for 3/4 of the TTL (deadline is the first end, counted
// from the grant): before etcd expires the lease (TTL after the last
// keep-alive it received), so the node stops serving before the control
// plane can place its channels elsewhere.
func (m *Member) keep(ctx context.Context, lease clientv3.LeaseID, acks <-chan *clientv3.LeaseKeepAliveResponse, drain <-chan struct{}, deadline time.Time) {
	tick := time.NewTicker(m.cfg.LoadInterval)
	defer tick.Stop()
	grace := m.grace()
	watchdog := time.NewTimer(time.Until(deadline))
	defer watchdog.Stop()
	for {
		var reply chan error
		select {
		case <-ctx.Done():
			return
		case ack, ok := <-acks:
			if !ok || ack.TTL <= 0 {
				return // the lease expired or the keep-alive ended
			}
			deadline = time.Now().Add(grace)
			watchdog.Reset(grace)
			continue
		case <-watchdog.C:
			if !answered(acks) { // else answered, but read late (a loaded machine)
				return
			}
			deadline = time.Now().Add(grace)
			watchdog.Reset(grace)
			continue
		case <-drain:
			drain = nil
			m.cfg.Logger.Info("voice node asked to drain", "node", m.cfg.Node.ID)
			if m.cfg.OnDrain != nil {
				m.cfg.OnDrain()
			}
			continue
		case <-tick.C:
		case reply = <-m.refresh:
		}
		// A publish never holds the loop past the watchdog's deadline.
		pctx, cancel := context.WithDeadline(ctx, deadline)
		err := m.publish(pctx, lease, false)
		cancel()
		if reply != nil {
			reply <- err
		} else if err != nil {
			m.cfg.Logger.Warn("fleet load refresh", "node", m.cfg.Node.ID, "err", err)
		}
		if !time.Now().Before(deadline) {
			if !answered(acks) { // else answered while we published
				return
			}
			deadline = time.Now().Add(grace)
			watchdog.Reset(grace)
		}
	}
}

// answered reports whether an unread keep-alive answer renewing the lease
// waits in acks (it reads it).
func answered(acks <-chan *clientv3.LeaseKeepAliveResponse) bool {
	select {
	case ack, ok := <-acks:
		return ok && ack.TTL > 0
	default:
		return false
	}
}

// watchDrain returns a channel closed when this registration's drain key
// appears (RequestDrain puts it under the node's lease, so it goes with
// the registration). The watch ends with ctx; its goroutine is the etcd
// client's. The watch and the look-up both wait for etcd (Watch until
// its stream is open), so they run in the watcher: a partition now must
// not hold keep's watchdog back.
func (m *Member) watchDrain(ctx context.Context) <-chan struct{} {
	out := make(chan struct{})
	key := drainKey(m.cfg.Prefix, m.cfg.Node.ID)
	m.wg.Add(1)
	go func() { // owned by the Member: Close waits on wg
		defer m.wg.Done()
		wch := m.cli.Watch(ctx, key)
		defer func() {
			for range wch { // until ctx ends the watch
			}
		}()
		// The key may have been put between the registration and the watch.
		gctx, cancel := context.WithTimeout(ctx, m.cfg.DialTimeout)
		resp, err := m.cli.Get(gctx, key)
		cancel()
		if err == nil && len(resp.Kvs) > 0 {
			close(out)
			return
		}
		for wr := range wch {
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypePut {
					close(out)
					return
				}
			}
		}
	}()
	return out
}

// publish puts the node's record under its lease (and, with seen, the
// unleased copy that marks it lost once the lease goes).
func (m *Member) publish(ctx context.Context, lease clientv3.LeaseID, seen bool) error {
	n := m.cfg.Node
	m.mu.Lock()
	n.State = m.state
	m.mu.Unlock()
	if m.cfg.Load != nil {
		n.Load = m.cfg.Load()
	}
	n.Updated = time.Now().UTC().Truncate(time.Millisecond)
	rec := record{Node: n, Lease: int64(lease)}
	if m.cfg.Participants != nil {
		for _, p := range m.cfg.Participants() {
			if len(rec.Present) < maxPresent {
				rec.Present = append(rec.Present, presenceEntry(p.ChannelID, p.UserID))
			}
		}
		slices.Sort(rec.Present)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ops := []clientv3.Op{clientv3.OpPut(nodeKey(m.cfg.Prefix, n.ID), string(b), clientv3.WithLease(lease))}
	if seen {
		ops = append(ops, clientv3.OpPut(seenKey(m.cfg.Prefix)+n.ID, string(b)))
	}
	_, err = m.cli.Txn(ctx).Then(ops...).Commit()
	return err
}
