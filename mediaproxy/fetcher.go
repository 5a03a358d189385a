package mediaproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// FetcherConfig configures external-image fetches.
type FetcherConfig struct {
	// Timeout bounds one fetch, redirects and body included.
	Timeout time.Duration
	// MaxBytes caps the body (ErrTooLarge beyond it).
	MaxBytes int64
	// MaxRedirects caps redirect hops.
	MaxRedirects int
	// Allow lists prefixes that are allowed even though the default policy
	// (AddrDenied) denies them: an internal image host, or a test server
	// (tests allow 127.0.0.2/32, say). Usually empty.
	Allow []netip.Prefix
	// Resolver overrides DNS (tests); nil uses the system resolver.
	Resolver *net.Resolver
	// UserAgent is sent upstream.
	UserAgent string
}

// Fetcher fetches external images with net/http's client over a dialer
// whose Control hook checks every IP it actually connects to, so redirects,
// Happy Eyeballs fallbacks and DNS rebinding are all covered.
type Fetcher struct {
	cfg    FetcherConfig
	client *http.Client
}

// deniedPrefixes are refused by default (shared/docs/mediaproxy.md §5).
var deniedPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
		"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"255.255.255.255/32",
		"::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
		"2001::/32", "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// AddrDenied reports whether the default policy refuses ip. IPv4-mapped
// IPv6 addresses are unmapped first; NAT64, 6to4 and Teredo (which embed
// IPv4) are refused outright.
func AddrDenied(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
		return true
	}
	for _, p := range deniedPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (f *Fetcher) allowed(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	for _, p := range f.cfg.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return !AddrDenied(ip)
}

// NewFetcher returns a fetcher; zero fields take defaults (5 s, 25 MiB,
// 5 redirects).
func NewFetcher(cfg FetcherConfig) *Fetcher {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 25 << 20
	}
	if cfg.MaxRedirects <= 0 {
		cfg.MaxRedirects = 5
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "Parley-MediaProxy/1.0"
	}
	f := &Fetcher{cfg: cfg}
	dialer := &net.Dialer{
		Timeout:  cfg.Timeout,
		Resolver: cfg.Resolver,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: unparsable address", ErrDestinationDenied)
			}
			if !f.allowed(ap.Addr()) {
				return fmt.Errorf("%w: %s", ErrDestinationDenied, ap.Addr())
			}
			return nil
		},
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	f.client = &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > cfg.MaxRedirects {
				return fmt.Errorf("%w: more than %d redirects", ErrUpstream, cfg.MaxRedirects)
			}
			return checkTargetURL(req.URL)
		},
	}
	return f
}

// CloseIdle closes idle upstream connections.
func (f *Fetcher) CloseIdle() { f.client.CloseIdleConnections() }

// checkTargetURL refuses non-HTTP schemes, credentials and numeric host
// forms other than canonical dotted quads and bracketed IPv6 (decimal
// "2130706433", octal "0177.0.0.1", hex "0x7f.1", short "127.1"), which
// resolvers disagree about.
func checkTargetURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q", ErrDestinationDenied, u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("%w: credentials in URL", ErrDestinationDenied)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: empty host", ErrBadRequest)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	// A DNS name's last label is never numeric; one that is must be an
	// IPv4 form other than the canonical dotted quad.
	labels := strings.Split(strings.TrimSuffix(strings.ToLower(host), "."), ".")
	last := labels[len(labels)-1]
	if isNumber(last, "0123456789") || (strings.HasPrefix(last, "0x") && isNumber(last[2:], "0123456789abcdef")) {
		return fmt.Errorf("%w: ambiguous numeric host %q", ErrDestinationDenied, host)
	}
	return nil
}

// Fetch GETs target and returns at most MaxBytes of body. The content is
// not trusted: the caller sniffs it.
func (f *Fetcher) Fetch(ctx context.Context, target string) ([]byte, error) {
	return f.fetch(ctx, target, nil)
}

// fetch is Fetch reserving the body from res (nil: no budget) before
// reading it: the declared length up front, chunk by chunk without one.
func (f *Fetcher) fetch(ctx context.Context, target string, res *reservation) ([]byte, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("%w: bad URL", ErrBadRequest)
	}
	if err := checkTargetURL(u); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: bad URL", ErrBadRequest)
	}
	req.Header.Set("User-Agent", f.cfg.UserAgent)
	req.Header.Set("Accept", "image/avif,image/webp,image/png,image/jpeg,image/gif;q=0.9,*/*;q=0.1")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, classifyFetchError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: upstream status %d", ErrUpstream, resp.StatusCode)
	}
	if resp.ContentLength > f.cfg.MaxBytes {
		return nil, fmt.Errorf("%w: upstream declares %d bytes", ErrTooLarge, resp.ContentLength)
	}
	body, err := readBody(resp.Body, resp.ContentLength, f.cfg.MaxBytes, res)
	switch {
	case err == nil:
		return body, nil
	case errors.Is(err, ErrTooLarge):
		return nil, fmt.Errorf("%w: upstream body over %d bytes", ErrTooLarge, f.cfg.MaxBytes)
	case errors.Is(err, ErrOverloaded):
		return nil, err
	case errors.Is(err, errShortBody):
		return nil, fmt.Errorf("%w: upstream body shorter than declared", ErrUpstream)
	}
	return nil, classifyFetchError(ctx, err)
}

func classifyFetchError(ctx context.Context, err error) error {
	for _, s := range []error{ErrDestinationDenied, ErrUpstream, ErrBadRequest} {
		if errors.Is(err, s) {
			// Keep our message, drop net/http's (it names internal addresses).
			var inner error = s
			for e := err; e != nil; e = errors.Unwrap(e) {
				if strings.HasPrefix(e.Error(), s.Error()) {
					inner = e
					break
				}
			}
			return inner
		}
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: fetching upstream", ErrTimeout)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: fetching upstream", ErrTimeout)
	}
	return fmt.Errorf("%w: fetch failed", ErrUpstream)
}

func isNumber(s, digits string) bool {
	return s != "" && strings.Trim(s, digits) == ""
}
