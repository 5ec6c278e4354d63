package splogger

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"goqmail/internal/prog"
)

// now is the fixed clock of the tests: stamp 1000000000.123456, header
// "Sep  9 01:46:40" (UTC, so the test does not depend on the zone).
func now() time.Time { return time.Unix(1000000000, 123456789).UTC() }

const hdr = "Sep  9 01:46:40"

// listen makes a fake syslogd socket in a temp folder.
func listen(t *testing.T, network string) (string, net.Listener, net.PacketConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log")
	if network == "unixgram" {
		pc, err := net.ListenPacket("unixgram", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		return path, nil, pc
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return path, l, nil
}

// runSplogger runs splogger in-process on input.
func runSplogger(t *testing.T, socket, input string, args ...string) (stderr string, code int) {
	t.Helper()
	var errb bytes.Buffer
	ctx := &prog.Context{
		Args:   append([]string{"splogger"}, args...),
		Stdin:  strings.NewReader(input),
		Stdout: &bytes.Buffer{},
		Stderr: &errb,
	}
	code = Run(ctx, Options{Socket: socket, Now: now})
	return errb.String(), code
}

// datagrams reads every datagram waiting on pc (bounded in time).
func datagrams(t *testing.T, pc net.PacketConn) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 4096)
	for i := 0; i < 100; i++ {
		pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			break
		}
		out = append(out, string(buf[:n]))
	}
	return out
}

func TestLines(t *testing.T) {
	long := strings.Repeat("a", 799) + strings.Repeat("b", 799) + "ccc"
	tests := []struct {
		name  string
		args  []string
		input string
		want  []string
	}{
		{"info", nil, "status: local 0/10 remote 0/20\n",
			[]string{"<22>" + hdr + " splogger: 1000000000.123456 status: local 0/10 remote 0/20"}},
		{"warning and alert", []string{"qmail"}, "warning: trouble\nalert: oh no\nwarningx\n",
			[]string{
				"<20>" + hdr + " qmail: 1000000000.123456 warning: trouble",
				"<17>" + hdr + " qmail: 1000000000.123456 alert: oh no",
				"<22>" + hdr + " qmail: 1000000000.123456 warningx",
			}},
		{"facility local0", []string{"x", "128"}, "alert: a\n",
			[]string{"<129>" + hdr + " x: 1000000000.123456 alert: a"}},
		{"facility 0 is user", []string{"x", "0"}, "a\n",
			[]string{"<14>" + hdr + " x: 1000000000.123456 a"}},
		{"non-printables", nil, "a\tb\x01c\xff\x7fd\r\n",
			[]string{"<22>" + hdr + " splogger: 1000000000.123456 a?b?c??d?"}},
		{"empty lines skipped", nil, "\n\none\n\n",
			[]string{"<22>" + hdr + " splogger: 1000000000.123456 one"}},
		{"last line without newline", nil, "one\ntwo",
			[]string{
				"<22>" + hdr + " splogger: 1000000000.123456 one",
				"<22>" + hdr + " splogger: 1000000000.123456 two",
			}},
		{"exactly 799", nil, strings.Repeat("x", 799) + "\n",
			[]string{"<22>" + hdr + " splogger: 1000000000.123456 " + strings.Repeat("x", 799)}},
		{"long line split", nil, "warning: " + long + "\nnext\n",
			[]string{
				"<20>" + hdr + " splogger: 1000000000.123456 warning: " + strings.Repeat("a", 790),
				"<20>" + hdr + " splogger: 1000000000.123456+" + strings.Repeat("a", 9) + strings.Repeat("b", 790),
				"<20>" + hdr + " splogger: 1000000000.123456+" + strings.Repeat("b", 9) + "ccc",
				"<22>" + hdr + " splogger: 1000000000.123456 next",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sock, _, pc := listen(t, "unixgram")
			stderr, code := runSplogger(t, sock, tc.input, tc.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			got := datagrams(t, pc)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestBadArguments(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"t", "abc"}, "splogger: fatal: facility \"abc\" is not a syslog facility number"},
		{[]string{"t", "17"}, "splogger: fatal: facility \"17\" is not"},
		{[]string{"t", "192"}, "splogger: fatal: facility \"192\" is not"},
		{[]string{"t", "-8"}, "splogger: fatal: facility \"-8\" is not"},
		{[]string{"t", ""}, "splogger: fatal: facility \"\" is not"},
		{[]string{"t", "16", "extra"}, "splogger: usage: splogger [tag [facility]]\n"},
	}
	for _, tc := range tests {
		sock, _, pc := listen(t, "unixgram")
		stderr, code := runSplogger(t, sock, "line\n", tc.args...)
		if code != 100 || !strings.HasPrefix(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 100, %q", tc.args, code, stderr, tc.want)
		}
		if got := datagrams(t, pc); len(got) != 0 {
			t.Errorf("%q: logged %q", tc.args, got)
		}
	}
}

// Without a syslog socket the lines go to stderr, with one warning.
func TestNoSyslogFallsBackToStderr(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "missing")
	stderr, code := runSplogger(t, sock, "one\nwarning: two\n", "qmail")
	want := "splogger: warning: unable to log to syslog at " + sock + ": file does not exist; logging to standard error\n" +
		"qmail: 1000000000.123456 one\n" +
		"qmail: 1000000000.123456 warning: two\n"
	if code != 0 || stderr != want {
		t.Errorf("exit %d, stderr\n%s\nwant\n%s", code, stderr, want)
	}
}

// A stream socket at /dev/log gets each message followed by a NUL.
func TestStreamSocket(t *testing.T) {
	sock, l, _ := listen(t, "unix")
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b bytes.Buffer
		b.ReadFrom(c)
		got <- b.String()
	}()
	stderr, code := runSplogger(t, sock, "a\nalert: b\n")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	want := "<22>" + hdr + " splogger: 1000000000.123456 a\x00<17>" + hdr + " splogger: 1000000000.123456 alert: b\x00"
	select {
	case g := <-got:
		if g != want {
			t.Errorf("got %q, want %q", g, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no data")
	}
}

// When syslogd goes away mid-run, the lines after go to stderr.
func TestSyslogGoesAway(t *testing.T) {
	sock, _, pc := listen(t, "unixgram")
	r, w := net.Pipe()
	defer r.Close()
	done := make(chan string, 1)
	go func() {
		var errb bytes.Buffer
		ctx := &prog.Context{Args: []string{"splogger", "q"}, Stdin: r, Stdout: &bytes.Buffer{}, Stderr: &errb}
		Run(ctx, Options{Socket: sock, Now: now})
		done <- errb.String()
	}()
	w.Write([]byte("first\n"))
	got := datagrams(t, pc)
	if len(got) != 1 || got[0] != "<22>"+hdr+" q: 1000000000.123456 first" {
		t.Fatalf("got %q", got)
	}
	pc.Close()
	w.Write([]byte("second\nthird\n"))
	w.Close()
	select {
	case stderr := <-done:
		if !strings.HasPrefix(stderr, "splogger: warning: unable to log to syslog at "+sock+": ") ||
			!strings.HasSuffix(stderr, "; logging to standard error\nq: 1000000000.123456 second\nq: 1000000000.123456 third\n") ||
			strings.Count(stderr, "warning") != 1 {
			t.Errorf("stderr %q", stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("splogger did not finish")
	}
}
