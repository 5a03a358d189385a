package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/parleyhq/parley/internal/cli"
)

// publicHost is --public-host: the names or IP addresses by which other
// machines reach this one (the first is the one given out). Everything
// it changes is derived here:
//
//   - the self-signed certificate names every host (datadir.TLSConfig);
//   - the listeners a friend's browser reaches (web, voice gateway, voice
//     UDP, WebRTC) listen on all interfaces unless their address was set
//     (openListeners). Chat's plain API and gateway stay where they are
//     (loopback by default): they carry passwords and tokens in clear,
//     and the web origin serves both over TLS (/api, /gateway);
//   - the addresses given out use the first host: the voice endpoint
//     (voice-endpoint), the IP announced for voice and WebRTC media
//     (voiceIP: the host itself, or what it resolves to), the web
//     origin's URL (hostPort), hence the attachment URLs chat signs with
//     it, and the chat gateway URL (chat-public-host) only when its
//     listener was opened to other machines (gatewayHost).
//
// Explicit flags (or their environment variables) win over each of these.
type publicHost struct {
	hosts   []string
	fromEnv bool // hosts came from PARLEY_PUBLIC_HOST; a flag replaces them
	// envErr is PARLEY_PUBLIC_HOST's error, reported by check unless a
	// flag replaced it.
	envErr error
}

const publicHostEnv = "PARLEY_PUBLIC_HOST"

// definePublicHost defines --public-host (repeatable, or comma-separated)
// on fs, with PARLEY_PUBLIC_HOST as its default.
func definePublicHost(fs *flag.FlagSet) *publicHost {
	p := &publicHost{}
	if v, ok := os.LookupEnv(publicHostEnv); ok {
		if err := p.Set(v); err != nil {
			p.envErr = fmt.Errorf("%s=%s: %w", publicHostEnv, v, err)
		} else {
			p.fromEnv = true
		}
	}
	fs.Var(p, "public-host", "name or IP other machines reach this one by, repeatable or comma-separated: added to the self-signed "+
		"certificate, given out in the voice, WebRTC and web addresses (the first one), and the web and voice "+
		"listeners listen on all interfaces unless their addresses are set (env "+publicHostEnv+")")
	return p
}

func (p *publicHost) String() string {
	if p == nil {
		return ""
	}
	return strings.Join(p.hosts, ",")
}

// Set adds hosts, all or none: every one is checked before any is
// added. The first Set from the command line replaces those from the
// environment (and its error).
func (p *publicHost) Set(v string) error {
	var add []string
	for _, h := range splitComma(v) {
		h = strings.TrimSpace(h)
		if err := checkHost(h); err != nil {
			return err
		}
		add = append(add, strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")))
	}
	if p.fromEnv {
		p.hosts, p.fromEnv = nil, false
	}
	p.envErr = nil
	p.hosts = append(p.hosts, add...)
	return nil
}

// check reports PARLEY_PUBLIC_HOST's error, if no --public-host replaced
// it, as a usage error (as a bad flag is: exit status 2).
func (p *publicHost) check() error {
	if p.envErr != nil {
		return cli.Usagef("%v", p.envErr)
	}
	return nil
}

// checkHost accepts an IP address (IPv6 with or without brackets) or a
// DNS name, and nothing else (no port, no scheme).
func checkHost(h string) error {
	if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); err == nil {
		if ip.Zone() != "" {
			return fmt.Errorf("%q: an IPv6 zone is not an address other machines reach", h)
		}
		return nil
	}
	if h == "" || len(h) > 253 {
		return fmt.Errorf("%q is not a host name or an IP address", h)
	}
	for label := range strings.SplitSeq(h, ".") {
		ok := label != "" && len(label) <= 63 && label[0] != '-' && label[len(label)-1] != '-'
		for _, c := range label {
			ok = ok && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-')
		}
		if !ok {
			return fmt.Errorf("%q is not a host name or an IP address (no port or scheme)", h)
		}
	}
	return nil
}

// name is the host given out ("" when none is set).
func (p *publicHost) name() string {
	if p == nil || len(p.hosts) == 0 {
		return ""
	}
	return p.hosts[0]
}

// hostPort is the host:port clients use for a listener bound to addr:
// the public host with addr's port, else addr (an unspecified IP made
// 127.0.0.1).
func (p *publicHost) hostPort(addr string) string { return publicHostPort(p.name(), addr) }

// voiceIP is the IP address announced for voice and WebRTC media: the
// public host if it is one, else the first address it resolves to
// (IPv4 first); "" without a public host.
func (p *publicHost) voiceIP(ctx context.Context) (string, error) {
	h := p.name()
	if h == "" {
		return "", nil
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.String(), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
	if err != nil || len(ips) == 0 {
		return "", fmt.Errorf("--public-host %s does not resolve (%v): set --voice-public-ip", h, err)
	}
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			return ip.Unmap().String(), nil
		}
	}
	return ips[0].String(), nil
}

// clientListeners are the listen-address flags of what other machines'
// browsers connect to, which a public host opens to all interfaces. Not
// chat's plain API and gateway: the web origin serves them over TLS.
var clientListeners = []struct{ flag, env string }{
	{"web-addr", "PARLEY_WEB_ADDR"}, {"voice-addr", "PARLEY_VOICE_ADDR"}, {"voice-udp-addr", "PARLEY_VOICE_UDP_ADDR"},
	{"voice-webrtc-addr", "PARLEY_VOICE_WEBRTC_ADDR"},
}

// gatewayHost is the host put in the chat gateway URL that chat's plain
// API gives out (bots): the public host when the gateway listens beyond
// loopback (the operator opened it), else "" (its listen address, which
// is where a bot on this machine reaches it).
func (p *publicHost) gatewayHost(gatewayAddr string) string {
	host, _, err := net.SplitHostPort(gatewayAddr)
	if err != nil || isLoopback(host) {
		return ""
	}
	return p.name()
}

// isLoopback reports whether a listen host is loopback only.
func isLoopback(host string) bool {
	ip, err := netip.ParseAddr(host)
	return host == "localhost" || err == nil && ip.IsLoopback()
}

// openListeners moves the client-facing listeners that were not set (by
// flag or environment) from their loopback defaults to all interfaces,
// when a public host is set. It reports what it moved.
func (p *publicHost) openListeners(fs *flag.FlagSet) []string {
	if p.name() == "" {
		return nil
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var moved []string
	for _, l := range clientListeners {
		f := fs.Lookup(l.flag)
		if _, env := os.LookupEnv(l.env); f == nil || set[l.flag] || env {
			continue
		}
		host, port, err := net.SplitHostPort(f.Value.String())
		if err != nil {
			continue
		}
		if isLoopback(host) {
			_ = fs.Set(l.flag, net.JoinHostPort("0.0.0.0", port))
			moved = append(moved, l.flag)
		}
	}
	return moved
}
