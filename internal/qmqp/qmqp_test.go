package qmqp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"goqmail/internal/netstring"
	"goqmail/internal/prog"
)

// TestMain lets the test binary stand in for qmail-queue (FAKEQQ_DIR).
func TestMain(m *testing.M) {
	if dir := os.Getenv("FAKEQQ_DIR"); dir != "" {
		msg, _ := io.ReadAll(os.Stdin)
		env, _ := io.ReadAll(os.Stdout)
		if len(env) == 0 || env[len(env)-1] != 0 {
			os.Exit(54) // no complete envelope: nothing queued
		}
		f, _ := os.OpenFile(filepath.Join(dir, "queued"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		fmt.Fprintf(f, "%q %q\n", msg, env)
		f.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var testNow = time.Date(2024, 3, 5, 6, 7, 8, 0, time.UTC)

const testDate = "5 Mar 2024 06:07:08 -0000"

func testOpts() options {
	return options{now: func() time.Time { return testNow }, alarm: 10 * time.Second}
}

func fakeQQ(t *testing.T) (string, []string) {
	dir := t.TempDir()
	self, _ := os.Executable()
	return dir, []string{"QMAILQUEUE=" + self, "FAKEQQ_DIR=" + dir, "TCPREMOTEIP=10.0.0.1",
		"TCPREMOTEHOST=client.example", "TCPLOCALHOST=server.example"}
}

func queued(t *testing.T, dir string) string {
	data, _ := os.ReadFile(filepath.Join(dir, "queued"))
	return string(data)
}

func ns(s string) string { return netstring.Encode(s) }

func runServer(t *testing.T, f func(*prog.Context, options) int, home string, env []string, in io.Reader) (int, string, string) {
	var out, errb bytes.Buffer
	ctx := &prog.Context{Args: []string{"qmail-test"}, Env: env, Home: home, Stdin: in, Stdout: &out, Stderr: &errb}
	code := f(ctx, testOpts())
	return code, out.String(), errb.String()
}

func TestQmqpd(t *testing.T) {
	good := ns(ns("Subject: x\n\nbody\n") + ns("s@a.example") + ns("r1@b.example") + ns("r2@c.example"))
	tests := []struct {
		name   string
		in     string
		code   int
		reply  string // prefix
		queued bool
		stderr string
	}{
		{"good", good, 0, "Kok 1709618828 qp ", true, ""},
		{"no recipients", ns(ns("x\n") + ns("s@a.example")), 0, "Kok ", true, ""},
		{"address with NUL", ns(ns("x\n") + ns("s@a") + ns("r\x00Tevil@x")), 0,
			"Dsorry, I can't accept addresses like that (#5.1.3)", false, ""},
		{"address of 1000 bytes", ns(ns("x\n") + ns("s@a") + ns(strings.Repeat("r", 1000))), 0,
			"Dsorry, I can't accept addresses like that (#5.1.3)", false, ""},
		{"address with CR LF", ns(ns("x\n") + ns("s@a\r\nBcc: x") + ns("r@b")), 0,
			"Dsorry, I can't accept addresses like that (#5.1.3)", false, ""},
		{"non-digit length", "12a:", 100, "", false, "qmail-test: fatal: protocol error: malformed netstring: 'a' in the length\n"},
		{"huge length", "99999999999:", 111, "", false, "qmail-test: fatal: netstring too long: 99999999999 bytes, limit 200000000\n"},
		{"missing comma", strings.TrimSuffix(good, ",") + ";", 100, "", false, "qmail-test: fatal: protocol error: malformed netstring: ';' instead of ','\n"},
		{"message longer than the outer netstring", "10:" + ns(strings.Repeat("x", 20)) + ",", 100, "", false,
			"qmail-test: fatal: protocol error: item runs past the end of the outer netstring\n"},
		{"no sender", ns(ns("x\n")), 100, "", false, "qmail-test: fatal: protocol error: malformed netstring: no envelope sender\n"},
		{"client gone mid-message", good[:20], 111, "", false, "qmail-test: fatal: read error: unexpected EOF\n"},
		{"client gone before the envelope", good[:len(good)-30], 111, "", false, "qmail-test: fatal: read error: unexpected EOF\n"},
		{"client gone between the message and the sender", "100:" + ns("x\n"), 111, "", false,
			"qmail-test: fatal: read error: unexpected EOF\n"},
		{"empty connection", "", 111, "", false, "qmail-test: fatal: read error: EOF\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, env := fakeQQ(t)
			code, raw, stderr := runServer(t, qmqpd, t.TempDir(), env, strings.NewReader(tt.in))
			out := raw
			if raw != "" {
				b, err := netstring.Read(bufio.NewReader(strings.NewReader(raw)), 1000)
				if err != nil || netstring.Encode(string(b)) != raw {
					t.Fatalf("reply %q is not one netstring", raw)
				}
				out = string(b)
			}
			if code != tt.code || !strings.HasPrefix(out, tt.reply) || (tt.reply == "" && out != "") || stderr != tt.stderr {
				t.Fatalf("exit %d reply %q stderr %q; want %d %q %q", code, out, stderr, tt.code, tt.reply, tt.stderr)
			}
			q := queued(t, dir)
			if (q != "") != tt.queued {
				t.Fatalf("queued %q, want queued=%v", q, tt.queued)
			}
		})
	}
	dir, env := fakeQQ(t)
	runServer(t, qmqpd, t.TempDir(), env, strings.NewReader(good))
	want := fmt.Sprintf("%q %q\n", "Received: from client.example (10.0.0.1)\n  by server.example with QMQP; "+testDate+"\nSubject: x\n\nbody\n",
		"Fs@a.example\x00Tr1@b.example\x00Tr2@c.example\x00\x00")
	if got := queued(t, dir); got != want {
		t.Errorf("queued %s want %s", got, want)
	}
}

// TestQmqpdAlarm: a client that stops sending is dropped at the alarm.
func TestQmqpdAlarm(t *testing.T) {
	dir, env := fakeQQ(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte("100:5:hello,"))
	var out, errb bytes.Buffer
	ctx := &prog.Context{Args: []string{"qmail-qmqpd"}, Env: env, Home: t.TempDir(), Stdin: pr, Stdout: &out, Stderr: &errb}
	opt := testOpts()
	opt.alarm = 300 * time.Millisecond
	if code := qmqpd(ctx, opt); code != 111 || errb.String() != "qmail-qmqpd: fatal: timeout\n" {
		t.Fatalf("exit %d stderr %q", code, errb.String())
	}
	if q := queued(t, dir); q != "" {
		t.Errorf("queued %q", q)
	}
}

func qmtpMsg(mode, msg, sender string, rcpts ...string) string {
	var r strings.Builder
	for _, x := range rcpts {
		r.WriteString(ns(x))
	}
	return ns(mode+msg) + ns(sender) + ns(r.String())
}

func TestQmtpd(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, "control"), 0o755)
	os.WriteFile(filepath.Join(home, "control", "rcpthosts"), []byte("ok.example\n.sub.example\n"), 0o644)
	os.WriteFile(filepath.Join(home, "control", "databytes"), []byte("50\n"), 0o644)
	okReply := "Kok 1709618828 qp "
	tests := []struct {
		name    string
		env     []string
		in      string
		replies []string // prefixes
		queued  []string
		code    int
	}{
		{"LF mode, two recipients, one refused", nil,
			qmtpMsg("\n", "a\nb\n", "s@x", "r@ok.example", "r@bad.example"),
			[]string{okReply, textRcptHosts}, []string{"a\nb\n"}, 0},
		{"CRLF mode converts", nil,
			qmtpMsg("\r", "a\r\nb\rc\r\n", "s@x", "r@a.sub.example"),
			[]string{okReply}, []string{"a\nb\rc\n"}, 0},
		{"two messages in one session", nil,
			qmtpMsg("\n", "one\n", "s@x", "r@ok.example") + qmtpMsg("\n", "two\n", "", "r@ok.example"),
			[]string{okReply, okReply}, []string{"one\n", "two\n"}, 0},
		{"databytes", nil,
			qmtpMsg("\n", strings.Repeat("x", 51), "s@x", "r@ok.example", "r@bad.example"),
			[]string{textTooBig, textTooBig}, nil, 0},
		{"DATABYTES=0 lifts the limit", []string{"DATABYTES=0"},
			qmtpMsg("\n", strings.Repeat("x", 51), "s@x", "r@ok.example"),
			[]string{okReply}, []string{strings.Repeat("x", 51)}, 0},
		{"bad sender", nil,
			qmtpMsg("\n", "m\n", "s\x00@x", "r@ok.example"),
			[]string{textBadSender}, nil, 0},
		{"bad recipient", nil,
			qmtpMsg("\n", "m\n", "s@x", strings.Repeat("r", 1000)+"@ok.example", "r@ok.example"),
			[]string{textBadRcpt, okReply}, []string{"m\n"}, 0},
		{"RELAYCLIENT skips rcpthosts and is appended", []string{"RELAYCLIENT=@relay.example"},
			qmtpMsg("\n", "m\n", "s@x", "r"),
			[]string{okReply}, []string{"m\n"}, 0},
		{"first byte neither LF nor CR", nil, qmtpMsg("X", "m\n", "s@x", "r@ok.example"), nil, nil, 100},
		{"empty message netstring", nil, "0:," + ns("s") + ns(""), nil, nil, 100},
		{"non-digit length", nil, "1x:", nil, nil, 100},
		{"client gone mid-message", nil, "100:\nabc", nil, nil, 111},
		{"client gone in the recipient list", nil, qmtpMsg("\n", "m\n", "s@x", "r@ok.example")[:20], nil, nil, 111},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, env := fakeQQ(t)
			code, out, stderr := runServer(t, qmtpd, home, append(env, tt.env...), strings.NewReader(tt.in))
			if code != tt.code {
				t.Fatalf("exit %d (stderr %q), want %d", code, stderr, tt.code)
			}
			br := bufio.NewReader(strings.NewReader(out))
			for _, want := range tt.replies {
				got, err := netstring.Read(br, 1000)
				if err != nil || !strings.HasPrefix(string(got), want) {
					t.Fatalf("reply %q (%v), want %q; all %q", got, err, want, out)
				}
			}
			if rest, _ := io.ReadAll(br); len(rest) != 0 {
				t.Errorf("extra output %q", rest)
			}
			q := queued(t, dir)
			var want strings.Builder
			for _, m := range tt.queued {
				want.WriteString(m)
			}
			n := strings.Count(q, "\n")
			if n != len(tt.queued) {
				t.Fatalf("%d messages queued, want %d: %s", n, len(tt.queued), q)
			}
			for _, m := range tt.queued {
				if !strings.Contains(q, fmt.Sprintf("%q", "with QMTP; "+testDate+"\n"+m)[1:]) {
					t.Errorf("queued %s, want a message %q", q, m)
				}
			}
		})
	}
}

