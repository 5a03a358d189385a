package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parleyhq/parley/internal/voicectl"
)

// FollowerConfig configures a voice node's Follower.
type FollowerConfig struct {
	// Endpoints are etcd's client addresses, host:port (ParseURL).
	Endpoints []string
	// Prefix is the fleet's key prefix (default DefaultPrefix).
	Prefix string
	// DialTimeout bounds connecting to etcd (default 5 s).
	DialTimeout time.Duration
	// Node is the voice node's own Controller, which the commands are
	// applied to (required).
	Node voicectl.Bus
	// Logger receives structured logs; nil discards them.
	Logger  *slog.Logger
	Metrics prometheus.Registerer
}

func (c FollowerConfig) withDefaults() FollowerConfig {
	c.Prefix, c.DialTimeout, c.Logger = etcdDefaults(c.Prefix, c.DialTimeout, c.Logger)
	return c
}

func (c FollowerConfig) etcdClient() ([]string, time.Duration) { return c.Endpoints, c.DialTimeout }

// Validate reports the first problem; it changes nothing.
func (c FollowerConfig) Validate() error {
	if err := validateEtcd(c.Endpoints, c.Prefix, c.DialTimeout); err != nil {
		return err
	}
	if c.Node == nil {
		return fmt.Errorf("%w: no node to apply voice commands to", ErrConfig)
	}
	return nil
}

