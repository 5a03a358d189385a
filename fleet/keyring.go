package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	rpctypes "go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parleyhq/parley/internal/voicetoken"
)

// KeyRingConfig configures a control plane's KeyRing.
type KeyRingConfig struct {
	// Endpoints are etcd's client addresses, host:port (ParseURL).
	Endpoints []string
	// Prefix is the fleet's key prefix (default DefaultPrefix).
	Prefix string
	// DialTimeout bounds connecting to etcd (default 5 s).
	DialTimeout time.Duration
	// TokenTTL is the lifetime of the voice tokens the control plane
	// issues (required): a replaced key verifies this long after its last
	// token.
	TokenTTL time.Duration
	// Grace keeps a retired key's record this much longer (default 1 min,
	// at least 1 s): the lease runs out after the retirement, which the
	// nodes enforce by the clock.
	Grace time.Duration
	// PublishLead is how long a new key is published before it signs
	// (default 1 s), so every node's watch has it first.
	PublishLead time.Duration
	// Owner names this control plane in the records (host, process).
	Owner string
	// Logger receives structured logs; nil discards them.
	Logger  *slog.Logger
	Metrics prometheus.Registerer
}

func (c KeyRingConfig) withDefaults() KeyRingConfig {
	c.Prefix, c.DialTimeout, c.Logger = etcdDefaults(c.Prefix, c.DialTimeout, c.Logger)
	if c.Grace == 0 {
		c.Grace = time.Minute
	}
	if c.PublishLead == 0 {
		c.PublishLead = time.Second
	}
	return c
}

func (c KeyRingConfig) etcdClient() ([]string, time.Duration) { return c.Endpoints, c.DialTimeout }

// Validate reports the first problem; it changes nothing.
func (c KeyRingConfig) Validate() error {
	if err := validateEtcd(c.Endpoints, c.Prefix, c.DialTimeout); err != nil {
		return err
	}
	switch {
	case c.TokenTTL < time.Second:
		return fmt.Errorf("%w: voice token lifetime %v, at least 1 s", ErrConfig, c.TokenTTL)
	case c.Grace < time.Second:
		return fmt.Errorf("%w: key grace %v, at least 1 s", ErrConfig, c.Grace)
	case c.PublishLead < 0:
		return fmt.Errorf("%w: negative publish lead", ErrConfig)
	case len(c.Owner) > 256:
		return fmt.Errorf("%w: owner longer than 256 bytes", ErrConfig)
	}
	return nil
}

// KeyRing is a control plane's voice-token keys: its current Ed25519 key
// signs (Current, for voicetoken.WithIssuer), its public half is
// published under keys/KID on a lease kept alive while it is current.
// Rotate — or a rotation request in etcd (RequestRotation), which every
// control plane follows — publishes a new key, lets it sign PublishLead
// later, and marks the previous one retiring when the last token it
// signed expires (TokenTTL); its lease then runs out Grace later. Close
// retires the current key the same way: tokens already issued keep
// working on every node until they expire.
type KeyRing struct {
	cfg     KeyRingConfig
	cli     *clientv3.Client
	current atomic.Pointer[voicetoken.SigningKey]
	rotate  chan struct{} // Rotate's requests, buffered 1
	metrics *keyRingMetrics

	mu sync.Mutex // guards the following fields
	// lease and rec are the current key's lease and record; written by
	// Start and the loop, read by Close after the loop ended.
	lease   clientv3.LeaseID
	rec     TokenKey
	started bool

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// NewKeyRing validates cfg and makes the etcd client (which connects
// lazily). Nothing is published until Start.
func NewKeyRing(cfg KeyRingConfig) (*KeyRing, error) {
	cfg, cli, err := openConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &KeyRing{cfg: cfg, cli: cli, rotate: make(chan struct{}, 1), metrics: newKeyRingMetrics(cfg.Metrics), cancel: func() {}}, nil
}

// Start publishes the first key (one etcd round, within ctx and the dial
// timeout: every token issued after Start verifies on every node), then
// starts the goroutine that keeps it alive and follows rotation requests.
func (r *KeyRing) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return ErrClosed
	}
	r.started = true
	r.mu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, r.cfg.DialTimeout)
	defer cancel()
	// The revision to follow rotation requests from: those made before
	// this control plane started are not for it.
	resp, err := r.cli.Get(pctx, rotateKey(r.cfg.Prefix))
	if err != nil {
		return fmt.Errorf("fleet: voice-token keys: %w", etcdErr(r.cfg.Endpoints, err))
	}
	k := voicetoken.NewSigningKey()
	lease, rec, err := r.publish(pctx, k)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.lease, r.rec = lease, rec
	r.mu.Unlock()
	r.current.Store(&k)
	r.cfg.Logger.Info("voice-token key published", "kid", k.ID)
	lctx, lcancel := context.WithCancel(context.Background())
	r.cancel = lcancel
	r.wg.Add(1)
	go r.run(lctx, resp.Header.Revision) // owned by Close
	return nil
}

