package smtpd

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// testCertPEM makes a self-signed certificate and key in one PEM text,
// as control/servercert.pem holds them.
func testCertPEM(t testing.TB) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mail.example.com"},
		DNSNames:     []string{"mail.example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&b, &pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	return b.String()
}

// tlsControls is baseControls with a certificate.
func tlsControls(t testing.TB) map[string]string {
	ctl := baseControls()
	ctl["servercert.pem"] = testCertPEM(t)
	ctl["timeoutsmtpd"] = "5\n"
	return ctl
}

// netSession is one session on a loopback TCP connection, the server
// side running in-process with the socket as stdin and stdout.
type netSession struct {
	t      *testing.T
	conn   net.Conn // the client's plain connection
	c      net.Conn // what the client talks on now (plain or TLS)
	r      *bufio.Reader
	done   <-chan int
	stderr *bytes.Buffer
}

func (h *harness) dialSession(t *testing.T) *netSession {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	done, stderr := h.start(server, server)
	s := &netSession{t: t, conn: client, c: client, r: bufio.NewReader(client), done: done, stderr: stderr}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	client.SetDeadline(time.Now().Add(10 * time.Second))
	return s
}

// send writes raw bytes ("\n" becomes "\r\n").
func (s *netSession) send(text string) {
	s.t.Helper()
	if _, err := s.c.Write([]byte(crlf(text))); err != nil {
		s.t.Fatalf("write: %v", err)
	}
}

// reply reads one whole (possibly multi-line) reply.
func (s *netSession) reply() string {
	s.t.Helper()
	var all strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		all.WriteString(line)
		if err != nil {
			s.t.Fatalf("reading reply: %v (got %q; stderr %s)", err, all.String(), s.stderr)
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.ReplaceAll(all.String(), "\r\n", "\n")
		}
	}
}

// expect reads one reply and compares it.
func (s *netSession) expect(want string) {
	s.t.Helper()
	if got := s.reply(); got != want {
		s.t.Fatalf("reply %q, want %q (stderr %s)", got, want, s.stderr)
	}
}

// startTLS runs the client side of the handshake.
func (s *netSession) startTLS(cache tls.ClientSessionCache) *tls.Conn {
	s.t.Helper()
	tc := tls.Client(s.conn, &tls.Config{ServerName: "mail.example.com", InsecureSkipVerify: true,
		ClientSessionCache: cache})
	if err := tc.Handshake(); err != nil {
		s.t.Fatalf("handshake: %v (stderr %s)", err, s.stderr)
	}
	s.c = tc
	s.r = bufio.NewReader(tc)
	return tc
}

const ehloTLS = "250-mail.example.com\n250-PIPELINING\n250-8BITMIME\n250 STARTTLS\n"

func TestSTARTTLS(t *testing.T) {
	h := newHarness(t, tlsControls(t))
	s := h.dialSession(t)
	s.expect("220 mail.example.com ESMTP\n")
	s.send("EHLO before.example\n")
	s.expect(ehloTLS)
	s.send("STARTTLS\n")
	s.expect("220 ready to start TLS\n")
	cache := tls.NewLRUClientSessionCache(4)
	tc := s.startTLS(cache)
	s.send("EHLO after.example\n")
	s.expect("250-mail.example.com\n250-PIPELINING\n250 8BITMIME\n")
	s.send("STARTTLS\n")
	s.expect("503 TLS already active (#5.5.1)\n")
	s.send("MAIL FROM:<a@b.example>\nRCPT TO:<u@example.com>\nDATA\n")
	s.expect("250 ok\n")
	s.expect("250 ok\n")
	s.expect("354 go ahead\n")
	s.send("hi\n.\nQUIT\n")
	if r := s.reply(); !strings.HasPrefix(r, "250 ok 1700000000 qp ") {
		t.Fatalf("after DATA: %q", r)
	}
	s.expect("221 mail.example.com\n")
	if code := waitExit(t, s.done); code != 0 {
		t.Errorf("exit %d", code)
	}
	if _, ok := cache.Get("mail.example.com"); ok {
		t.Errorf("the server issued a session ticket")
	}
	cipher := tls.CipherSuiteName(tc.ConnectionState().CipherSuite)
	want := "Received: from unknown (HELO after.example) (unknown)\n  by unknown with (" + cipher +
		" encrypted) SMTP; 14 Nov 2023 22:13:20 -0000\nhi\n"
	if msgs := h.messages(); len(msgs) != 1 || msgs[0].body != want {
		t.Errorf("queued %#v\nwant body %q", msgs, want)
	}
}

