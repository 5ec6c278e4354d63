package smtpout

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testCert makes a self-signed certificate for mx.example.test and
// returns the server config and the certificate in PEM.
func testCert(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.example.test"},
		DNSNames: []string{"mx.example.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestTLS(t *testing.T) {
	srv, caPEM := testCert(t)
	badSrv := &tls.Config{} // no certificate: every handshake fails
	dns := &fakeDNS{A: map[string][]string{"mx.example.test": {"127.0.0.1"}}}
	ok := "r|K127.0.0.1 accepted message.\nRemote host said: 250 ok queued\n|"
	tests := []struct {
		name     string
		server   *tls.Config
		policy   string // tlsdestinations content
		ca       bool   // write control/tlsclientca
		want     string
		tlsUsed  bool
		conns    int
		wantData int
	}{
		{"opportunistic", srv, "", false, ok, true, 1, 1},
		{"no starttls offered", nil, "", false, ok, false, 1, 1},
		{"off", srv, "example.test:off\n", false, ok, false, 1, 1},
		{"require without starttls", nil, ".test:require\n", false,
			"ZConnected to 127.0.0.1 but it does not offer STARTTLS, which control/tlsdestinations requires for example.test. (#4.7.0)\n|", false, 1, 0},
		{"require", srv, "*:require\n", false, ok, true, 1, 1},
		{"verify with CA", srv, "example.test:verify\n", true, ok, true, 1, 1},
		{"verify unknown CA", srv, "example.test:verify\n", false, "ZConnected to 127.0.0.1 but the TLS handshake failed", false, 1, 0},
		{"try falls back to plain", badSrv, "", false, ok, false, 2, 1},
		{"require handshake fails", badSrv, ":require\n", false, "ZConnected to 127.0.0.1 but the TLS handshake failed", false, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startPeer(t, &fakePeer{TLS: tc.server})
			files := map[string]string{"smtproutes": fmt.Sprintf("example.test:mx.example.test:%d\n", p.port())}
			if tc.policy != "" {
				files["tlsdestinations"] = tc.policy
			}
			if tc.ca {
				files["tlsclientca"] = caPEM
			}
			home := testHome(t, files)
			got := run(t, home, &Sender{Resolver: dns}, "hello\n", "example.test", "a@b", "c@example.test")
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
			data := p.data()
			p.mu.Lock()
			defer p.mu.Unlock()
			if len(data) != tc.wantData || p.Conns != tc.conns {
				t.Errorf("%d messages on %d connections, want %d on %d", len(data), p.Conns, tc.wantData, tc.conns)
			}
			if len(data) == 1 && p.TLSUsed[0] != tc.tlsUsed {
				t.Errorf("encrypted %v, want %v", p.TLSUsed[0], tc.tlsUsed)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	srv, _ := testCert(t)
	plain := "AUTH PLAIN AGpvZQBzM2NyZXQ6eA==" // \0joe\0s3cret:x
	tests := []struct {
		name    string
		server  *tls.Config
		ehlo    string
		mode    os.FileMode
		auth    string // AUTH reply
		want    string
		command string // a command the peer must have seen
	}{
		{"plain over tls", srv, "", 0o600, "", "r|K", plain},
		{"plain on loopback without tls", nil, "", 0o640, "", "r|K", plain},
		{"login", nil, "250-x\r\n250 AUTH LOGIN", 0o600, "", "r|K", "czNjcmV0Ong="},
		{"refused", srv, "", 0o600, "535 bad", "ZConnected to 127.0.0.1 but my AUTH login was refused.\nRemote host said: 535 bad\n|", plain},
		{"no auth offered", nil, "250 x", 0o600, "", "r|K", "MAIL FROM:<a@b>"},
		{"unknown mechanism", nil, "250-x\r\n250 AUTH CRAM-MD5", 0o600, "", "ZConnected to 127.0.0.1 but it offers neither AUTH PLAIN nor AUTH LOGIN. (#4.7.0)\n|", "EHLO sender.example"},
		{"world readable", nil, "", 0o644, "", "Zcontrol/remoteauth is readable by everyone; I won't use it. (#4.3.0)\n|", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &fakePeer{TLS: tc.server, Replies: map[string][]string{}}
			if tc.ehlo != "" {
				p.Replies["EHLO"] = []string{tc.ehlo}
			}
			if tc.auth != "" {
				p.Replies["AUTH"] = []string{tc.auth}
			}
			startPeer(t, p)
			home := testHome(t, map[string]string{"smtproutes": fmt.Sprintf(":127.0.0.1:%d\n", p.port())})
			auth := filepath.Join(home, "control", "remoteauth")
			os.WriteFile(auth, []byte("127.0.0.1:joe:s3cret:x\n"), tc.mode)
			os.Chmod(auth, tc.mode)
			got := run(t, home, &Sender{}, "hello\n", "example.test", "a@b", "c@example.test")
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if cmds := p.commands(); tc.command != "" && !slices.Contains(cmds, tc.command) {
				t.Errorf("commands %q lack %q", cmds, tc.command)
			}
		})
	}
}

// TestAuthNeedsTLS: the password never goes in clear to a peer that is
// not on loopback (here: a peer whose address we pretend is remote by
// routing through a non-loopback name is not possible on loopback, so
// the check is on authenticate directly).
func TestAuthNeedsTLS(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	go func() { buf := make([]byte, 100); c2.Read(buf) }()
	var out reports
	d := &delivery{out: &out, creds: "joe:pw", hasCreds: true}
	s := newSession(c1, mustAddr("192.0.2.1"), time.Second)
	done, _ := d.authenticate(s, map[string]string{"AUTH": "PLAIN"}, false, target{Addr: mustAddr("192.0.2.1")})
	if !done || !strings.Contains(out.buf.String(), "I won't send my password in clear") {
		t.Errorf("done %v, %q", done, out.buf.String())
	}
}
