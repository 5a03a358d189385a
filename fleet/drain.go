package fleet

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// RequestDrain asks voice node id to drain (`parley voice drain`): it puts
// drain/ID under the node's own lease, so the request goes with that
// registration. The node's Member calls OnDrain; the node then announces
// draining, the control planes move its calls, and it exits once empty.
// ErrNoNode when no live node has that id.
func RequestDrain(ctx context.Context, endpoints []string, prefix, id string) error {
	if !validID(id) {
		return fmt.Errorf("%w: %q", ErrNoNode, id)
	}
	cli, prefix, err := dialOnce(endpoints, prefix)
	if err != nil {
		return err
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, nodeKey(prefix, id))
	if err != nil {
		return fmt.Errorf("fleet: reading node %s from etcd at %s: %w", id, strings.Join(endpoints, ","), err)
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("%w: %s", ErrNoNode, id)
	}
	rec, err := decodeRecord(resp.Kvs[0].Value)
	if err != nil {
		return err
	}
	_, err = cli.Put(ctx, drainKey(prefix, id), "drain", clientv3.WithLease(clientv3.LeaseID(rec.Lease)))
	if err != nil {
		return fmt.Errorf("fleet: asking %s to drain: %w", id, err)
	}
	return nil
}