// TestSTARTTLSInjection: commands pipelined behind STARTTLS, in the same
// segment, are thrown away and never run after the handshake
// (CVE-2011-0411); the session after TLS knows no HELO or MAIL.
func TestSTARTTLSInjection(t *testing.T) {
	cases := []struct{ name, in string }{
		{"mail after starttls", "STARTTLS\nMAIL FROM:<evil@attacker.example>\n"},
		{"ehlo starttls mail rcpt", "EHLO x\nSTARTTLS\nMAIL FROM:<evil@attacker.example>\nRCPT TO:<u@example.com>\nDATA\n"},
		{"rset and helo", "STARTTLS\nRSET\nHELO injected.example\nMAIL FROM:<e@v>\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tlsControls(t))
			s := h.dialSession(t)
			s.expect("220 mail.example.com ESMTP\n")
			if strings.HasPrefix(tc.in, "EHLO") {
				s.send("EHLO x\n")
				s.expect(ehloTLS)
				tc.in = strings.TrimPrefix(tc.in, "EHLO x\n")
			}
			s.send(tc.in) // one write: one segment on loopback
			s.expect("220 ready to start TLS\n")
			s.startTLS(nil)
			s.send("RCPT TO:<u@example.com>\n")
			s.expect("503 MAIL first (#5.5.1)\n")
			s.send("MAIL FROM:<good@b.example>\nRCPT TO:<u@example.com>\nDATA\n")
			s.expect("250 ok\n")
			s.expect("250 ok\n")
			s.expect("354 go ahead\n")
			s.send("x\n.\nQUIT\n")
			s.reply()
			s.expect("221 mail.example.com\n")
			waitExit(t, s.done)
			msgs := h.messages()
			if len(msgs) != 1 || msgs[0].sender != "good@b.example" || strings.Contains(msgs[0].body, "injected") {
				t.Errorf("queued %#v", msgs)
			}
		})
	}
}

func TestSMTPS(t *testing.T) {
	h := newHarness(t, tlsControls(t)).setenv("SMTPS=1")
	s := h.dialSession(t)
	s.startTLS(nil)
	s.expect("220 mail.example.com ESMTP\n")
	s.send("EHLO x\n")
	s.expect("250-mail.example.com\n250-PIPELINING\n250 8BITMIME\n")
	s.send("STARTTLS\nQUIT\n")
	s.expect("503 TLS already active (#5.5.1)\n")
	s.expect("221 mail.example.com\n")
	if code := waitExit(t, s.done); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestTLSHandshakeFailure: garbage instead of a ClientHello, or a client
// that never starts the handshake, ends the session within timeoutsmtpd.
func TestTLSHandshakeFailure(t *testing.T) {
	for _, tc := range []struct{ name, after string }{
		{"garbage", "HELLO THIS IS NOT TLS\r\n"},
		{"silence", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctl := tlsControls(t)
			ctl["timeoutsmtpd"] = "1\n"
			h := newHarness(t, ctl)
			s := h.dialSession(t)
			s.expect("220 mail.example.com ESMTP\n")
			s.send("STARTTLS\n")
			s.expect("220 ready to start TLS\n")
			s.conn.Write([]byte(tc.after))
			if code := waitExit(t, s.done); code != 1 {
				t.Errorf("exit %d", code)
			}
			if !strings.Contains(s.stderr.String(), "TLS handshake failed") {
				t.Errorf("stderr %q", s.stderr)
			}
			if len(h.messages()) != 0 {
				t.Errorf("queued something")
			}
		})
	}
}

// TestSTARTTLSRefused covers the cases where STARTTLS is not started.
func TestSTARTTLSRefused(t *testing.T) {
	cert := testCertPEM(t)
	runTranscripts(t, []transcript{
		{name: "no certificate: qmail's reply", in: "STARTTLS\nQUIT\n",
			want: "502 unimplemented (#5.5.1)\n221 mail.example.com\n"},
		{name: "no certificate: not announced", in: "EHLO x\nQUIT\n",
			want: "250-mail.example.com\n250-PIPELINING\n250 8BITMIME\n221 mail.example.com\n"},
		{name: "parameter", ctl: map[string]string{"servercert.pem": cert}, in: "STARTTLS now\nQUIT\n",
			want: "501 Syntax error (no parameters allowed) (#5.5.4)\n221 mail.example.com\n"},
		{name: "inside a transaction", ctl: map[string]string{"servercert.pem": cert},
			in:   "MAIL FROM:<a@b>\nSTARTTLS\nQUIT\n",
			want: "250 ok\n503 STARTTLS not allowed during mail transaction (#5.5.1)\n221 mail.example.com\n"},
		{name: "stdin is no socket", ctl: map[string]string{"servercert.pem": cert}, in: "STARTTLS\nQUIT\n",
			want: "454 TLS not available due to temporary reason (#4.3.0)\n221 mail.example.com\n"},
		{name: "broken certificate", ctl: map[string]string{"servercert.pem": "not a pem\n"}, in: "EHLO x\nSTARTTLS\nQUIT\n",
			want: "250-mail.example.com\n250-PIPELINING\n250-8BITMIME\n250 STARTTLS\n" +
				"454 TLS not available due to temporary reason (#4.3.0)\n221 mail.example.com\n"},
		{name: "smtps without certificate", env: []string{"SMTPS=1"}, in: "QUIT\n", noGre: true, want: "", code: 1},
	})
}

// TestSTARTTLSOverPipe: a certificate but a session on pipes (no socket)
// is refused with a 454 and the session goes on.
func TestSTARTTLSOverPipe(t *testing.T) {
	h := newHarness(t, tlsControls(t))
	pr, pw := io.Pipe()
	defer pr.Close()
	out := newWriteLog()
	done, _ := h.start(pr, out)
	out.next(t)
	go pw.Write([]byte("STARTTLS\r\nQUIT\r\n"))
	if got := out.next(t); got != "454 TLS not available due to temporary reason (#4.3.0)\r\n" {
		t.Errorf("got %q", got)
	}
	waitExit(t, done)
}
