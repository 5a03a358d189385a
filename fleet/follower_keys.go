package fleet

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parleyhq/parley/internal/voicetoken"
)

var _ voicetoken.KeySource = (*Follower)(nil)

// maxGone bounds the retired key ids a Follower remembers (after that a
// long-retired key's tokens are refused as unknown instead).
const maxGone = 256

// resetKeys forgets the published keys before a listing.
func (f *Follower) resetKeys() {
	f.mu.Lock()
	f.keys = map[string]TokenKey{}
	f.mu.Unlock()
}

// applyKey keeps one keys/ record; a bad one is skipped, logged and
// counted, and does not touch the key it names (a record that decoded
// before stays).
func (f *Follower) applyKey(_ context.Context, typ mvccpb.Event_EventType, key, value []byte, _ bool) {
	kid := strings.TrimPrefix(string(key), keysKey(f.cfg.Prefix))
	if typ == clientv3.EventTypeDelete {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.keys[kid]; ok {
			delete(f.keys, kid)
			f.gone = append(f.gone, kid)
			if len(f.gone) > maxGone {
				f.gone = f.gone[1:]
			}
			f.cfg.Logger.Info("fleet: voice-token key retired", "kid", kid)
		}
		return
	}
	k, err := decodeTokenKey(kid, value)
	if err != nil {
		f.metrics.badKeys.Inc()
		f.cfg.Logger.Warn("fleet: voice-token key record skipped", "key", string(key), "err", err)
		return
	}
	f.mu.Lock()
	_, known := f.keys[kid]
	f.keys[kid] = k
	f.mu.Unlock()
	if !known {
		f.cfg.Logger.Info("fleet: voice-token key published", "kid", kid, "owner", k.Owner, "current", k.Current())
	}
}

// VerifyingKey implements voicetoken.KeySource: a published key valid at
// now. Refusals are counted by reason: unknown (never published here, or
// the keys not yet listed), retired (its retirement passed, or its record
// went).
func (f *Follower) VerifyingKey(kid string, now time.Time) (ed25519.PublicKey, error) {
	f.mu.Lock()
	k, ok := f.keys[kid]
	gone := !ok && containsString(f.gone, kid)
	f.mu.Unlock()
	switch {
	case ok && k.validAt(now):
		return k.Public, nil
	case ok || gone:
		f.metrics.keysRefused.WithLabelValues("retired").Inc()
		return nil, fmt.Errorf("%w: %s", voicetoken.ErrRetiredKey, kid)
	}
	f.metrics.keysRefused.WithLabelValues("unknown").Inc()
	return nil, fmt.Errorf("%w: %s", voicetoken.ErrUnknownKey, kid)
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
