package fleet

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parleyhq/parley/internal/voicetoken"
)

// Voice-token keys: every control plane signs voice tokens with its own
// Ed25519 key (KeyRing; the private half never leaves its process) and
// publishes the public half under keys/KID; every voice node follows
// keys/ (Follower) and verifies a token with the key it names, on any node.
//
//	keys/KID      a public key (TokenKey JSON), put with a lease the
//	              control plane keeps alive while the key is current; when
//	              a newer key replaces it, Retires is set to when the last
//	              token it signed expires and the lease runs out a grace
//	              later: the record goes by itself, from a crashed control
//	              plane's keys too
//	keys-rotate   a rotation request (`parley fleet rotate-key`): each
//	              control plane watching makes a new key current

// TokenKey is a published voice-token key, as keys/KID holds it.
type TokenKey struct {
	ID     string            `json:"kid"`
	Alg    string            `json:"alg"`
	Public ed25519.PublicKey `json:"public"`
	// Created is when the key was made (Unix ms).
	Created int64 `json:"created"`
	// Retires is when the key stops verifying (Unix ms); 0 while it is
	// its control plane's current key.
	Retires int64 `json:"retires,omitempty"`
	// Owner names the control plane holding the private key.
	Owner string `json:"owner,omitempty"`
}

// algEd25519 is the only TokenKey algorithm.
const algEd25519 = "Ed25519"

// Current reports whether the key still signs new tokens.
func (k TokenKey) Current() bool { return k.Retires == 0 }

// validAt reports whether the key verifies tokens at now.
func (k TokenKey) validAt(now time.Time) bool { return k.Retires == 0 || now.UnixMilli() < k.Retires }

func keysKey(prefix string) string          { return prefix + "keys/" }
func tokenKeyKey(prefix, kid string) string { return keysKey(prefix) + kid }
func rotateKey(prefix string) string        { return prefix + "keys-rotate" }

// decodeTokenKey reads keys/KID (kid is the key less the prefix) and checks
// it: the Ed25519 algorithm, a 32-byte public key whose id is kid (the id
// is the key's hash: a record cannot name another key), a creation time,
// no negative retirement. Anyone who can write to etcd writes these bytes;
// a bad record is ErrTokenKey, skipped and logged.
func decodeTokenKey(kid string, value []byte) (TokenKey, error) {
	if !voicetoken.ValidKeyID(kid) {
		return TokenKey{}, fmt.Errorf("%w: key id %q", ErrTokenKey, kid)
	}
	var k TokenKey
	if err := json.Unmarshal(value, &k); err != nil {
		return TokenKey{}, fmt.Errorf("%w: %s: %v", ErrTokenKey, kid, err)
	}
	switch {
	case k.ID != kid:
		return TokenKey{}, fmt.Errorf("%w: %s: record names key %q", ErrTokenKey, kid, k.ID)
	case k.Alg != algEd25519:
		return TokenKey{}, fmt.Errorf("%w: %s: algorithm %q, want %s", ErrTokenKey, kid, k.Alg, algEd25519)
	case len(k.Public) != ed25519.PublicKeySize:
		return TokenKey{}, fmt.Errorf("%w: %s: public key of %d bytes", ErrTokenKey, kid, len(k.Public))
	case voicetoken.KeyID(k.Public) != kid:
		return TokenKey{}, fmt.Errorf("%w: %s: the public key's id is %s", ErrTokenKey, kid, voicetoken.KeyID(k.Public))
	case k.Created <= 0 || k.Retires < 0:
		return TokenKey{}, fmt.Errorf("%w: %s: bad times", ErrTokenKey, kid)
	case len(k.Owner) > 256:
		return TokenKey{}, fmt.Errorf("%w: %s: owner too long", ErrTokenKey, kid)
	}
	return k, nil
}

// TokenKeys lists the published voice-token keys (one read of etcd),
// current ones first, then by creation, newest first; bad records are
// left out.
func TokenKeys(ctx context.Context, endpoints []string, prefix string) ([]TokenKey, error) {
	cli, prefix, err := dialOnce(endpoints, prefix)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, keysKey(prefix), clientv3.WithPrefix())
	if err != nil {
		return nil, etcdErr(endpoints, err)
	}
	var out []TokenKey
	for _, kv := range resp.Kvs {
		if k, err := decodeTokenKey(strings.TrimPrefix(string(kv.Key), keysKey(prefix)), kv.Value); err == nil {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b TokenKey) int {
		if a.Current() != b.Current() {
			if a.Current() {
				return -1
			}
			return 1
		}
		return int(b.Created - a.Created)
	})
	return out, nil
}

// RequestRotation asks every control plane to make a new key current
// (keys-rotate); each keeps its previous key valid until the tokens it
// signed expire.
func RequestRotation(ctx context.Context, endpoints []string, prefix string) error {
	cli, prefix, err := dialOnce(endpoints, prefix)
	if err != nil {
		return err
	}
	defer cli.Close()
	v, _ := json.Marshal(map[string]int64{"at": time.Now().UnixMilli()})
	if _, err := cli.Put(ctx, rotateKey(prefix), string(v)); err != nil {
		return etcdErr(endpoints, err)
	}
	return nil
}

// RetireKey withdraws a key that no longer signs (one a rotation
// replaced) before its time, for a key that leaked: voice nodes refuse its
// tokens from then on (4004). A current key is ErrKeyCurrent: rotate
// first.
func RetireKey(ctx context.Context, endpoints []string, prefix, kid string) error {
	if !voicetoken.ValidKeyID(kid) {
		return fmt.Errorf("%w: key id %q", ErrTokenKey, kid)
	}
	cli, prefix, err := dialOnce(endpoints, prefix)
	if err != nil {
		return err
	}
	defer cli.Close()
	key := tokenKeyKey(prefix, kid)
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return etcdErr(endpoints, err)
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("%w: %s", ErrNoKey, kid)
	}
	if k, err := decodeTokenKey(kid, resp.Kvs[0].Value); err == nil && k.Current() {
		return fmt.Errorf("%w: %s", ErrKeyCurrent, kid)
	}
	// Delete only the record read: a control plane may not rewrite it
	// between (it never makes a retiring key current again), but be exact.
	txn, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)).
		Then(clientv3.OpDelete(key)).Commit()
	if err != nil {
		return etcdErr(endpoints, err)
	}
	if !txn.Succeeded {
		return fmt.Errorf("fleet: key %s changed while retiring it; try again", kid)
	}
	return nil
}

// etcdErr says which etcd did not answer.
func etcdErr(endpoints []string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("fleet: no answer from etcd at %s (is it running, and is this the right --registry?): %w", strings.Join(endpoints, ","), err)
	}
	return fmt.Errorf("fleet: etcd at %s: %w", strings.Join(endpoints, ","), err)
}
