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
	"time"
)

// CertPath and KeyPath are the self-signed certificate's files.
func (d *Dir) CertPath() string { return d.Join("tls", "cert.pem") }

// KeyPath is the path of the self-signed certificate's private key.
func (d *Dir) KeyPath() string { return d.Join("tls", "key.pem") }

// TLSConfig returns a server TLS config. With certFile and keyFile empty it
// uses (creating on first use) the data dir's self-signed certificate,
// whose SANs are localhost and 127.0.0.1 so that Node (which checks IP SANs)
// accepts it through NODE_EXTRA_CA_CERTS=CertPath().
func (d *Dir) TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("datadir: --tls-cert and --tls-key go together")
	}
	if certFile == "" {
		if err := d.ensureSelfSigned(); err != nil {
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
	if err := d.ensureSelfSigned(); err != nil {
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

func (d *Dir) ensureSelfSigned() error {
	if _, err := os.Stat(d.CertPath()); err == nil {
		if _, err := os.Stat(d.KeyPath()); err == nil {
			return nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "parley self-signed", Organization: []string{"Parley"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	// Key first: a reader that sees the cert can always load the key.
	if err := WriteFileAtomic(d.KeyPath(), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return WriteFileAtomic(d.CertPath(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