// Current is the key new tokens are signed with (nil before Start).
func (r *KeyRing) Current() *voicetoken.SigningKey { return r.current.Load() }

// Rotate asks for a new current key (SIGHUP); it returns at once, the
// KeyRing's goroutine rotates.
func (r *KeyRing) Rotate() {
	select {
	case r.rotate <- struct{}{}:
	default: // one is pending
	}
}

// Close stops the goroutine, marks the current key retiring when the
// tokens it signed expire (ctx bounds this, and DialTimeout does when ctx
// has no deadline, so that Close returns even when etcd is unreachable)
// and closes the client. It is idempotent.
func (r *KeyRing) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, r.cfg.DialTimeout)
			defer cancel()
		}
		r.mu.Lock()
		r.started = true
		r.mu.Unlock()
		r.cancel()
		r.wg.Wait() // the loop ends on its cancelled context
		r.mu.Lock()
		lease, rec := r.lease, r.rec
		r.mu.Unlock()
		if lease != 0 {
			r.closeErr = r.retire(ctx, lease, rec, time.Now())
		}
		r.closeErr = errors.Join(r.closeErr, r.cli.Close())
	})
	return r.closeErr
}

// leaseTTL is a key record's lease: a token's lifetime and the grace.
func (r *KeyRing) leaseTTL() int64 {
	return int64((r.cfg.TokenTTL + r.cfg.Grace + time.Second - 1) / time.Second)
}

// publish puts k's record under a new lease.
func (r *KeyRing) publish(ctx context.Context, k voicetoken.SigningKey) (clientv3.LeaseID, TokenKey, error) {
	g, err := r.cli.Grant(ctx, r.leaseTTL())
	if err != nil {
		return 0, TokenKey{}, fmt.Errorf("fleet: lease for a voice-token key: %w", err)
	}
	rec := TokenKey{ID: k.ID, Alg: algEd25519, Public: k.Public(), Created: time.Now().UnixMilli(), Owner: r.cfg.Owner}
	v, _ := json.Marshal(rec) // TokenKey always marshals
	if _, err := r.cli.Put(ctx, tokenKeyKey(r.cfg.Prefix, k.ID), string(v), clientv3.WithLease(g.ID)); err != nil {
		return 0, TokenKey{}, fmt.Errorf("fleet: publishing voice-token key %s: %w", k.ID, err)
	}
	r.metrics.published.Inc()
	return g.ID, rec, nil
}

// retire marks rec retiring when the last token it signed (up to at)
// expires, and renews its lease once more so that the record outlives
// the retirement by the grace; the lease is not renewed again.
func (r *KeyRing) retire(ctx context.Context, lease clientv3.LeaseID, rec TokenKey, at time.Time) error {
	rec.Retires = at.Add(r.cfg.TokenTTL + time.Second).UnixMilli() // expiries are whole seconds
	v, _ := json.Marshal(rec)
	if _, err := r.cli.KeepAliveOnce(ctx, lease); err != nil {
		return fmt.Errorf("fleet: voice-token key %s: %w", rec.ID, err)
	}
	if _, err := r.cli.Put(ctx, tokenKeyKey(r.cfg.Prefix, rec.ID), string(v), clientv3.WithLease(lease)); err != nil {
		return fmt.Errorf("fleet: retiring voice-token key %s: %w", rec.ID, err)
	}
	r.cfg.Logger.Info("voice-token key retiring", "kid", rec.ID, "retires", time.UnixMilli(rec.Retires).Format(time.RFC3339))
	return nil
}

