package datadir

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"slices"
	"strings"
	"time"
)

// CertPath and KeyPath are the self-signed certificate's files.
func (d *Dir) CertPath() string { return d.Join("tls", "cert.pem") }

// KeyPath is the path of the self-signed certificate's private key.
func (d *Dir) KeyPath() string { return d.Join("tls", "key.pem") }

// TLSConfig returns a server TLS config. With certFile and keyFile empty it
// uses (creating on first use) the data dir's self-signed certificate,
// whose SANs are localhost, 127.0.0.1 and ::1 (so that Node, which checks
// IP SANs, accepts it through NODE_EXTRA_CA_CERTS=CertPath()) and hosts
// (names or IP addresses: --public-host). A certificate whose SANs do not
// cover every host, or that expires within 30 days, is issued again with
// the same key and its old SANs kept, so a name given once keeps working.
// A certificate given in certFile and keyFile is used as it is.
func (d *Dir) TLSConfig(certFile, keyFile string, hosts ...string) (*tls.Config, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("datadir: --tls-cert and --tls-key go together")
	}
	if certFile == "" {
		if err := d.ensureSelfSigned(hosts); err != nil {
			return nil, err
		}
		certFile, keyFile = d.CertPath(), d.KeyPath()
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("datadir: tls: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// CertPool returns a pool trusting the data dir's self-signed certificate,
// for clients and tests.
func (d *Dir) CertPool() (*x509.CertPool, error) {
	if err := d.ensureSelfSigned(nil); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(d.CertPath())
	if err != nil {
		return nil, fmt.Errorf("datadir: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("datadir: cert.pem holds no certificate")
	}
	return pool, nil
}

// sans are a certificate's subject alternative names.
type sans struct {
	dns []string
	ips []net.IP
}

// add adds host (a name or an IP address, IPv6 with or without brackets)
// unless it is there already.
func (s *sans) add(host string) {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip := net.ParseIP(host); ip != nil {
		if !slices.ContainsFunc(s.ips, ip.Equal) {
			s.ips = append(s.ips, ip)
		}
		return
	}
	host = strings.ToLower(host)
	if host != "" && !slices.Contains(s.dns, host) {
		s.dns = append(s.dns, host)
	}
}

// covers reports whether cert names every host and stays valid for 30
// days more.
func covers(cert *x509.Certificate, hosts []string, now time.Time) bool {
	if now.AddDate(0, 0, 30).After(cert.NotAfter) {
		return false
	}
	for _, h := range hosts {
		if cert.VerifyHostname(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")) != nil {
			return false
		}
	}
	return true
}

// ensureSelfSigned makes sure the self-signed certificate exists and
// covers localhost, the loopback addresses and hosts (see TLSConfig).
func (d *Dir) ensureSelfSigned(hosts []string) error {
	hosts = append([]string{"localhost", "127.0.0.1", "::1"}, hosts...)
	now := time.Now()
	var want sans
	var key *ecdsa.PrivateKey
	if cert, k, err := d.loadSelfSigned(); err == nil {
		if covers(cert, hosts, now) {
			return nil
		}
		for _, n := range cert.DNSNames {
			want.add(n)
		}
		for _, ip := range cert.IPAddresses {
			want.add(ip.String())
		}
		key = k
	}
	for _, h := range hosts {
		want.add(h)
	}
	newKey := key == nil
	if newKey {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return fmt.Errorf("datadir: %w", err)
		}
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "parley self-signed", Organization: []string{"Parley"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              want.dns,
		IPAddresses:           want.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	if newKey {
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return fmt.Errorf("datadir: %w", err)
		}
		// Key first: a reader that sees the cert can always load the key.
		if err := WriteFileAtomic(d.KeyPath(), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
			return err
		}
	}
	return WriteFileAtomic(d.CertPath(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// loadSelfSigned reads the self-signed certificate and its key, if both
// are there and match.
func (d *Dir) loadSelfSigned() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(d.CertPath(), d.KeyPath())
	if err != nil {
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || pair.Leaf == nil {
		return nil, nil, errors.New("datadir: not a self-signed ECDSA pair")
	}
	return pair.Leaf, key, nil
}
