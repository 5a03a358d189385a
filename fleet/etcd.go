package fleet

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// defaultDialTimeout bounds connecting to etcd unless a config says.
const defaultDialTimeout = 5 * time.Second

// etcdDefaults fills the settings every fleet Config shares:
// the key prefix, the dial timeout and the logger (nil discards).
func etcdDefaults(prefix string, dialTimeout time.Duration, logger *slog.Logger) (string, time.Duration, *slog.Logger) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if dialTimeout == 0 {
		dialTimeout = defaultDialTimeout
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return prefix, dialTimeout, logger
}

// validateEtcd checks the settings every fleet Config shares;
// it reports the first problem, wrapping ErrConfig.
func validateEtcd(endpoints []string, prefix string, dialTimeout time.Duration) error {
	switch {
	case len(endpoints) == 0:
		return fmt.Errorf("%w: no etcd endpoint", ErrConfig)
	case !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/"):
		return fmt.Errorf("%w: prefix %q must start and end with /", ErrConfig, prefix)
	case dialTimeout < 0:
		return fmt.Errorf("%w: negative dial timeout", ErrConfig)
	}
	return nil
}

// newClient dials etcd without blocking (the client connects lazily and
// retries); the etcd client's own logging is off.
func newClient(endpoints []string, dialTimeout time.Duration) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: endpoints, DialTimeout: dialTimeout, Logger: zap.NewNop(),
		DialKeepAliveTime: 2 * time.Second, DialKeepAliveTimeout: 2 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: etcd client: %w", err)
	}
	return cli, nil
}

// etcdConfig is what every fleet component's Config has: defaults, a pure
// Validate and the etcd client settings.
type etcdConfig[C any] interface {
	withDefaults() C
	Validate() error
	etcdClient() (endpoints []string, dialTimeout time.Duration)
}

// openConfig applies cfg's defaults, validates the result and makes its
// etcd client (which connects lazily): the start of every New.
func openConfig[C etcdConfig[C]](cfg C) (C, *clientv3.Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, nil, err
	}
	cli, err := newClient(cfg.etcdClient())
	return cfg, cli, err
}

// dialOnce makes the client of a one-shot command (Status, TokenKeys,
// RequestDrain…) with the default dial timeout, and the prefix ("" is
// DefaultPrefix). The caller closes the client.
func dialOnce(endpoints []string, prefix string) (*clientv3.Client, string, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	cli, err := newClient(endpoints, defaultDialTimeout)
	return cli, prefix, err
}
