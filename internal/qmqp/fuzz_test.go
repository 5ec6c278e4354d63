package qmqp

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"goqmail/internal/netstring"
)

// answers splits a server's output into its netstrings; ok is false if
// the output is not a sequence of whole netstrings each starting with
// K, Z or D.
func answers(out string) ([]string, bool) {
	br := bufio.NewReader(strings.NewReader(out))
	var all []string
	for {
		if _, err := br.Peek(1); err != nil {
			return all, true
		}
		a, err := netstring.Read(br, 1000)
		if err != nil || len(a) == 0 || strings.IndexByte("KZD", a[0]) < 0 {
			return all, false
		}
		all = append(all, string(a))
	}
}

// queuedCount is the number of messages the fake qmail-queue took, after
// checking that each came with a whole envelope and its Received line.
func queuedCount(t *testing.T, dir, proto string) int {
	q := queued(t, dir)
	n := 0
	for _, l := range strings.Split(q, "\n") {
		if l == "" {
			continue
		}
		n++
		if !strings.HasPrefix(l, `"Received: from client.example (10.0.0.1)\n  by server.example with `+proto+`; `) ||
			!strings.HasSuffix(l, `\x00\x00"`) {
			t.Fatalf("queued %s", l)
		}
	}
	return n
}

// FuzzQmtpd: whatever a client sends, qmail-qmtpd exits 0, 100 or 111,
// answers only with whole K/Z/D netstrings, and queues exactly one
// message per distinct "Kok" answer (each message's answer names its
// own qmail-queue pid): nothing is queued that was not acknowledged,
// nothing acknowledged that was not queued.
func FuzzQmtpd(f *testing.F) {
	for _, s := range []string{
		qmtpMsg("\n", "a\nb\n", "s@x", "r@ok.example", "r@bad.example"),
		qmtpMsg("\r", "a\r\nb\rc\r\n", "s@x", "r@ok.example") + qmtpMsg("\n", "two\n", "", "r@ok.example"),
		qmtpMsg("\n", "m\n", "s\x00@x", "r@ok.example"),
		qmtpMsg("\n", strings.Repeat("x", 60), "s@x", "r@ok.example"),
		qmtpMsg("X", "m\n", "s@x", "r@ok.example"),
		"0:," + ns("s") + ns(""), "1x:", "100:\nabc", "5:\nmsg\n;", "99999999999:", "",
	} {
		f.Add([]byte(s))
	}
	home := f.TempDir()
	os.MkdirAll(filepath.Join(home, "control"), 0o755)
	os.WriteFile(filepath.Join(home, "control", "rcpthosts"), []byte("ok.example\n"), 0o644)
	os.WriteFile(filepath.Join(home, "control", "databytes"), []byte("50\n"), 0o644)
	f.Fuzz(func(t *testing.T, in []byte) {
		dir, env := fakeQQ(t)
		code, out, stderr := runServer(t, qmtpd, home, env, strings.NewReader(string(in)))
		if code != 0 && code != 100 && code != 111 {
			t.Fatalf("exit %d", code)
		}
		if (code == 0) != (stderr == "") {
			t.Fatalf("exit %d with stderr %q", code, stderr)
		}
		all, ok := answers(out)
		if !ok {
			t.Fatalf("output %q is not a sequence of answers", out)
		}
		acks := map[string]bool{}
		for _, a := range all {
			if a[0] == 'K' {
				acks[a] = true
			}
		}
		if n := queuedCount(t, dir, "QMTP"); n != len(acks) {
			t.Fatalf("%d messages queued, %d acknowledged (answers %q)", n, len(acks), all)
		}
	})
}

// FuzzQmqpd: whatever a client sends, qmail-qmqpd exits 0, 100 or 111,
// answers at most one K/Z/D netstring and only when it exits 0, and
// queues a message exactly when it answers K.
func FuzzQmqpd(f *testing.F) {
	good := ns(ns("Subject: x\n\nbody\n") + ns("s@a.example") + ns("r1@b.example"))
	for _, s := range []string{
		good, good[:20], good[:len(good)-3], ns(ns("x\n") + ns("s@a") + ns("r\x00T@x")),
		ns(ns("x\n")), "10:" + ns(strings.Repeat("x", 20)) + ",", "12a:", "99999999999:", "",
		strings.TrimSuffix(good, ",") + ";",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		dir, env := fakeQQ(t)
		code, out, stderr := runServer(t, qmqpd, t.TempDir(), env, strings.NewReader(string(in)))
		if code != 0 && code != 100 && code != 111 {
			t.Fatalf("exit %d", code)
		}
		all, ok := answers(out)
		if !ok || len(all) > 1 || (len(all) == 1) != (code == 0) || (code == 0) != (stderr == "") {
			t.Fatalf("exit %d, output %q, stderr %q", code, out, stderr)
		}
		want := 0
		if len(all) == 1 && all[0][0] == 'K' {
			want = 1
		}
		if n := queuedCount(t, dir, "QMQP"); n != want {
			t.Fatalf("%d messages queued, answer %q", n, all)
		}
	})
}
