package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parleyhq/parley/internal/voicectl"
)

// BusConfig configures a control plane's Bus.
type BusConfig struct {
	// Endpoints are etcd's client addresses, host:port (ParseURL).
	Endpoints []string
	// Prefix is the fleet's key prefix (default DefaultPrefix).
	Prefix string
	// DialTimeout bounds connecting to etcd (default 5 s).
	DialTimeout time.Duration
	// StateTTL is how long a server mute or deafen stays in etcd after
	// its last change (default 1 h): at least the voice tokens' lifetime,
	// so that no token issued before a change outlives it.
	StateTTL time.Duration
	// EventTTL is how long a disconnect stays in etcd (default 1 min);
	// nodes act on it from their watch only.
	EventTTL time.Duration
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

func (c BusConfig) withDefaults() BusConfig {
	c.Prefix, c.DialTimeout, c.Logger = etcdDefaults(c.Prefix, c.DialTimeout, c.Logger)
	if c.StateTTL == 0 {
		c.StateTTL = time.Hour
	}
	if c.EventTTL == 0 {
		c.EventTTL = time.Minute
	}
	return c
}

func (c BusConfig) etcdClient() ([]string, time.Duration) { return c.Endpoints, c.DialTimeout }

// Validate reports the first problem; it changes nothing.
func (c BusConfig) Validate() error {
	if err := validateEtcd(c.Endpoints, c.Prefix, c.DialTimeout); err != nil {
		return err
	}
	if c.StateTTL < 2*time.Second || c.EventTTL < 2*time.Second {
		return fmt.Errorf("%w: state and event TTLs must be at least 2 s", ErrConfig)
	}
	return nil
}

// Bus is the control plane's voicectl.Bus over etcd: each command is a key
// under ctl/ that every voice node follows through a watch (Follower), so
// a moderation action reaches the node serving the call, wherever the
// call moved. Mute and deafen are stored state (ctl/mute/G/U,
// ctl/deaf/G/U: the last value, kept StateTTL after its change);
// revocations too (ctl/revoked/SESSION, kept until the revocation ends);
// a disconnect is an event (ctl/disconnect/G/U/ID, EventTTL), applied by
// the nodes that watch when it is put, once each (by revision). Keys ride
// shared leases, one per minute of expiry.
type Bus struct {
	cfg BusConfig
	cli *clientv3.Client

	leaseMu sync.Mutex // guards leases; held while granting one
	// leases are granted leases by the minute their keys expire in.
	leases map[int64]clientv3.LeaseID

	closeOnce sync.Once
	closeErr  error
}

var _ voicectl.Bus = (*Bus)(nil)

// NewBus validates cfg and makes the etcd client (which connects lazily).
func NewBus(cfg BusConfig) (*Bus, error) {
	cfg, cli, err := openConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Bus{cfg: cfg, cli: cli, leases: map[int64]clientv3.LeaseID{}}, nil
}

// Start returns at once: the Bus runs no goroutine (each command is one
// etcd request made by its caller).
func (b *Bus) Start(context.Context) error { return nil }

// Close closes the etcd client; it is idempotent.
func (b *Bus) Close(context.Context) error {
	b.closeOnce.Do(func() { b.closeErr = b.cli.Close() })
	return b.closeErr
}

// command is a ctl/ value. The key says what and whom; the value repeats
// it (checked against the key) and says when it was given.
type command struct {
	Guild   string `json:"guild"`
	User    string `json:"user"`
	Channel string `json:"channel,omitempty"`
	Session string `json:"session,omitempty"`
	Value   bool   `json:"value,omitempty"`
	// Until is when a revocation ends (Unix ms).
	Until int64 `json:"until,omitempty"`
	// At is when the control plane gave the command (Unix ns): the
	// nodes measure the delay.
	At int64 `json:"at"`
}

func ctlKey(prefix string) string { return prefix + "ctl/" }

// SetServerMute implements voicectl.Controller for every node.
func (b *Bus) SetServerMute(ctx context.Context, guild, user string, mute bool) error {
	return b.putState(ctx, "mute", guild, user, mute)
}

// SetServerDeaf implements voicectl.Controller for every node.
func (b *Bus) SetServerDeaf(ctx context.Context, guild, user string, deaf bool) error {
	return b.putState(ctx, "deaf", guild, user, deaf)
}

func (b *Bus) putState(ctx context.Context, op, guild, user string, v bool) error {
	if !validID(guild) || !validID(user) {
		return fmt.Errorf("%w: guild %q user %q", ErrID, guild, user)
	}
	now := time.Now()
	return b.put(ctx, ctlKey(b.cfg.Prefix)+op+"/"+guild+"/"+user, command{Guild: guild, User: user, Value: v, At: now.UnixNano()}, now.Add(b.cfg.StateTTL))
}

// Disconnect implements voicectl.Controller: the node where the user is
// connected ends the session (4014). It cannot tell whether the user was
// connected anywhere: nil, never voicectl.ErrNotConnected.
func (b *Bus) Disconnect(ctx context.Context, guild, user string) error {
	if !validID(guild) || !validID(user) {
		return fmt.Errorf("%w: guild %q user %q", ErrID, guild, user)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	now := time.Now()
	key := ctlKey(b.cfg.Prefix) + "disconnect/" + guild + "/" + user + "/" + hex.EncodeToString(id[:])
	return b.put(ctx, key, command{Guild: guild, User: user, At: now.UnixNano()}, now.Add(b.cfg.EventTTL))
}

// Revoke implements voicectl.Revoker on every node, until until.
func (b *Bus) Revoke(ctx context.Context, s voicectl.Session, until time.Time) error {
	if !validID(s.GuildID) || !validID(s.UserID) || !validID(s.SessionID) || (s.ChannelID != "" && !validID(s.ChannelID)) {
		return fmt.Errorf("%w: %+v", ErrID, s)
	}
	now := time.Now()
	if !until.After(now) {
		return nil // over already
	}
	c := command{Guild: s.GuildID, User: s.UserID, Channel: s.ChannelID, Session: s.SessionID, Until: until.UnixMilli(), At: now.UnixNano()}
	return b.put(ctx, ctlKey(b.cfg.Prefix)+"revoked/"+s.SessionID, c, until)
}

func (b *Bus) put(ctx context.Context, key string, c command, expires time.Time) error {
	lease, err := b.lease(ctx, expires)
	if err != nil {
		return err
	}
	v, _ := json.Marshal(c) // command always marshals
	if _, err := b.cli.Put(ctx, key, string(v), clientv3.WithLease(lease)); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("fleet: voice command %s: %w", key, err)
		}
		// The lease may have been revoked under us: grant afresh next time.
		b.forget(lease)
		return fmt.Errorf("fleet: voice command %s: %w", key, err)
	}
	return nil
}

// lease returns a lease that lasts at least until expires and at most a
// minute longer, shared by every key expiring in that minute.
func (b *Bus) lease(ctx context.Context, expires time.Time) (clientv3.LeaseID, error) {
	slot := expires.Unix()/60 + 1 // the minute after expires
	b.leaseMu.Lock()
	defer b.leaseMu.Unlock()
	if id, ok := b.leases[slot]; ok {
		return id, nil
	}
	ttl := slot*60 - time.Now().Unix() + 1
	resp, err := b.cli.Grant(ctx, ttl)
	if err != nil {
		return 0, fmt.Errorf("fleet: lease for voice commands: %w", err)
	}
	now := time.Now().Unix() / 60
	for s := range b.leases {
		if s < now {
			delete(b.leases, s) // expired with its keys
		}
	}
	b.leases[slot] = resp.ID
	return resp.ID, nil
}

func (b *Bus) forget(id clientv3.LeaseID) {
	b.leaseMu.Lock()
	defer b.leaseMu.Unlock()
	for s, l := range b.leases {
		if l == id {
			delete(b.leases, s)
		}
	}
}
