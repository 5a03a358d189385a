package mediaproxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// fakeDNS answers A queries from a table (everything else: no answer).
func fakeDNS(t *testing.T, table map[string]netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			if n < 17 {
				continue
			}
			// Question name.
			i, labels := 12, []string{}
			for i < n && q[i] != 0 {
				l := int(q[i])
				if i+1+l > n {
					break
				}
				labels = append(labels, string(q[i+1:i+1+l]))
				i += 1 + l
			}
			qend := i + 5
			if qend > n {
				continue
			}
			qtype := binary.BigEndian.Uint16(q[i+1:])
			resp := append([]byte(nil), q[:qend]...)
			resp[2], resp[3] = 0x81, 0x80 // response, RD, RA
			binary.BigEndian.PutUint16(resp[8:], 0)
			binary.BigEndian.PutUint16(resp[10:], 0)
			addr, ok := table[strings.ToLower(strings.Join(labels, "."))]
			if ok && qtype == 1 && addr.Is4() {
				binary.BigEndian.PutUint16(resp[6:], 1)
				a4 := addr.As4()
				resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4)
				resp = append(resp, a4[:]...)
			} else {
				binary.BigEndian.PutUint16(resp[6:], 0)
			}
			_, _ = pc.WriteTo(resp, from)
		}
	}()
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// origin serves test routes on ip (a loopback address).
func origin(t *testing.T, ip string, png []byte, redirectTo string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok.png", func(w http.ResponseWriter, _ *http.Request) { w.Write(png) })
	mux.HandleFunc("/html.png", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("<html><body>not an image</body></html>"))
	})
	mux.HandleFunc("/big.png", func(w http.ResponseWriter, _ *http.Request) { w.Write(make([]byte, 2<<20)) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, redirectTo, http.StatusFound) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/slow.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(200)
		for i := 0; i < 1000; i++ {
			if _, err := w.Write([]byte{0x89}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestSSRF(t *testing.T) {
	png := sourceOf(t, FormatPNG, 32, 32)
	loopback := origin(t, "127.0.0.1", png, "")
	_, lport, _ := net.SplitHostPort(loopback)
	good := origin(t, "127.0.0.2", png, "http://"+loopback+"/ok.png")
	_, gport, _ := net.SplitHostPort(good)
	resolver := fakeDNS(t, map[string]netip.Addr{
		"allowed.test": netip.MustParseAddr("127.0.0.2"),
		"private.test": netip.MustParseAddr("10.1.2.3"),
		"home.test":    netip.MustParseAddr("192.168.1.1"),
		"meta.test":    netip.MustParseAddr("169.254.169.254"),
		"cgnat.test":   netip.MustParseAddr("100.64.0.1"),
		"local.test":   netip.MustParseAddr("127.0.0.1"),
	})
	e := newTestServer(t, func(c *Config) {
		c.Fetch = FetcherConfig{Timeout: 500 * time.Millisecond, MaxBytes: 1 << 20, MaxRedirects: 3,
			Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, Resolver: resolver}
		c.Timeout = 3 * time.Second
	})
	cases := []struct {
		name, url string
		status    int
		code      string
	}{
		{"allowed origin", "http://" + good + "/ok.png", 200, ""},
		{"allowed name", "http://allowed.test:" + gport + "/ok.png", 200, ""},
		{"redirect to 127.0.0.1", "http://" + good + "/redirect", 403, "destination_denied"},
		{"direct loopback", "http://" + loopback + "/ok.png", 403, "destination_denied"},
		{"localhost name", "http://localhost:" + lport + "/ok.png", 403, "destination_denied"},
		{"name to loopback", "http://local.test:" + lport + "/ok.png", 403, "destination_denied"},
		{"name to 10/8", "http://private.test:" + gport + "/ok.png", 403, "destination_denied"},
		{"name to 192.168/16", "http://home.test/ok.png", 403, "destination_denied"},
		{"name to metadata", "http://meta.test/latest/meta-data/", 403, "destination_denied"},
		{"name to CGNAT", "http://cgnat.test/x.png", 403, "destination_denied"},
		{"ipv4-mapped ipv6", "http://[::ffff:127.0.0.1]:" + lport + "/ok.png", 403, "destination_denied"},
		{"ipv6 loopback", "http://[::1]:" + lport + "/ok.png", 403, "destination_denied"},
		{"decimal ip", "http://2130706433:" + lport + "/ok.png", 403, "destination_denied"},
		{"octal ip", "http://0177.0.0.1:" + lport + "/ok.png", 403, "destination_denied"},
		{"hex ip", "http://0x7f.0.0.1:" + lport + "/ok.png", 403, "destination_denied"},
		{"short ip", "http://127.1:" + lport + "/ok.png", 403, "destination_denied"},
		{"zero address", "http://0.0.0.0:" + lport + "/ok.png", 403, "destination_denied"},
		{"redirect loop", "http://" + good + "/loop", 502, "upstream_failure"},
		{"slow loris", "http://" + good + "/slow.png", 504, "timeout"},
		{"body too large", "http://" + good + "/big.png", 413, "too_large"},
		{"html named png", "http://" + good + "/html.png", 415, "unsupported_format"},
		{"upstream 404", "http://" + good + "/missing.png", 502, "upstream_failure"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := e.srv.signer.SignExternal(c.url)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			resp, body := e.get(t, withQuery(p+"?", "width=16"))
			if c.status == 200 {
				if resp.StatusCode != 200 || Sniff(body) != FormatPNG {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				return
			}
			wantError(t, resp, body, c.status, c.code)
			if strings.Contains(string(body), "127.0.0.1") && c.code != "destination_denied" {
				t.Fatalf("error leaks address: %s", body)
			}
			if d := time.Since(start); d > 2500*time.Millisecond {
				t.Fatalf("took %v", d)
			}
		})
	}
}

func TestDefaultPolicyDeniesLoopback(t *testing.T) {
	png := sourceOf(t, FormatPNG, 8, 8)
	good := origin(t, "127.0.0.2", png, "")
	f := NewFetcher(FetcherConfig{Timeout: time.Second})
	_, err := f.Fetch(context.Background(), "http://"+good+"/ok.png")
	if !errors.Is(err, ErrDestinationDenied) {
		t.Fatalf("got %v, want ErrDestinationDenied", err)
	}
}

func TestAddrDenied(t *testing.T) {
	for _, c := range []struct {
		ip     string
		denied bool
	}{
		{"8.8.8.8", false}, {"2606:4700::1111", false}, {"1.1.1.1", false},
		{"127.0.0.1", true}, {"10.0.0.1", true}, {"172.16.5.4", true}, {"192.168.0.1", true},
		{"169.254.169.254", true}, {"100.64.0.1", true}, {"0.1.2.3", true}, {"224.0.0.1", true},
		{"198.18.0.1", true}, {"240.0.0.1", true}, {"255.255.255.255", true},
		{"::1", true}, {"::", true}, {"::ffff:10.0.0.1", true}, {"::ffff:8.8.8.8", false},
		{"64:ff9b::a00:1", true}, {"2002:7f00:1::", true}, {"2001::1", true}, {"fc00::1", true},
		{"fe80::1", true}, {"ff02::1", true}, {"fd00:ec2::254", true},
	} {
		if got := AddrDenied(netip.MustParseAddr(c.ip)); got != c.denied {
			t.Errorf("AddrDenied(%s) = %v, want %v", c.ip, got, c.denied)
		}
	}
}

func ExampleSigner_SignExternal() {
	s, _ := NewSigner(make([]byte, 32))
	p, _ := s.SignExternal("https://example.com/cat.png?v=1")
	fmt.Println(strings.HasPrefix(p, "/external/"), strings.HasSuffix(p, "/%3Fv=1/https/example.com/cat.png"))
	// Output: true true
}
