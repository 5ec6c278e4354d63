package smtpd

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"goqmail/internal/prog"
	"goqmail/internal/testutil"
)

// fakeQueue is a qmail-queue stand-in: it saves the message (fd 0) and
// the envelope (fd 1) under $FAKEQQ_DIR, notes its pid when it got a
// whole envelope, and exits with $FAKEQQ_EXIT ("crash": killed).
const fakeQueue = `#!/bin/sh
d="$FAKEQQ_DIR"
cat > "$d/msg.$$" || exit 54
cat <&1 > "$d/env.$$" || exit 54
[ -s "$d/env.$$" ] && echo $$ >> "$d/pids"
case "$FAKEQQ_EXIT" in
crash) kill -KILL $$ ;;
esac
exit ${FAKEQQ_EXIT:-0}
`

// testNow is the clock of every session: 14 Nov 2023 22:13:20 -0000.
var testNow = time.Unix(1700000000, 0)

// harness is one qmail home with a fake queue.
type harness struct {
	t     *testing.T
	home  string
	qdir  string
	env   []string
	args  []string // qmail-smtpd's arguments after its name
	myIPs func() ([]net.IP, error)
}

// newHarness makes a home whose control/ holds files (name => content).
func newHarness(t *testing.T, files map[string]string) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, home: filepath.Join(dir, "home"), qdir: filepath.Join(dir, "queue")}
	if err := os.MkdirAll(filepath.Join(h.home, "control"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(h.qdir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		testutil.MustWrite(t, filepath.Join(h.home, "control", name), content, 0o644)
	}
	script := filepath.Join(dir, "fake-qmail-queue")
	testutil.MustWrite(t, script, fakeQueue, 0o755)
	h.env = []string{"QMAILQUEUE=" + script, "FAKEQQ_DIR=" + h.qdir, "PATH=/usr/bin:/bin"}
	h.myIPs = func() ([]net.IP, error) { return []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(192, 0, 2, 7)}, nil }
	return h
}

// setenv adds KEY=VALUE to the session's environment.
func (h *harness) setenv(kv ...string) *harness {
	h.env = append(h.env, kv...)
	return h
}

// context builds a program context for one session.
func (h *harness) context(in io.Reader, out, errw io.Writer) *prog.Context {
	return &prog.Context{Args: append([]string{"qmail-smtpd"}, h.args...), Env: h.env, Home: h.home,
		Stdin: in, Stdout: out, Stderr: errw}
}

func (h *harness) options() options {
	return options{now: func() time.Time { return testNow }, myIPs: h.myIPs}
}

// run feeds input to one session and returns what it wrote, its exit
// code and its stderr.
func (h *harness) run(input string) (out string, code int, stderr string) {
	var o, e bytes.Buffer
	code = run(h.context(strings.NewReader(input), &o, &e), h.options())
	return o.String(), code, e.String()
}

// message is one message the fake queue accepted whole.
type message struct {
	pid    int
	body   string
	sender string
	rcpts  []string
}

// messages lists the queued messages in the order they were queued.
func (h *harness) messages() []message {
	h.t.Helper()
	data, err := os.ReadFile(filepath.Join(h.qdir, "pids"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	var out []message
	for _, f := range strings.Fields(string(data)) {
		pid, _ := strconv.Atoi(f)
		body, err := os.ReadFile(filepath.Join(h.qdir, "msg."+f))
		if err != nil {
			h.t.Fatal(err)
		}
		env, err := os.ReadFile(filepath.Join(h.qdir, "env."+f))
		if err != nil {
			h.t.Fatal(err)
		}
		sender, rcpts, err := parseEnvelope(env)
		if err != nil {
			h.t.Fatalf("envelope %q: %v", env, err)
		}
		out = append(out, message{pid: pid, body: string(body), sender: sender, rcpts: rcpts})
	}
	return out
}

// parseEnvelope reads qmail-queue's envelope strictly: F sender NUL,
// T recipient NUL each, a final NUL, no CR or LF anywhere.
func parseEnvelope(env []byte) (sender string, rcpts []string, err error) {
	if bytes.ContainsAny(env, "\r\n") {
		return "", nil, errors.New("CR or LF in envelope")
	}
	if len(env) == 0 || env[0] != 'F' {
		return "", nil, errors.New("no F record")
	}
	i := bytes.IndexByte(env, 0)
	if i < 0 {
		return "", nil, errors.New("unterminated sender")
	}
	sender, env = string(env[1:i]), env[i+1:]
	for {
		if len(env) == 0 {
			return "", nil, errors.New("no final NUL")
		}
		if env[0] == 0 {
			if len(env) != 1 {
				return "", nil, errors.New("bytes after the final NUL")
			}
			return sender, rcpts, nil
		}
		if env[0] != 'T' {
			return "", nil, errors.New("record is not T")
		}
		i := bytes.IndexByte(env, 0)
		if i < 0 {
			return "", nil, errors.New("unterminated recipient")
		}
		rcpts = append(rcpts, string(env[1:i]))
		env = env[i+1:]
	}
}

// fillQP replaces each "{qp}" in want with the next queued pid.
func fillQP(want string, msgs []message) string {
	for _, m := range msgs {
		if !strings.Contains(want, "{qp}") {
			break
		}
		want = strings.Replace(want, "{qp}", strconv.Itoa(m.pid), 1)
	}
	return want
}

// received is the Received line of a session without tcpserver's
// variables and without a HELO.
const received = "Received: from unknown (unknown)\n  by unknown with SMTP; 14 Nov 2023 22:13:20 -0000\n"

// crlf turns "\n" into "\r\n" for readable transcripts.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
