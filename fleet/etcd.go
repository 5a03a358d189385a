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

// etcdDefaults fills the settings MemberConfig and RegistryConfig share:
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

// validateEtcd checks the settings MemberConfig and RegistryConfig share;
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
