package localdelivery

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"goqmail/internal/testutil"
)

// fakeQueue is a QMAILQUEUE script that records the message (fd 0) and
// the envelope (fd 1) and exits with a chosen code.
type fakeQueue struct{ dir string }

func (f *fixture) fakeQueue(exit int) fakeQueue {
	f.t.Helper()
	dir := filepath.Join(filepath.Dir(f.home), "qq")
	os.Mkdir(dir, 0o700)
	script := "#!/bin/sh\ncat >" + dir + "/msg || exit 54\ncat <&1 >" + dir + "/env || exit 54\nexit " + strconv.Itoa(exit) + "\n"
	p := filepath.Join(dir, "qmail-queue")
	if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
		f.t.Fatal(err)
	}
	f.env = append(f.env, "QMAILQUEUE="+p)
	return fakeQueue{dir}
}

func (q fakeQueue) read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(q.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (q fakeQueue) envelope(t *testing.T) string { return q.read(t, "env") }

var didQP = regexp.MustCompile(`^did 0\+([0-9]+)\+0\nqp [0-9]+\n$`)

// TestForward covers forwarding: one qmail-queue run at the end with the
// Delivered-To line on top, NEWSENDER as sender, every address.
func TestForward(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	f := newFixture(t, testMsg)
	q := f.fakeQueue(0)
	f.write(".qmail-foo", "&a@b\nc@d\n# comment\n& e@f\n&\n", 0o600)
	code, out := f.deliver("", "joe-foo", "-", "foo")
	if code != 0 || !didQP.MatchString(out) || didQP.FindStringSubmatch(out)[1] != "4" {
		t.Fatalf("got %d %q", code, out)
	}
	if got := q.read(t, "msg"); got != dt+testMsg {
		t.Errorf("message %q", got)
	}
	if got := q.envelope(t); got != "Fsender@x.org\x00Ta@b\x00Tc@d\x00T e@f\x00T\x00\x00" {
		t.Errorf("envelope %q", got)
	}
}

// TestForwardOnly: the owner-execute bit allows forwards only.
func TestForwardOnly(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	f := newFixture(t, testMsg)
	q := f.fakeQueue(0)
	f.write(".qmail-foo", "a@b\n+list\n", 0o700)
	if code, out := f.deliver("", "joe-foo", "-", "foo"); code != 0 || !didQP.MatchString(out) {
		t.Fatalf("got %d %q", code, out)
	}
	if got := q.envelope(t); got != "Fsender@x.org\x00Ta@b\x00\x00" {
		t.Errorf("envelope %q", got)
	}
}

// TestForwardFailure maps qmail-queue's exit codes.
func TestForwardFailure(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	tests := []struct {
		exit, code int
		out        string
	}{
		{31, 100, "Unable to forward message: mail server permanently rejected message (#5.3.0).\n"},
		{11, 100, "Unable to forward message: envelope address too long for qq (#5.1.3).\n"},
		{71, 111, "Unable to forward message: mail server temporarily rejected message (#4.3.0).\n"},
		{53, 111, "Unable to forward message: qq write error or disk full (#4.3.0).\n"},
	}
	for _, tc := range tests {
		f := newFixture(t, testMsg)
		f.fakeQueue(tc.exit)
		f.write(".qmail-foo", "a@b\n", 0o600)
		if code, out := f.deliver("", "joe-foo", "-", "foo"); code != tc.code || out != tc.out {
			t.Errorf("qq exit %d: got %d %q, want %d %q", tc.exit, code, out, tc.code, tc.out)
		}
	}
	t.Run("NUL in address", func(t *testing.T) {
		f := newFixture(t, testMsg)
		f.fakeQueue(0)
		f.write(".qmail-foo", "a@b\x00c@d\n", 0o600)
		code, out := f.deliver("", "joe-foo", "-", "foo")
		if code != 100 || out != "Unable to forward message: the envelope holds an address with NUL, CR or LF (#5.1.3).\n" {
			t.Errorf("got %d %q", code, out)
		}
	})
	t.Run("qmail-queue missing", func(t *testing.T) {
		f := newFixture(t, testMsg)
		f.env = append(f.env, "QMAILQUEUE=/nonexistent/qmail-queue")
		f.write(".qmail-foo", "a@b\n", 0o600)
		code, out := f.deliver("", "joe-foo", "-", "foo")
		if code != 111 || !regexp.MustCompile(`^Unable to fork: .*\. \(#4\.3\.0\)\n$`).MatchString(out) {
			t.Errorf("got %d %q", code, out)
		}
	})
}

// TestNewSender covers spec §8.6.
func TestNewSender(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	tests := []struct {
		name   string
		files  []string
		sender string
		want   string
	}{
		{"no owner", nil, "s@x", "s@x"},
		{"owner", []string{".qmail-list-owner"}, "s@x", "joe-list-owner@example.com"},
		{"owner-default", []string{".qmail-list-owner", ".qmail-list-owner-default"}, "s@x", "joe-list-owner-@example.com-@[]"},
		{"owner-default alone", []string{".qmail-list-owner-default"}, "s@x", "s@x"},
		{"empty sender", []string{".qmail-list-owner"}, "", ""},
		{"double bounce sender", []string{".qmail-list-owner"}, "#@[]", "#@[]"},
		{"owner found with the full ext", []string{".qmail-list-owner"}, "s@x", "joe-list-owner@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testMsg)
			q := f.fakeQueue(0)
			f.write(".qmail-list", "|echo \"$NEWSENDER\"\nx@y\n", 0o600)
			for _, n := range tc.files {
				f.write(n, "./Mailbox\n", 0o600)
			}
			code, out := f.run("joe", f.home, "joe-list", "-", "list", "example.com", tc.sender, "./Mailbox")
			if code != 0 || !regexp.MustCompile(`^`+regexp.QuoteMeta(tc.want)+`\ndid 0\+1\+1\nqp [0-9]+\n$`).MatchString(out) {
				t.Fatalf("got %d %q", code, out)
			}
			if got, want := q.envelope(t), "F"+tc.want+"\x00Tx@y\x00\x00"; got != want {
				t.Errorf("envelope %q, want %q", got, want)
			}
		})
	}
	t.Run("default file, owner of the full ext", func(t *testing.T) {
		f := newFixture(t, testMsg)
		f.write(".qmail-list-default", "|echo \"$NEWSENDER\"\n", 0o600)
		f.write(".qmail-list-a-owner", "", 0o600)
		f.write(".qmail-list-owner", "", 0o600)
		code, out := f.run("joe", f.home, "joe-list-a", "-", "list-a", "example.com", "s@x", "./Mailbox")
		if code != 0 || out != "joe-list-a-owner@example.com\ndid 0+0+1\n" {
			t.Errorf("got %d %q", code, out)
		}
	})
}
