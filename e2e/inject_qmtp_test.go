package e2e

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// qmtpOK is qmail-qmtpd's answer for an accepted recipient.
var qmtpOK = regexp.MustCompile(`^Kok [0-9]+ qp [0-9]+$`)

// nstr encodes s as a netstring.
func nstr(s string) string { return strconv.Itoa(len(s)) + ":" + s + "," }

// qmtpClient is a minimal QMTP client: one connection, many messages.
type qmtpClient struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dialQMTP(t *testing.T, port string) *qmtpClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &qmtpClient{t: t, conn: c, br: bufio.NewReader(c)}
}

// send sends one message (mode '\n' for LF, '\r' for CRLF) and returns
// the server's answers, one per recipient.
func (c *qmtpClient) send(mode byte, msg, sender string, rcpts ...string) []string {
	c.t.Helper()
	var list strings.Builder
	for _, r := range rcpts {
		list.WriteString(nstr(r))
	}
	if _, err := c.conn.Write([]byte(nstr(string(mode)+msg) + nstr(sender) + nstr(list.String()))); err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for range rcpts {
		out = append(out, c.readNetstring())
	}
	return out
}

// readNetstring reads one answer, at most 1000 bytes.
func (c *qmtpClient) readNetstring() string {
	c.t.Helper()
	n := 0
	for {
		b, err := c.br.ReadByte()
		if err != nil {
			c.t.Fatalf("reading an answer: %v", err)
		}
		if b == ':' {
			break
		}
		if b < '0' || b > '9' || n > 1000 {
			c.t.Fatalf("bad answer length byte %q", b)
		}
		n = n*10 + int(b-'0')
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(c.br, buf); err != nil || buf[n] != ',' {
		c.t.Fatalf("answer %q: %v", buf, err)
	}
	return string(buf[:n])
}

// waitDelivered waits until dir holds n files and returns their contents.
func waitDelivered(t *testing.T, dir string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ents, _ := os.ReadDir(dir)
		if len(ents) >= n || time.Now().After(deadline) {
			var out []string
			for _, e := range ents {
				data, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, string(data))
			}
			if len(out) != n {
				t.Fatalf("%d files in %s, want %d", len(out), dir, n)
			}
			sort.Strings(out)
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queueLeftovers lists every file under the queue's message folders
// (mess, intd, todo, info, local, remote, pid): what a message queued
// half-way would leave behind.
func queueLeftovers(home string) []string {
	var out []string
	for _, d := range []string{"mess", "intd", "todo", "info", "local", "remote", "pid"} {
		filepath.WalkDir(filepath.Join(home, "queue", d), func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

// TestQmtpdUnderTcpserver: a QMTP client sends several messages on one
// connection to qmail-qmtpd run by tcpserver, in LF and CRLF mode, with
// a recipient refused by rcpthosts and a sender refused outright; the
// answers are exact per recipient and the accepted mail is delivered
// with a QMTP Received line.
func TestQmtpdUnderTcpserver(t *testing.T) {
	home, uid, gid := userModeInstall(t)
	s := start(t, home, uid, gid)
	port, _ := startService(t, home, uid, gid, "qmail-qmtpd")
	c := dialQMTP(t, port)

	// 1: LF mode, one local recipient and one outside rcpthosts.
	got := c.send('\n', "Subject: qmtp one\n\nfirst message\n", "lf@example.org", "someone@localhost", "x@elsewhere.example")
	if len(got) != 2 || !qmtpOK.MatchString(got[0]) ||
		got[1] != "Dsorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)" {
		t.Fatalf("message 1 answers %q", got)
	}
	n := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	if info := s.expectLog("info msg " + n + ": bytes *"); !strings.Contains(info, " from <lf@example.org> qp "+
		got[0][strings.LastIndexByte(got[0], ' ')+1:]+" ") {
		t.Errorf("info line %q does not match the answer %q", info, got[0])
	}

	// 2: CRLF mode on the same connection, two local recipients.
	got = c.send('\r', "Subject: qmtp two\r\n\r\nline one\r\nline two\r\n", "crlf@example.org", "other@localhost", "third@localhost")
	if len(got) != 2 || !qmtpOK.MatchString(got[0]) || got[1] != got[0] {
		t.Fatalf("message 2 answers %q", got)
	}

	// 3: a sender holding a NUL is refused for every recipient.
	got = c.send('\n', "Subject: never\n\nnever\n", "bad\x00sender@example.org", "someone@localhost", "other@localhost")
	for _, a := range got {
		if a != "Dunacceptable sender (#5.1.7)" {
			t.Fatalf("message 3 answers %q", got)
		}
	}

	// 4: a recipient of 1000 bytes is refused on its own; the other is taken.
	long := strings.Repeat("r", 990) + "@localhost"
	got = c.send('\n', "Subject: qmtp four\n\nfourth\n", "", long, "fourth@localhost")
	if len(got) != 2 || got[0] != "Dsorry, I can't handle that recipient (#5.1.3)" || !qmtpOK.MatchString(got[1]) {
		t.Fatalf("message 4 answers %q", got)
	}
	c.conn.Close()

	msgs := waitDelivered(t, filepath.Join(home, "alias", "Maildir", "new"), 4)
	want := map[string][]string{
		"someone@localhost": {"Return-Path: <lf@example.org>\n", "\nSubject: qmtp one\n\nfirst message\n"},
		"other@localhost":   {"Return-Path: <crlf@example.org>\n", "\nSubject: qmtp two\n\nline one\nline two\n"},
		"third@localhost":   {"Return-Path: <crlf@example.org>\n", "\nSubject: qmtp two\n\nline one\nline two\n"},
		"fourth@localhost":  {"Return-Path: <>\n", "\nSubject: qmtp four\n\nfourth\n"},
	}
	for _, m := range msgs {
		dt := strings.SplitN(m, "\n", 3)[1]
		w, ok := want[strings.TrimPrefix(dt, "Delivered-To: ")]
		if !ok {
			t.Errorf("unexpected delivery:\n%s", m)
			continue
		}
		delete(want, strings.TrimPrefix(dt, "Delivered-To: "))
		if !strings.HasPrefix(m, w[0]) || !strings.HasSuffix(m, w[1]) || strings.Contains(m, "\r") ||
			!strings.Contains(m, "\nReceived: from unknown (127.0.0.1)\n  by localhost with QMTP; ") {
			t.Errorf("delivery to %s:\n%q", dt, m)
		}
	}
	if len(want) != 0 {
		t.Errorf("no delivery for %v", want)
	}
}

// TestNetstringServersBadClients: a QMQP client that disconnects in the
// middle of its message and a QMTP client sending a malformed netstring
// are dropped by the real servers under tcpserver, and nothing is left
// in the queue half-way; the servers keep serving the next client.
func TestNetstringServersBadClients(t *testing.T) {
	home, uid, gid := userModeInstall(t)
	qmqp, _ := startService(t, home, uid, gid, "qmail-qmqpd")
	qmtp, _ := startService(t, home, uid, gid, "qmail-qmtpd")
	tests := []struct{ name, port, send string }{
		{"QMQP client gone mid-message", qmqp, "100000:" + nstr("Subject: cut\n\n"+strings.Repeat("x", 50000))},
		{"QMQP malformed outer netstring", qmqp, "12x:"},
		{"QMQP message runs past the outer netstring", qmqp, "10:" + nstr(strings.Repeat("x", 20)) + ","},
		{"QMTP client gone mid-message", qmtp, "100000:\nSubject: cut\n\n" + strings.Repeat("x", 50000)},
		{"QMTP malformed length", qmtp, "1x:"},
		{"QMTP neither LF nor CR first", qmtp, nstr("Xmsg\n") + nstr("s@x") + nstr(nstr("r@localhost"))},
		{"QMTP missing comma", qmtp, "5:\nmsg\n;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+tt.port, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(15 * time.Second))
			c.Write([]byte(tt.send))
			if tc, ok := c.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			// The server must close without an answer.
			buf := make([]byte, 100)
			if n, err := c.Read(buf); n != 0 || err == nil {
				t.Fatalf("server answered %q (%v), want the connection closed", buf[:n], err)
			}
		})
	}
	if left := queueLeftovers(home); len(left) != 0 {
		t.Errorf("files left in the queue: %v", left)
	}
	// Both servers still serve: a good QMTP message is queued.
	c := dialQMTP(t, qmtp)
	if got := c.send('\n', "Subject: after\n\nok\n", "s@example.org", "someone@localhost"); !qmtpOK.MatchString(got[0]) {
		t.Errorf("after the bad clients: %q", got)
	}
}
