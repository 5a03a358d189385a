package registry

import (
	"testing"

	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicectl/registrytest"
)

// TestEmbedded runs the registry suite every implementation passes.
func TestEmbedded(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registrytest.Harness {
		e := NewEmbedded()
		return registrytest.Harness{
			Registry: e,
			Join:     func(_ *testing.T, n voicectl.Node) { e.Upsert(n, nil) },
			Leave:    func(_ *testing.T, id string) { e.Remove(id) },
		}
	})
}

// TestEmbeddedLiveLoad: a node's LoadFunc is read at placement.
func TestEmbeddedLiveLoad(t *testing.T) {
	e := NewEmbedded(Node{ID: "a", Region: "local", Load: voicectl.Load{Participants: 0}})
	e.Upsert(Node{ID: "b", Region: "local"}, func() voicectl.Load { return voicectl.Load{Participants: 0} })
	e.Upsert(Node{ID: "a", Region: "local"}, func() voicectl.Load { return voicectl.Load{Participants: 9} })
	if n, err := e.Place(t.Context(), voicectl.PlaceRequest{Channel: "1"}); err != nil || n.ID != "b" {
		t.Fatalf("Place = %s, %v; want b (a's live load is 9)", n.ID, err)
	}
	e.SetState("b", voicectl.NodeDraining)
	if n, err := e.Place(t.Context(), voicectl.PlaceRequest{Channel: "2"}); err != nil || n.ID != "a" {
		t.Fatalf("Place = %s, %v; want a (b drains)", n.ID, err)
	}
}