// run keeps the current key's lease alive and rotates on request (Rotate,
// or a put of keys-rotate after rev) until ctx ends.
func (r *KeyRing) run(ctx context.Context, rev int64) {
	defer r.wg.Done()
	tick := time.NewTicker(max(time.Second, time.Duration(r.leaseTTL())*time.Second/4))
	defer tick.Stop()
	var watch clientv3.WatchChan
	var retry <-chan time.Time
	rewatch := func() {
		wctx := clientv3.WithRequireLeader(ctx)
		watch = r.cli.Watch(wctx, rotateKey(r.cfg.Prefix), clientv3.WithRev(rev+1))
	}
	rewatch()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.keepAlive(ctx)
		case <-r.rotate:
			r.doRotate(ctx)
		case <-retry:
			retry = nil
			rewatch()
		case resp, ok := <-watch:
			switch {
			case !ok || resp.Err() != nil:
				if ctx.Err() != nil {
					return
				}
				if resp.CompactRevision != 0 {
					rev = resp.CompactRevision - 1
				}
				r.cfg.Logger.Warn("voice-token key rotation watch broke; again in a second", "err", resp.Err())
				watch, retry = nil, time.After(time.Second)
				continue
			}
			rotated := false
			for _, ev := range resp.Events {
				rev = ev.Kv.ModRevision
				if ev.Type == clientv3.EventTypePut && !rotated {
					rotated = true // several requests in one response: one rotation
					r.doRotate(ctx)
				}
			}
		}
	}
}

// keepAlive renews the current key's lease; a lease etcd lost (a long
// partition) is replaced by publishing the key again.
func (r *KeyRing) keepAlive(ctx context.Context) {
	r.mu.Lock()
	lease := r.lease
	r.mu.Unlock()
	kctx, cancel := context.WithTimeout(ctx, r.cfg.DialTimeout)
	defer cancel()
	_, err := r.cli.KeepAliveOnce(kctx, lease)
	if err == nil {
		return
	}
	if !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		r.cfg.Logger.Warn("voice-token key: lease not renewed", "err", err)
		return
	}
	k := r.current.Load()
	lease, rec, err := r.publish(kctx, *k)
	if err != nil {
		r.cfg.Logger.Warn("voice-token key: republishing", "kid", k.ID, "err", err)
		return
	}
	r.mu.Lock()
	r.lease, r.rec = lease, rec
	r.mu.Unlock()
	r.cfg.Logger.Warn("voice-token key: its lease was gone; published again", "kid", k.ID)
}

// doRotate publishes a new key, lets it sign PublishLead later, and
// retires the previous one. A failure keeps the previous key current.
func (r *KeyRing) doRotate(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, r.cfg.DialTimeout+r.cfg.PublishLead)
	defer cancel()
	k := voicetoken.NewSigningKey()
	lease, rec, err := r.publish(rctx, k)
	if err != nil {
		r.metrics.rotations.WithLabelValues("failed").Inc()
		r.cfg.Logger.Warn("voice-token key rotation failed; the current key stays", "err", err)
		return
	}
	select {
	case <-ctx.Done():
		return // Close retires the current key; the new one's lease runs out
	case <-time.After(r.cfg.PublishLead):
	}
	r.mu.Lock()
	oldLease, oldRec := r.lease, r.rec
	r.lease, r.rec = lease, rec
	r.mu.Unlock()
	r.current.Store(&k)
	switched := time.Now()
	r.metrics.rotations.WithLabelValues("rotated").Inc()
	r.cfg.Logger.Info("voice-token key rotated", "kid", k.ID, "previous", oldRec.ID)
	if err := r.retire(rctx, oldLease, oldRec, switched); err != nil {
		// Its lease is no longer renewed: it goes TokenTTL+Grace after
		// its last renewal all the same.
		r.cfg.Logger.Warn("voice-token key: could not mark the previous key retiring", "err", err)
	}
}

// keyRingMetrics are a control plane's key collectors.
type keyRingMetrics struct {
	published prometheus.Counter
	rotations *prometheus.CounterVec
}

func newKeyRingMetrics(reg prometheus.Registerer) *keyRingMetrics {
	m := &keyRingMetrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "parley", Subsystem: "fleet", Name: "token_keys_published_total",
			Help: "Voice-token keys this control plane published (its first, rotations, republished after a lost lease)."}),
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "parley", Subsystem: "fleet", Name: "token_key_rotations_total",
			Help: "Voice-token key rotations of this control plane: rotated, failed."}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.published, m.rotations)
	}
	return m
}