// Follower is a voice node's side of the Bus and of the control planes'
// voice-token keys. A watch on keys/ keeps the published keys: the
// Follower is the node's voicetoken.KeySource (follower_keys.go). A watch
// on ctl/ applies every
// command to the node's Controller — stored mute, deafen and revocations
// as listed when it starts (and again after a compacted watch), then each
// change once, by revision; a disconnect only when it is put while the
// node watches. It is also the node's voicectl.Admitter for guilds no
// control plane in its process manages: the stored mute and deafen, when
// etcd has them, start the session whatever the token carries (it may
// predate an unmute); else voicectl.ErrNotManaged (the token's and the
// node's own apply).
type Follower struct {
	cfg     FollowerConfig
	cli     *clientv3.Client
	metrics *followerMetrics

	mu sync.Mutex // guards all following fields
	// mod is the stored moderation by guild/user, as etcd has it.
	mod map[string]voicectl.Moderation
	// keys are the published voice-token keys by id (follower_keys.go).
	keys map[string]TokenKey
	// gone remembers keys whose record went (retired), oldest first,
	// bounded: their tokens are refused as retired, not unknown.
	gone    []string
	synced  chan struct{} // closed after every stream's first listing was applied
	listed  map[string]bool
	started bool

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ voicectl.Admitter = (*Follower)(nil)

// NewFollower validates cfg and makes the etcd client (which connects
// lazily). Nothing runs until Start.
func NewFollower(cfg FollowerConfig) (*Follower, error) {
	cfg, cli, err := openConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Follower{cfg: cfg, cli: cli, metrics: newFollowerMetrics(cfg.Metrics), mod: map[string]voicectl.Moderation{},
		keys: map[string]TokenKey{}, listed: map[string]bool{}, synced: make(chan struct{}), cancel: func() {}}, nil
}

// Start starts the watch goroutine and returns at once; Synced tells when
// the stored state was applied.
func (f *Follower) Start(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started {
		return ErrClosed
	}
	f.started = true
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.wg.Add(followerStreams)
	go f.watch(ctx, stream{name: "commands", prefix: ctlKey(f.cfg.Prefix), reset: f.resetCommands, apply: f.apply}) // owned by Close
	go f.watch(ctx, stream{name: "keys", prefix: keysKey(f.cfg.Prefix), reset: f.resetKeys, apply: f.applyKey})     // owned by Close
	return nil
}

// followerStreams is how many prefixes a Follower follows.
const followerStreams = 2

// resetCommands forgets the stored moderation before a listing.
func (f *Follower) resetCommands() {
	f.mu.Lock()
	f.mod = map[string]voicectl.Moderation{}
	f.mu.Unlock()
}

// Synced is closed once the stored state (commands and voice-token keys)
// was applied to the node.
func (f *Follower) Synced() <-chan struct{} { return f.synced }

// Close stops the watch, waits for it and closes the client. It is
// idempotent.
func (f *Follower) Close(ctx context.Context) error {
	f.closeOnce.Do(func() {
		f.mu.Lock()
		f.started = true
		f.mu.Unlock()
		f.cancel()
		done := make(chan struct{})
		go func() { f.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			f.closeErr = fmt.Errorf("fleet: waiting for the command watch: %w", ctx.Err())
			<-done // the watch ends on its cancelled context
		}
		f.closeErr = errors.Join(f.closeErr, f.cli.Close())
	})
	return f.closeErr
}

// Admit implements voicectl.Admitter: the stored mute and deafen, once the
// stored state is in (within ctx), or voicectl.ErrNotManaged.
func (f *Follower) Admit(ctx context.Context, s voicectl.Session) (voicectl.Moderation, error) {
	select {
	case <-f.synced:
	case <-ctx.Done():
		return voicectl.Moderation{}, fmt.Errorf("fleet: voice commands not yet listed: %w", ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := f.mod[s.GuildID+"/"+s.UserID]; ok {
		return m, nil
	}
	return voicectl.Moderation{}, voicectl.ErrNotManaged
}

// stream is one prefix the Follower follows: ctl/ (voice commands) and
// keys/ (voice-token keys).
type stream struct {
	name   string // for logs
	prefix string
	// reset forgets the stored state before a listing.
	reset func()
	// apply applies one key; live says it came from the watch.
	apply func(ctx context.Context, typ mvccpb.Event_EventType, key, value []byte, live bool)
}

// watch lists st's stored state and follows its prefix from its revision;
// a broken watch resumes after the last revision applied, a compacted one
// lists again (events in between are lost and counted).
func (f *Follower) watch(ctx context.Context, st stream) {
	defer f.wg.Done()
	backoff := 100 * time.Millisecond
	var rev int64 // last revision applied; 0: list first
	for ctx.Err() == nil {
		var err error
		if rev == 0 {
			rev, err = f.list(ctx, st)
		}
		if err == nil {
			rev, err = f.follow(ctx, st, rev)
		}
		if ctx.Err() != nil {
			return
		}
		f.cfg.Logger.Warn("fleet watch", "stream", st.name, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// errCompacted means the watch's revision is gone: list again.
var errCompacted = errors.New("fleet: watch compacted")

// list applies st's stored state and returns its revision; the first
// listing of every stream closes synced.
func (f *Follower) list(ctx context.Context, st stream) (int64, error) {
	lctx, cancel := context.WithTimeout(ctx, f.cfg.DialTimeout)
	defer cancel()
	resp, err := f.cli.Get(lctx, st.prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, err
	}
	st.reset()
	for _, kv := range resp.Kvs {
		st.apply(ctx, clientv3.EventTypePut, kv.Key, kv.Value, false)
	}
	f.mu.Lock()
	if !f.listed[st.name] {
		f.listed[st.name] = true
		if len(f.listed) == followerStreams {
			close(f.synced)
		}
	}
	f.mu.Unlock()
	return resp.Header.Revision, nil
}

// follow applies events after rev until the watch breaks; it returns the
// last revision applied (0 when compacted: list again).
func (f *Follower) follow(ctx context.Context, st stream, rev int64) (int64, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	ch := f.cli.Watch(wctx, st.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	for resp := range ch {
		if resp.CompactRevision != 0 {
			f.metrics.dropped.WithLabelValues("compacted").Inc()
			return 0, errCompacted
		}
		if err := resp.Err(); err != nil {
			return rev, err
		}
		for _, ev := range resp.Events {
			st.apply(ctx, ev.Type, ev.Kv.Key, ev.Kv.Value, true)
			rev = ev.Kv.ModRevision
		}
	}
	return rev, ctx.Err()
}

// apply applies one key; live says it came from the watch (a disconnect
// counts only then).
func (f *Follower) apply(ctx context.Context, typ mvccpb.Event_EventType, key, value []byte, live bool) {
	op, c, err := decodeCommand(strings.TrimPrefix(string(key), ctlKey(f.cfg.Prefix)), value, typ == clientv3.EventTypeDelete)
	if err != nil {
		f.metrics.dropped.WithLabelValues("bad").Inc()
		f.cfg.Logger.Warn("fleet: voice command skipped", "key", string(key), "err", err)
		return
	}
	uk := c.Guild + "/" + c.User
	if typ == clientv3.EventTypeDelete { // expired: the node keeps what it applied
		if op == "mute" || op == "deaf" {
			f.mu.Lock()
			delete(f.mod, uk)
			f.mu.Unlock()
		}
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	switch op {
	case "mute", "deaf":
		f.mu.Lock()
		m := f.mod[uk]
		if op == "mute" {
			m.Mute = c.Value
		} else {
			m.Deaf = c.Value
		}
		f.mod[uk] = m
		f.mu.Unlock()
		if op == "mute" {
			err = f.cfg.Node.SetServerMute(cctx, c.Guild, c.User, c.Value)
		} else {
			err = f.cfg.Node.SetServerDeaf(cctx, c.Guild, c.User, c.Value)
		}
	case "revoked":
		err = f.cfg.Node.Revoke(cctx, voicectl.Session{GuildID: c.Guild, ChannelID: c.Channel, UserID: c.User, SessionID: c.Session}, time.UnixMilli(c.Until))
	case "disconnect":
		if !live {
			return
		}
		if err = f.cfg.Node.Disconnect(cctx, c.Guild, c.User); errors.Is(err, voicectl.ErrNotConnected) {
			err = nil
		}
	}
	if err != nil {
		f.metrics.dropped.WithLabelValues("failed").Inc()
		f.cfg.Logger.Warn("fleet: voice command failed", "op", op, "guild", c.Guild, "user", c.User, "err", err)
		return
	}
	f.metrics.applied.WithLabelValues(op).Inc()
	if live && c.At > 0 {
		f.metrics.delay.Observe(max(0, time.Since(time.Unix(0, c.At)).Seconds()))
	}
}

// decodeCommand reads a ctl/ key (without the prefix) and its value: the
// operation and the command, checked against the key. A deleted key has
// no value: only the key is read. Anyone who can write to etcd writes
// these bytes; a bad one is ErrCommand.
func decodeCommand(key string, value []byte, deleted bool) (string, command, error) {
	parts := strings.Split(key, "/")
	var c command
	op := parts[0]
	switch {
	case (op == "mute" || op == "deaf") && len(parts) == 3:
		c.Guild, c.User = parts[1], parts[2]
	case op == "disconnect" && len(parts) == 4:
		c.Guild, c.User = parts[1], parts[2]
	case op == "revoked" && len(parts) == 2:
		c.Session = parts[1]
	default:
		return "", command{}, fmt.Errorf("%w: key %q", ErrCommand, key)
	}
	for _, p := range parts[1:] {
		if !validID(p) {
			return "", command{}, fmt.Errorf("%w: key %q", ErrCommand, key)
		}
	}
	if deleted {
		return op, c, nil
	}
	var v command
	if err := json.Unmarshal(value, &v); err != nil {
		return "", command{}, fmt.Errorf("%w: %v", ErrCommand, err)
	}
	switch {
	case op == "revoked" && (v.Session != c.Session || !validID(v.Guild) || !validID(v.User) || v.Until <= 0 ||
		(v.Channel != "" && !validID(v.Channel))):
		return "", command{}, fmt.Errorf("%w: revocation %q does not match its key or lacks guild, user or end", ErrCommand, key)
	case op != "revoked" && (v.Guild != c.Guild || v.User != c.User):
		return "", command{}, fmt.Errorf("%w: %q names guild %q user %q", ErrCommand, key, v.Guild, v.User)
	}
	return op, v, nil
}

// followerMetrics are a voice node's command collectors.
type followerMetrics struct {
	applied *prometheus.CounterVec
	dropped *prometheus.CounterVec
	delay   prometheus.Histogram
	// keysRefused counts tokens refused for their key; badKeys the
	// keys/ records skipped.
	keysRefused *prometheus.CounterVec
	badKeys     prometheus.Counter
}

func newFollowerMetrics(reg prometheus.Registerer) *followerMetrics {
	m := &followerMetrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "parley", Subsystem: "fleet", Name: "voice_commands_total",
			Help: "Voice commands from the control planes applied to this node: mute, deaf, disconnect, revoked."}, []string{"op"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "parley", Subsystem: "fleet", Name: "voice_commands_dropped_total",
			Help: "Voice commands not applied: bad (malformed key or value), failed (the node refused), compacted (the watch lost its place: disconnects in between missed)."}, []string{"reason"}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "parley", Subsystem: "fleet", Name: "voice_command_delay_seconds",
			Help:    "From a control plane giving a voice command to this node applying it (clocks of two machines).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		keysRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "parley", Subsystem: "fleet", Name: "voice_tokens_refused_total",
			Help: "Voice tokens refused (close 4004) for the key that signed them: unknown (never published), retired."}, []string{"reason"}),
		badKeys: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "parley", Subsystem: "fleet", Name: "token_key_records_skipped_total",
			Help: "Voice-token key records in etcd (keys/) skipped as malformed."}),
	}
	if reg != nil {
		reg.MustRegister(m.applied, m.dropped, m.delay, m.keysRefused, m.badKeys)
	}
	return m
}
