package fleet

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/voicectl"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"etcd://127.0.0.1:2379", []string{"127.0.0.1:2379"}},
		{"etcd://a.example:2379,b.example:2379/", []string{"a.example:2379", "b.example:2379"}},
		{"etcd://[::1]:2379", []string{"[::1]:2379"}},
		{"", nil}, {"etcd://", nil}, {"http://a:1", nil}, {"etcd://a", nil}, {"etcd://a:0", nil},
		{"etcd://a:99999", nil}, {"etcd://:2379", nil}, {"etcd://a:1,,b:2", nil}, {"etcd://u@a:1", nil},
		{"etcd://a:1/path", nil}, {"etcd://" + strings.Repeat("a:1,", 17) + "a:1", nil},
	}
	for _, tc := range tests {
		got, err := ParseURL(tc.in)
		if tc.want == nil {
			if !errors.Is(err, ErrURL) {
				t.Errorf("ParseURL(%q) = %v, %v; want ErrURL", tc.in, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseURL(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParseURL: whatever ParseURL accepts are host:port endpoints it
// accepts again, joined back into a URL.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"etcd://127.0.0.1:2379", "etcd://a:1,b:2", "etcd://[::1]:2379/", "etcd://a:1/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		eps, err := ParseURL(s)
		if err != nil {
			if !errors.Is(err, ErrURL) {
				t.Fatalf("error %v does not wrap ErrURL", err)
			}
			return
		}
		if len(eps) == 0 || len(eps) > 16 {
			t.Fatalf("%d endpoints", len(eps))
		}
		again, err := ParseURL("etcd://" + strings.Join(eps, ","))
		if err != nil || !slices.Equal(again, eps) {
			t.Fatalf("%q → %v → %v, %v", s, eps, again, err)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	ok := MemberConfig{Endpoints: []string{"a:1"}, Node: nodeFor("n1")}.withDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*MemberConfig){
		"no endpoint":             func(c *MemberConfig) { c.Endpoints = nil },
		"bad id":                  func(c *MemberConfig) { c.Node.ID = "a/b" },
		"no region":               func(c *MemberConfig) { c.Node.Region = "" },
		"no endpoint of the node": func(c *MemberConfig) { c.Node.Endpoint = "" },
		"short ttl":               func(c *MemberConfig) { c.TTL = 1e9 },
		"odd ttl":                 func(c *MemberConfig) { c.TTL = 2500e6 },
		"prefix":                  func(c *MemberConfig) { c.Prefix = "x" },
		"capacity":                func(c *MemberConfig) { c.Node.Capacity = -1 },
		"negative dial timeout":   func(c *MemberConfig) { c.DialTimeout = -1 },
		"no load interval":        func(c *MemberConfig) { c.LoadInterval = 0 },
	} {
		c := ok
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	reg := RegistryConfig{Endpoints: []string{"a:1"}}.withDefaults()
	if err := reg.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*RegistryConfig){
		"no endpoint":           func(c *RegistryConfig) { c.Endpoints = nil },
		"prefix":                func(c *RegistryConfig) { c.Prefix = "/x" },
		"negative dial timeout": func(c *RegistryConfig) { c.DialTimeout = -1 },
	} {
		c := reg
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("registry, %s: %v", name, err)
		}
	}
}

// TestConfigDefaults: both configs get the shared defaults (prefix, dial
// timeout, a logger) and keep what is set.
func TestConfigDefaults(t *testing.T) {
	m := MemberConfig{}.withDefaults()
	r := RegistryConfig{}.withDefaults()
	if m.Prefix != DefaultPrefix || r.Prefix != DefaultPrefix || m.DialTimeout != defaultDialTimeout ||
		r.DialTimeout != defaultDialTimeout || m.Logger == nil || r.Logger == nil {
		t.Fatalf("defaults: member %+v, registry %+v", m, r)
	}
	set := RegistryConfig{Prefix: "/p/", DialTimeout: time.Second}.withDefaults()
	if set.Prefix != "/p/" || set.DialTimeout != time.Second {
		t.Fatalf("withDefaults changed what was set: %+v", set)
	}
}

func nodeFor(id string) (n voicectl.Node) {
	n.ID, n.Region, n.Endpoint = id, "rotterdam", id+":443"
	return n
}

// TestDecodeRecord: a node record is placed on only when it has an ID, a
// host:port endpoint, a known state and no negative figures.
func TestDecodeRecord(t *testing.T) {
	good := `{"id":"n1","region":"japan","endpoint":"10.0.0.1:8444","capacity":10,"state":"serving","load":{"rooms":1,"participants":2},"lease":7}`
	if r, err := decodeRecord([]byte(good)); err != nil || r.ID != "n1" || r.Lease != 7 || r.Load.Participants != 2 {
		t.Fatalf("good record: %+v, %v", r, err)
	}
	for name, in := range map[string]string{
		"not json":      `{`,
		"no id":         `{"endpoint":"10.0.0.1:8444","state":"serving"}`,
		"bad id":        `{"id":"a/b","endpoint":"10.0.0.1:8444","state":"serving"}`,
		"no endpoint":   `{"id":"n1","state":"serving"}`,
		"no port":       `{"id":"n1","endpoint":"10.0.0.1","state":"serving"}`,
		"port 0":        `{"id":"n1","endpoint":"10.0.0.1:0","state":"serving"}`,
		"unknown state": `{"id":"n1","endpoint":"10.0.0.1:8444","state":"asleep"}`,
		"negative cap":  `{"id":"n1","endpoint":"10.0.0.1:8444","state":"serving","capacity":-1}`,
		"negative load": `{"id":"n1","endpoint":"10.0.0.1:8444","state":"serving","load":{"participants":-5}}`,
		"wrong type":    `{"id":1,"endpoint":"10.0.0.1:8444","state":"serving"}`,
	} {
		if _, err := decodeRecord([]byte(in)); !errors.Is(err, ErrRecord) {
			t.Errorf("%s: %v, want ErrRecord", name, err)
		}
	}
}

// FuzzDecodeRecord: whatever etcd holds, decoding never panics, and a
// record it accepts is one placement can use.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"id":"n1","region":"japan","endpoint":"10.0.0.1:8444","capacity":10,"state":"serving","load":{"rooms":1},"lease":7}`))
	f.Add([]byte(`{"id":"n1","endpoint":"[::1]:1","state":"draining"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrRecord) {
				t.Fatalf("error %v is not ErrRecord", err)
			}
			return
		}
		if !validID(r.ID) || !validEndpoint(r.Endpoint) || r.Capacity < 0 {
			t.Fatalf("accepted %+v", r)
		}
		_, _ = voicectl.Choose([]voicectl.Node{r.Node}, voicectl.PlaceRequest{Channel: "1", Preferred: r.Region})
	})
}
