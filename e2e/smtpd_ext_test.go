package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"goqmail/internal/testutil"
)

// extCheckpassword accepts alice/secret only.
const extCheckpassword = `#!/bin/sh
data=$(tr '\000' '|' <&3)
[ "$data" = "alice|secret||" ] && exec "$@"
exit 1
`

// smtpdExt is an installed home with qmail-send running and a second
// tcpserver whose qmail-smtpd has STARTTLS and AUTH.
type smtpdExt struct {
	home string
	srv  *server
	port string // the extended listener
}

func startSMTPDExt(t *testing.T) *smtpdExt {
	t.Helper()
	home, uid, gid := userModeInstall(t)
	testutil.MustWrite(t, filepath.Join(home, "control", "servercert.pem"), selfSignedPEM(t), 0o644)
	cpw := filepath.Join(filepath.Dir(home), "checkpassword")
	testutil.MustWrite(t, cpw, extCheckpassword, 0o755)
	s := start(t, home, uid, gid)

	rules := filepath.Join(home, "control", "tcp.smtp.cdb")
	_, port := startTCPServer(t, home, uid, gid, []string{"-x", rules, "-c", "40"},
		filepath.Join(home, "bin", "qmail-smtpd"), "localhost", cpw, "/bin/true")
	return &smtpdExt{home: home, srv: s, port: port}
}

func selfSignedPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&b, &pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	return b.String()
}

// waitMaildir waits (at most 30 s) until dir/new holds n messages and
// returns their contents.
func waitMaildir(t *testing.T, dir string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, _ := os.ReadDir(filepath.Join(dir, "new"))
		if len(entries) >= n || time.Now().After(deadline) {
			var msgs []string
			for _, e := range entries {
				b, _ := os.ReadFile(filepath.Join(dir, "new", e.Name()))
				msgs = append(msgs, string(b))
			}
			if len(msgs) < n {
				t.Fatalf("%d messages in %s after 30 s, want %d", len(msgs), dir, n)
			}
			return msgs
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitMaildirFor waits (at most 30 s) until dir/new holds a message
// delivered to each address, and returns every message there.
func waitMaildirFor(t *testing.T, dir string, addrs ...string) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msgs := waitMaildir(t, dir, 0)
		missing := 0
		for _, a := range addrs {
			found := false
			for _, m := range msgs {
				found = found || strings.Contains(m, "\nDelivered-To: "+a+"\n")
			}
			if !found {
				missing++
			}
		}
		if missing == 0 {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %v not delivered after 30 s", missing, addrs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSwaksInterop: swaks sends in plain text, with STARTTLS, and with
// STARTTLS plus AUTH PLAIN and LOGIN (relaying after AUTH); a wrong
// password and AUTH without TLS are refused.
func TestSwaksInterop(t *testing.T) {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks is not installed (Debian package swaks)")
	}
	if exec.Command("perl", "-MNet::SSLeay", "-e", "1").Run() != nil {
		t.Skip("swaks --tls needs Net::SSLeay (Debian package libnet-ssleay-perl)")
	}
	x := startSMTPDExt(t)
	base := []string{"--server", "127.0.0.1", "--port", x.port, "--from", "sender@example.org",
		"--timeout", "20", "--helo", "client.example"}
	cases := []struct {
		name string
		args []string
		ok   bool
		want string // in swaks' transcript
	}{
		{"plain", []string{"--to", "plain@localhost"}, true, "250 ok "},
		{"tls", []string{"--to", "tls@localhost", "--tls"}, true, "220 ready to start TLS"},
		{"tls auth plain relays", []string{"--to", "someone@remote.example", "--tls", "--auth", "PLAIN",
			"--auth-user", "alice", "--auth-password", "secret"}, true, "235 ok, go ahead (#2.0.0)"},
		{"tls auth login", []string{"--to", "login@localhost", "--tls", "--auth", "LOGIN",
			"--auth-user", "alice", "--auth-password", "secret"}, true, "235 ok, go ahead (#2.0.0)"},
		{"wrong password", []string{"--to", "x@localhost", "--tls", "--auth", "PLAIN",
			"--auth-user", "alice", "--auth-password", "wrong"}, false, "535 authentication failed (#5.7.1)"},
		{"auth needs tls", []string{"--to", "x@localhost", "--auth", "PLAIN",
			"--auth-user", "alice", "--auth-password", "secret"}, false, "did not advertise authentication"},
		{"no relay without auth", []string{"--to", "someone@remote.example", "--tls"}, false,
			"553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(swaks, append(append([]string{}, base...), tc.args...)...)
			out, err := cmd.CombinedOutput()
			if (err == nil) != tc.ok || !strings.Contains(string(out), tc.want) {
				t.Fatalf("swaks: %v (want success %v, %q)\n%s", err, tc.ok, tc.want, out)
			}
		})
	}
	// The relayed message goes to qmail-remote (and may bounce to
	// postmaster); only the three local ones are looked at.
	msgs := waitMaildirFor(t, filepath.Join(x.home, "alias", "Maildir"), "plain@localhost", "tls@localhost", "login@localhost")
	want := map[string]bool{"plain@localhost": false, "tls@localhost": true, "login@localhost": true}
	for _, m := range msgs {
		for to, tls := range want {
			if !strings.HasPrefix(m, "Return-Path: <sender@example.org>\nDelivered-To: "+to+"\n") {
				continue
			}
			delete(want, to)
			if got := strings.Contains(m, " encrypted) SMTP; "); got != tls {
				t.Errorf("%s: TLS in Received %v, want %v:\n%s", to, got, tls, m)
			}
			if auth := strings.Contains(m, "(alice@127.0.0.1)"); auth != (to == "login@localhost") {
				t.Errorf("%s: authenticated user in Received %v:\n%s", to, auth, m)
			}
		}
	}
	if len(want) != 0 {
		t.Errorf("not delivered: %v", want)
	}
}

// TestSMTPSourceParallel: Postfix's smtp-source sends 40 messages over
// 20 parallel sessions; every one is delivered.
func TestSMTPSourceParallel(t *testing.T) {
	src := "/usr/sbin/smtp-source"
	if _, err := os.Stat(src); err != nil {
		t.Skip("smtp-source is not installed (Debian package postfix)")
	}
	x := startSMTPDExt(t)
	cmd := exec.Command(src, "-s", "20", "-m", "40", "-f", "sender@example.org", "-t", "bulk@localhost",
		"-M", "localhost", "127.0.0.1:"+x.srv.port)
	done := make(chan error, 1)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("smtp-source: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("smtp-source did not finish in 60 s")
	}
	msgs := waitMaildir(t, filepath.Join(x.home, "alias", "Maildir"), 40)
	if len(msgs) != 40 {
		t.Errorf("%d messages delivered, want 40", len(msgs))
	}
}
