package admin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"goqmail/internal/testutil"
)

// makeQueue makes an empty queue under home, as qmail-install does.
func makeQueue(t *testing.T, home string) string {
	t.Helper()
	q := filepath.Join(home, "queue")
	for _, d := range []string{"mess", "info", "local", "remote"} {
		for i := 0; i < 23; i++ {
			if err := os.MkdirAll(filepath.Join(q, d, fmt.Sprint(i)), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, d := range []string{"bounce", "todo", "intd", "pid", "lock"} {
		if err := os.MkdirAll(filepath.Join(q, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return q
}

// qmsg is one message of a fixture queue; empty fields mean "no file".
type qmsg struct {
	n             uint64
	info          string
	mess          int // size; -1 for no mess file
	local, remote string
	bounce        bool
	birth         time.Time
}

func (m qmsg) write(t *testing.T, q string) {
	t.Helper()
	s := fmt.Sprint(m.n % 23)
	n := fmt.Sprint(m.n)
	info := filepath.Join(q, "info", s, n)
	testutil.MustWrite(t, info, m.info, 0o600)
	if err := os.Chtimes(info, m.birth, m.birth); err != nil {
		t.Fatal(err)
	}
	if m.mess >= 0 {
		testutil.MustWrite(t, filepath.Join(q, "mess", s, n), strings.Repeat("x", m.mess), 0o644)
	}
	if m.local != "" {
		testutil.MustWrite(t, filepath.Join(q, "local", s, n), m.local, 0o600)
	}
	if m.remote != "" {
		testutil.MustWrite(t, filepath.Join(q, "remote", s, n), m.remote, 0o600)
	}
	if m.bounce {
		testutil.MustWrite(t, filepath.Join(q, "bounce", n), "x", 0o600)
	}
}

func TestQread(t *testing.T) {
	birth := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	msgs := []qmsg{
		{n: 100, info: "Fjoe@example.com\x00", mess: 1234, local: "Tjoe@local.example\x00Dfred@local.example\x00",
			remote: "Tpeer@remote.example\x00", birth: birth},
		{n: 47, info: "F\x00", mess: 10, remote: "Dx@y.example\x00", bounce: true, birth: birth.Add(-36 * time.Hour)},
		{n: 5000, info: "Fa\x1bb@c.example\x00", mess: 0, remote: "Tz\x7f\xe9@d.example\x00T\x00", birth: birth.Add(time.Second)},
		{n: 23, info: "Fno-recipients@example.com\x00", mess: 5, birth: time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC)},
		{n: 60, info: "Xbad\x00", mess: 1, birth: birth},
		{n: 61, info: "Fm@example.com\x00", mess: -1, birth: birth},
		{n: 62, info: "Fm@example.com\x00", mess: 1, remote: "Ta@b.example\x00Tc@d.example", birth: birth},
		{n: 63, info: "Fm@example.com\x00", mess: 1, local: "Xa@b.example\x00", birth: birth},
		{n: 64, info: "Fm@example.com", mess: 1, birth: birth},
		{n: 65, info: "", mess: 1, birth: birth},
	}
	want := "31 Dec 2025 23:59:59 GMT  #23  5  <no-recipients@example.com> \n" +
		"31 Dec 2025 15:04:05 GMT  #47  10  <>  bouncing\n" +
		"  done\tremote\tx@y.example\n" +
		"warning: trouble with #60: info/14/60 does not start with F\n" +
		"warning: trouble with #61: unable to stat mess/15/61: no such file or directory\n" +
		"warning: trouble with #62: remote/16/62 is truncated: no NUL after the last recipient\n" +
		"warning: trouble with #63: local/17/63 has a record that starts with neither T nor D\n" +
		"warning: trouble with #64: info/18/64 is truncated: no NUL after the sender\n" +
		"warning: trouble with #65: info/19/65 does not start with F\n" +
		"2 Jan 2026 03:04:05 GMT  #100  1234  <joe@example.com> \n" +
		"\tlocal\tjoe@local.example\n" +
		"  done\tlocal\tfred@local.example\n" +
		"\tremote\tpeer@remote.example\n" +
		"2 Jan 2026 03:04:06 GMT  #5000  0  <a_b@c.example> \n" +
		"\tremote\tz__@d.example\n" +
		"\tremote\t\n"

	home := t.TempDir()
	q := makeQueue(t, home)
	for _, m := range msgs {
		m.write(t, q)
	}
	// Names that are not message numbers are skipped.
	testutil.MustWrite(t, filepath.Join(q, "info", "3", "junk"), "Fx\x00", 0o600)
	testutil.MustWrite(t, filepath.Join(q, "info", "3", "+3"), "Fx\x00", 0o600)

	out, errs, code := run(t, Qread, home, "qmail-qread")
	if code != 0 || errs != "" {
		t.Errorf("exit %d stderr %q", code, errs)
	}
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

func TestQreadEmptyQueue(t *testing.T) {
	home := t.TempDir()
	makeQueue(t, home)
	out, errs, code := run(t, Qread, home, "qmail-qread")
	if code != 0 || out != "" || errs != "" {
		t.Errorf("exit %d stdout %q stderr %q", code, out, errs)
	}
}

func TestQreadBrokenQueue(t *testing.T) {
	for _, c := range []struct {
		label string
		setup func(t *testing.T, home string)
		want  string
	}{
		{"no queue", func(t *testing.T, home string) {},
			"qmail-qread: fatal: unable to read HOME/queue/info/0: no such file or directory\n"},
		{"split folder missing", func(t *testing.T, home string) {
			q := makeQueue(t, home)
			os.Remove(filepath.Join(q, "info", "7"))
		}, "qmail-qread: fatal: unable to read HOME/queue/info/7: no such file or directory\n"},
		{"split folder is a file", func(t *testing.T, home string) {
			q := makeQueue(t, home)
			os.Remove(filepath.Join(q, "info", "22"))
			testutil.MustWrite(t, filepath.Join(q, "info", "22"), "", 0o644)
		}, "qmail-qread: fatal: unable to read HOME/queue/info/22: not a directory\n"},
	} {
		t.Run(c.label, func(t *testing.T) {
			home := t.TempDir()
			c.setup(t, home)
			out, errs, code := run(t, Qread, home, "qmail-qread")
			want := strings.ReplaceAll(c.want, "HOME", home)
			if code != 111 || out != "" || errs != want {
				t.Errorf("exit %d stdout %q stderr %q; want 111, %q", code, out, errs, want)
			}
		})
	}
}

func TestQreadUnreadable(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	home := t.TempDir()
	q := makeQueue(t, home)
	birth := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	qmsg{n: 1, info: "Fa@b.example\x00", mess: 3, remote: "Tc@d.example\x00", birth: birth}.write(t, q)
	qmsg{n: 2, info: "Fa@b.example\x00", mess: 3, birth: birth}.write(t, q)
	os.Chmod(filepath.Join(q, "remote", "1", "1"), 0)
	os.Chmod(filepath.Join(q, "info", "2", "2"), 0)
	out, errs, code := run(t, Qread, home, "qmail-qread")
	want := "warning: trouble with #1: unable to read remote/1/1: permission denied\n" +
		"warning: trouble with #2: unable to read info/2/2: permission denied\n"
	if code != 0 || errs != "" || out != want {
		t.Errorf("exit %d stderr %q stdout:\n%s\nwant:\n%s", code, errs, out, want)
	}
}
