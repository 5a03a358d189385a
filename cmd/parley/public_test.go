package main

import (
	"context"
	"flag"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestPublicHostFlag(t *testing.T) {
	tests := []struct {
		args  []string
		env   string
		hosts []string
		bad   bool
	}{
		{nil, "", nil, false},
		{[]string{"--public-host", "Parley.Example,192.0.2.7"}, "", []string{"parley.example", "192.0.2.7"}, false},
		{[]string{"--public-host", "a.example", "--public-host", "[2001:db8::1]"}, "", []string{"a.example", "2001:db8::1"}, false},
		{nil, "env.example", []string{"env.example"}, false},
		{[]string{"--public-host", "flag.example"}, "env.example", []string{"flag.example"}, false},
		{[]string{"--public-host", "host:8443"}, "", nil, true},
		{[]string{"--public-host", "https://host"}, "", nil, true},
		{[]string{"--public-host", "-bad-.example"}, "", nil, true},
		{[]string{"--public-host", "a b"}, "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.env+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			if tt.env != "" {
				t.Setenv(publicHostEnv, tt.env)
			}
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			p := definePublicHost(fs)
			err := fs.Parse(tt.args)
			if (err != nil) != tt.bad {
				t.Fatalf("err %v, want bad=%v", err, tt.bad)
			}
			if !tt.bad && !slices.Equal(p.hosts, tt.hosts) {
				t.Fatalf("hosts %q, want %q", p.hosts, tt.hosts)
			}
		})
	}
}

func TestPublicHostDerived(t *testing.T) {
	var none *publicHost
	p := &publicHost{hosts: []string{"parley.example"}}
	ip := &publicHost{hosts: []string{"2001:db8::1"}}
	for _, tt := range []struct {
		p          *publicHost
		addr, want string
	}{
		{none, "127.0.0.1:8443", "127.0.0.1:8443"},
		{none, "0.0.0.0:8443", "127.0.0.1:8443"},
		{none, "[::]:8443", "127.0.0.1:8443"},
		{none, "localhost:8443", "localhost:8443"},
		{p, "0.0.0.0:8443", "parley.example:8443"},
		{ip, "0.0.0.0:1", "[2001:db8::1]:1"},
	} {
		if got := tt.p.hostPort(tt.addr); got != tt.want {
			t.Errorf("%v.hostPort(%s) = %s, want %s", tt.p, tt.addr, got, tt.want)
		}
	}
	ctx := context.Background()
	for _, tt := range []struct {
		p    *publicHost
		want string
	}{
		{none, ""}, {ip, "2001:db8::1"}, {&publicHost{hosts: []string{"192.0.2.7"}}, "192.0.2.7"},
		{&publicHost{hosts: []string{"localhost"}}, "127.0.0.1"},
	} {
		if got, err := tt.p.voiceIP(ctx); err != nil || got != tt.want {
			t.Errorf("%v.voiceIP() = %q, %v; want %q", tt.p, got, err, tt.want)
		}
	}
	if _, err := (&publicHost{hosts: []string{"no-such-host.invalid"}}).voiceIP(ctx); err == nil {
		t.Error("an unresolvable host gave a voice IP")
	}
}

// TestOpenListeners: with a public host, the client-facing listeners left
// at their loopback defaults listen on all interfaces; those set by flag
// or environment, and the operator's ones (metrics), stay.
func TestOpenListeners(t *testing.T) {
	t.Setenv("PARLEY_CHAT_API_ADDR", "127.0.0.1:4000")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	addrs := map[string]*string{}
	for _, n := range []string{"web-addr", "voice-addr", "chat-api-addr", "chat-gateway-addr", "metrics-addr"} {
		addrs[n] = fs.String(n, "127.0.0.1:1", "")
	}
	p := definePublicHost(fs)
	if err := fs.Parse([]string{"--voice-addr", "127.0.0.1:2"}); err != nil {
		t.Fatal(err)
	}
	if moved := p.openListeners(fs); moved != nil {
		t.Fatalf("moved %v without a public host", moved)
	}
	p.hosts = []string{"parley.example"}
	moved := p.openListeners(fs)
	if !slices.Equal(moved, []string{"web-addr", "chat-gateway-addr"}) {
		t.Fatalf("moved %v", moved)
	}
	want := map[string]string{"web-addr": "0.0.0.0:1", "voice-addr": "127.0.0.1:2", "chat-api-addr": "127.0.0.1:1",
		"chat-gateway-addr": "0.0.0.0:1", "metrics-addr": "127.0.0.1:1"}
	for n, v := range want {
		if *addrs[n] != v {
			t.Errorf("%s = %s, want %s", n, *addrs[n], v)
		}
	}
}

// FuzzCheckHost: a host --public-host accepts makes a valid https URL
// whose host is itself.
func FuzzCheckHost(f *testing.F) {
	for _, s := range []string{"parley.example", "192.0.2.7", "[2001:db8::1]", "a:1", "x y", "-a.b", "é.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if checkHost(h) != nil {
			return
		}
		p := &publicHost{}
		if err := p.Set(h); err != nil {
			t.Fatalf("checkHost accepted %q, Set refused it: %v", h, err)
		}
		hp := p.hostPort("127.0.0.1:8443")
		u, err := url.Parse("https://" + hp + "/")
		if err != nil || u.Host != hp || u.Port() != "8443" {
			t.Fatalf("%q: URL host %q (%v)", h, hp, err)
		}
	})
}