func TestQmtpdRelayclientEnvelope(t *testing.T) {
	dir, env := fakeQQ(t)
	env = append(env, "RELAYCLIENT=@relay.example")
	runServer(t, qmtpd, t.TempDir(), env, strings.NewReader(qmtpMsg("\n", "m\n", "s@x", "r")))
	if q := queued(t, dir); !strings.Contains(q, `Fs@x\x00Tr@relay.example\x00\x00`) {
		t.Errorf("queued %s", q)
	}
}

func TestServerAddr(t *testing.T) {
	tests := map[string]string{
		"127.0.0.1": "127.0.0.1:628", "127.0.0.1:6280": "127.0.0.1:6280", "::1": "[::1]:628",
		"[::1]:99": "[::1]:99", "mail.example": "", "1.2.3.4:0": "", "1.2.3.4:x": "", "host:25": "",
	}
	for in, want := range tests {
		got, ok := serverAddr(in)
		if got != want || ok != (want != "") {
			t.Errorf("serverAddr(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// qmqpServer is a QMQP server on loopback answering every connection
// with reply; it returns its address and the packets it received.
func qmqpServer(t *testing.T, reply string) (string, chan []byte) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan []byte, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			pkt, err := netstring.Read(bufio.NewReader(c), 1<<20)
			if err == nil {
				got <- pkt
				io.WriteString(c, ns(reply))
			}
			c.Close()
		}
	}()
	return ln.Addr().String(), got
}

// closedPort is a loopback port nobody listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func runClient(t *testing.T, servers *string, msg, envelope string) int {
	home := t.TempDir()
	if servers != nil {
		os.MkdirAll(filepath.Join(home, "control"), 0o755)
		os.WriteFile(filepath.Join(home, "control", "qmqpservers"), []byte(*servers), 0o644)
	}
	er, ew, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { io.WriteString(ew, envelope); ew.Close() }()
	defer er.Close()
	ctx := &prog.Context{Args: []string{"qmail-qmqpc"}, Home: home, Stdin: strings.NewReader(msg),
		Stdout: io.Discard, Stderr: io.Discard, Files: []*os.File{nil, er, nil}}
	return Client(ctx)
}

