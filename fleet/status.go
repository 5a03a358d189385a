package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parleyhq/parley/internal/voicectl"
)

// NodeStatus is one node as `parley fleet status` shows it.
type NodeStatus struct {
	voicectl.Node
	// Placements counts the voice channels placed on the node.
	Placements int `json:"placements"`
}

// Status reads the fleet straight from etcd (one read of the prefix):
// every live node, and every node seen and no longer live as lost, sorted
// by region and id.
func Status(ctx context.Context, endpoints []string, prefix string) ([]NodeStatus, error) {
	cli, prefix, err := dialOnce(endpoints, prefix)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("fleet: no answer from etcd at %s (is it running, and is this the right --registry?): %w", strings.Join(endpoints, ","), err)
		}
		return nil, fmt.Errorf("fleet: reading the fleet from etcd at %s: %w", strings.Join(endpoints, ","), err)
	}
	live, seen := map[string]voicectl.Node{}, map[string]voicectl.Node{}
	placements := map[string]int{}
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		switch {
		case strings.HasPrefix(k, nodesKey(prefix)):
			if rec, err := decodeRecord(kv.Value); err == nil {
				live[rec.ID] = rec.Node
			}
		case strings.HasPrefix(k, seenKey(prefix)):
			if rec, err := decodeRecord(kv.Value); err == nil {
				seen[rec.ID] = rec.Node
			}
		case strings.HasPrefix(k, placementsKey(prefix)):
			placements[string(kv.Value)]++
		}
	}
	var out []NodeStatus
	for id, n := range live {
		out = append(out, NodeStatus{Node: n, Placements: placements[id]})
	}
	for id, n := range seen {
		if _, ok := live[id]; !ok {
			n.State, n.Load = voicectl.NodeLost, voicectl.Load{}
			out = append(out, NodeStatus{Node: n})
		}
	}
	slices.SortFunc(out, func(a, b NodeStatus) int {
		if c := strings.Compare(a.Region, b.Region); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}
