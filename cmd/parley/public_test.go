package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/parleyhq/parley/internal/cli"
)

func TestPublicHostFlag(t *testing.T) {
	tests := []struct {
		args   []string
		env    string
		hosts  []string
		bad    bool // the flag is refused
		badEnv bool // the environment is refused (a usage error), no host kept
	}{
		{nil, "", nil, false, false},
		{[]string{"--public-host", "Parley.Example,192.0.2.7"}, "", []string{"parley.example", "192.0.2.7"}, false, false},
		{[]string{"--public-host", "a.example", "--public-host", "[2001:db8::1]"}, "", []string{"a.example", "2001:db8::1"}, false, false},
		{nil, "env.example", []string{"env.example"}, false, false},
		{[]string{"--public-host", "flag.example"}, "env.example", []string{"flag.example"}, false, false},
		{[]string{"--public-host", "host:8443"}, "", nil, true, false},
		{[]string{"--public-host", "https://host"}, "", nil, true, false},
		{[]string{"--public-host", "-bad-.example"}, "", nil, true, false},
		{[]string{"--public-host", "a b"}, "", nil, true, false},
		{[]string{"--public-host", "good.example", "--public-host", "a,b:8443"}, "", []string{"good.example"}, true, false},
		{nil, "a,b:8443", nil, false, true},
		{nil, "https://a", nil, false, true},
		{[]string{"--public-host", "flag.example"}, "a,b:8443", []string{"flag.example"}, false, false},
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
			if !slices.Equal(p.hosts, tt.hosts) { // a refused value adds none of its hosts
				t.Fatalf("hosts %q, want %q", p.hosts, tt.hosts)
			}
			if err := p.check(); (err != nil) != tt.badEnv || err != nil && (!errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), publicHostEnv)) {
				t.Fatalf("check: %v, want a usage error %v", err, tt.badEnv)
			}
		})
	}
}

// TestPublicHostEnvRefused: serve refuses a bad PARLEY_PUBLIC_HOST as it
// refuses a bad flag, with a usage error (exit status 2), before it
// starts anything.
func TestPublicHostEnvRefused(t *testing.T) {
	t.Setenv(publicHostEnv, "a,b:8443")
	err := runServe(context.Background(), []string{"--data-dir", t.TempDir()}, io.Discard)
	if !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), "b:8443") {
		t.Fatalf("serve: %v, want a usage error naming b:8443", err)
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
// or environment, chat's plain API and gateway (passwords and tokens in
// clear) and the operator's ones (metrics) stay.
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
	if !slices.Equal(moved, []string{"web-addr"}) {
		t.Fatalf("moved %v", moved)
	}
	want := map[string]string{"web-addr": "0.0.0.0:1", "voice-addr": "127.0.0.1:2", "chat-api-addr": "127.0.0.1:1",
		"chat-gateway-addr": "127.0.0.1:1", "metrics-addr": "127.0.0.1:1"}
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

func TestGatewayHost(t *testing.T) {
	p := &publicHost{hosts: []string{"parley.example"}}
	for _, tt := range []struct{ addr, want string }{
		{"127.0.0.1:4001", ""}, {"localhost:4001", ""}, {"[::1]:4001", ""},
		{"0.0.0.0:4001", "parley.example"}, {"192.0.2.7:4001", "parley.example"}, {"bad", ""},
	} {
		if got := p.gatewayHost(tt.addr); got != tt.want {
			t.Errorf("gatewayHost(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}
