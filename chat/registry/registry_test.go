package registry

import (
	"context"
	"errors"
	"testing"
)

func TestPick(t *testing.T) {
	ctx := context.Background()
	e := NewEmbedded(
		Node{ID: "a", Region: "eu", Endpoint: "a:1", Load: 5, Healthy: true},
		Node{ID: "b", Region: "eu", Endpoint: "b:1", Load: 1, Healthy: true},
		Node{ID: "c", Region: "us", Endpoint: "c:1", Load: 0, Healthy: true},
		Node{ID: "d", Region: "ap", Endpoint: "d:1", Load: 0, Healthy: false},
	)
	tests := []struct{ region, want string }{
		{"eu", "b"}, {"us", "c"}, {"", "c"}, {"ap", "c"}, {"nowhere", "c"},
	}
	for _, tc := range tests {
		n, err := e.Pick(ctx, tc.region)
		if err != nil || n.ID != tc.want {
			t.Errorf("Pick(%q) = %s, %v; want %s", tc.region, n.ID, err, tc.want)
		}
	}
	e.Upsert(Node{ID: "c", Region: "us", Endpoint: "c:1", Healthy: true}, func() float64 { return 10 })
	if n, _ := e.Pick(ctx, ""); n.ID != "b" {
		t.Errorf("live load ignored: %s", n.ID)
	}
	for _, id := range []string{"a", "b", "c"} {
		e.SetHealthy(id, false)
	}
	if _, err := e.Pick(ctx, ""); !errors.Is(err, ErrNoNode) {
		t.Errorf("all down: %v", err)
	}
}