func TestClient(t *testing.T) {
	k, kgot := qmqpServer(t, "Kok 1 qp 2")
	z, _ := qmqpServer(t, "Zno thanks")
	d, _ := qmqpServer(t, "Dgo away")
	closed := closedPort(t)
	str := func(s string) *string { return &s }
	env := "Fs@a\x00Tr@b\x00\x00"
	tests := []struct {
		name     string
		servers  *string
		envelope string
		code     int
	}{
		{"first server takes it", str(k + "\n"), env, 0},
		{"a dead server, a comment and a name are skipped", str(closed + "\n# comment\nmail.example\n" + k + "\n"), env, 0},
		{"temporary refusal", str(z + "\n" + k + "\n"), env, 71},
		{"permanent refusal", str(d + "\n"), env, 31},
		{"every server down", str(closed + "\n"), env, 73},
		{"no usable line", str("mail.example\n"), env, 55},
		{"no qmqpservers", nil, env, 55},
		{"bad envelope tag", str(k + "\n"), "Xs@a\x00\x00", 91},
		{"truncated envelope", str(k + "\n"), "Fs@a\x00Tr@b", 54},
		{"address too long", str(k + "\n"), "F" + strings.Repeat("a", 1004) + "\x00\x00", 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := runClient(t, tt.servers, "Subject: x\n\nhi\n", tt.envelope); code != tt.code {
				t.Fatalf("exit %d, want %d", code, tt.code)
			}
		})
	}
	select {
	case pkt := <-kgot:
		want := ns("Subject: x\n\nhi\n") + ns("s@a") + ns("r@b")
		if string(pkt) != want {
			t.Errorf("server got %q, want %q", pkt, want)
		}
	default:
		t.Error("the K server got nothing")
	}
}

// TestClientToQmqpd: our client and our server agree.
func TestClientToQmqpd(t *testing.T) {
	dir, env := fakeQQ(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		ctx := &prog.Context{Args: []string{"qmail-qmqpd"}, Env: env, Home: t.TempDir(), Stdin: c, Stdout: c, Stderr: io.Discard}
		qmqpd(ctx, testOpts())
	}()
	s := ln.Addr().String() + "\n"
	if code := runClient(t, &s, "Subject: y\n\nbody\n", "Fs@a\x00Tr@b\x00\x00"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if q := queued(t, dir); !strings.Contains(q, `with QMQP; `) || !strings.Contains(q, `Fs@a\x00Tr@b\x00\x00`) {
		t.Errorf("queued %s", q)
	}
}
