package admin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"goqmail/internal/testutil"
)

func TestQstat(t *testing.T) {
	for _, c := range []struct {
		label string
		mess  []string // files under queue/mess
		todo  []string
		want  string
	}{
		{"empty", nil, nil, "messages in queue: 0\nmessages in queue but not yet preprocessed: 0\n"},
		{"some", []string{"0/23", "0/46", "5/5", "22/22"}, []string{"5"},
			"messages in queue: 4\nmessages in queue but not yet preprocessed: 1\n"},
		{"todo only counts files", []string{"1/1"}, []string{"1", "2", "3"},
			"messages in queue: 1\nmessages in queue but not yet preprocessed: 3\n"},
	} {
		t.Run(c.label, func(t *testing.T) {
			home := t.TempDir()
			q := makeQueue(t, home)
			for _, f := range c.mess {
				testutil.MustWrite(t, filepath.Join(q, "mess", f), "x", 0o644)
			}
			for _, f := range c.todo {
				testutil.MustWrite(t, filepath.Join(q, "todo", f), "x", 0o644)
			}
			// A stray folder is not a message.
			os.MkdirAll(filepath.Join(q, "todo", "sub"), 0o755)
			out, errs, code := run(t, Qstat, home, "qmail-qstat")
			if code != 0 || errs != "" || out != c.want {
				t.Errorf("exit %d stderr %q stdout %q; want %q", code, errs, out, c.want)
			}
		})
	}
}

func TestQstatBroken(t *testing.T) {
	for _, c := range []struct {
		label string
		setup func(t *testing.T, home string)
		want  string
	}{
		{"no queue", func(t *testing.T, home string) {},
			"qmail-qstat: fatal: unable to read HOME/queue/mess: no such file or directory\n"},
		{"no todo", func(t *testing.T, home string) {
			os.Remove(filepath.Join(makeQueue(t, home), "todo"))
		}, "qmail-qstat: fatal: unable to read HOME/queue/todo: no such file or directory\n"},
	} {
		t.Run(c.label, func(t *testing.T) {
			home := t.TempDir()
			c.setup(t, home)
			out, errs, code := run(t, Qstat, home, "qmail-qstat")
			want := strings.ReplaceAll(c.want, "HOME", home)
			if code != 111 || out != "" || errs != want {
				t.Errorf("exit %d stdout %q stderr %q; want 111 %q", code, out, errs, want)
			}
		})
	}
}
