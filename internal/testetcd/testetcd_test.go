package testetcd

import (
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

// TestStartProxyCut: the server answers /health directly and through the
// proxy; a cut proxy refuses, a healed one relays again.
func TestStartProxyCut(t *testing.T) {
	testkit.NoLeaks(t)
	s := Start(t)
	p := s.NewProxy(t)
	health := func(ep string) bool {
		c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + ep + "/health")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	if !health(s.Endpoint) || !health(p.Endpoint) {
		t.Fatalf("etcd not healthy: %s", s.Logs())
	}
	p.Cut()
	if health(p.Endpoint) {
		t.Fatal("cut proxy relayed")
	}
	p.Heal()
	if !health(p.Endpoint) {
		t.Fatal("healed proxy refused")
	}
}
