package smtpout

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"

	"goqmail/internal/control"
)

// STARTTLS (beyond qmail). control/tlsdestinations holds lines
// DOMAIN:POLICY, looked up like smtproutes by the recipient host (the
// whole host, then each .suffix, then the empty key; "*" is accepted as
// the empty key, as in s/qmail's file of the same name):
//
//	try      use STARTTLS when offered, without checking the certificate;
//	         if the handshake fails, deliver in plain text on a new
//	         connection (the default, also for an empty policy, so that
//	         s/qmail's "*:" means what it meant there);
//	off      never use STARTTLS;
//	require  use STARTTLS, any certificate; a peer that does not offer
//	         it, refuses it or fails the handshake is a deferral (Z);
//	verify   as require, and the certificate must be valid for the MX
//	         (or relay) host name, signed by a CA of the system or of
//	         control/tlsclientca (PEM).
//
// Any other policy (such as an s/qmail CA path) is an error, so that a
// foreign file is never silently read as "try". Without the file every
// destination is "try": opportunistic TLS is what mail users expect
// today, and it never stops mail that would otherwise go.
type tlsPolicy int

const (
	tlsTry tlsPolicy = iota
	tlsOff
	tlsRequire
	tlsVerify
)

type tlsPolicies control.Map

type certPool = x509.CertPool

func parsePolicy(v string) (tlsPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "try":
		return tlsTry, nil
	case "off":
		return tlsOff, nil
	case "require":
		return tlsRequire, nil
	case "verify":
		return tlsVerify, nil
	}
	return 0, fmt.Errorf("unknown policy %q (want try, off, require or verify)", v)
}

func readTLSPolicies(d *control.Dir) (tlsPolicies, string) {
	m, _, err := d.ReadMap("tlsdestinations")
	if err != nil {
		return nil, textControls
	}
	for k, v := range m {
		if _, err := parsePolicy(v); err != nil {
			return nil, "Zcontrol/tlsdestinations: " + oneLine(k) + ": " + oneLine(err.Error()) + ". (#4.3.0)\n"
		}
	}
	return tlsPolicies(m), ""
}

func (p tlsPolicies) lookup(host string) tlsPolicy {
	m := control.Map(p)
	keys := []string{host}
	for i := 0; i < len(host); i++ {
		if host[i] == '.' {
			keys = append(keys, host[i:])
		}
	}
	keys = append(keys, "", "*")
	for _, k := range keys {
		if v, ok := m.Get(k); ok {
			pol, _ := parsePolicy(v)
			return pol
		}
	}
	return tlsTry
}

// readRoots reads control/tlsclientca; nil (the system's CAs) without it.
func readRoots(d *control.Dir) (*certPool, string) {
	pem, ok, err := d.ReadRaw("tlsclientca")
	if err != nil {
		return nil, textControls
	}
	if !ok {
		return nil, ""
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, "Zcontrol/tlsclientca holds no PEM certificate. (#4.3.0)\n"
	}
	return pool, ""
}

func (d *delivery) tlsConfig(t target) *tls.Config {
	c := &tls.Config{
		ServerName:         t.Name,
		InsecureSkipVerify: d.policy != tlsVerify,
		RootCAs:            d.cfg.roots,
	}
	if c.ServerName == "" && !c.InsecureSkipVerify {
		c.ServerName = t.Addr.String()
	}
	if _, isLit := literal(c.ServerName); isLit && c.InsecureSkipVerify {
		c.ServerName = ""
	}
	return c
}
