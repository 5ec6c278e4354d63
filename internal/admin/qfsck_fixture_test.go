package admin

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/ids"
	"goqmail/internal/prog"
	"goqmail/internal/queue"
	"goqmail/internal/queuefs"
	"goqmail/internal/testutil"
)

// fx is a queue built by hand for qmail-qfsck's tests.
type fx struct {
	t    *testing.T
	home string
	q    queuefs.Queue
	now  time.Time
	uid  int // owner of the home: user mode, every role is this account
	gid  int
}

// newFx makes a user-mode home (owned by an unprivileged account when
// the test runs as root, so that ids.Load does not look for qmail's
// accounts) with an empty queue.
func newFx(t *testing.T) *fx {
	t.Helper()
	home := t.TempDir()
	x := &fx{t: t, home: home, q: queuefs.New(home), now: time.Now().Truncate(time.Second),
		uid: os.Getuid(), gid: os.Getgid()}
	if err := queuefs.MakeTree(x.q.Dir); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		a := testutil.Unprivileged(t)
		x.uid, x.gid = a.UID, a.GID
		testutil.Chown(t, home, a)
	}
	return x
}

func (x *fx) path(rel string) string { return filepath.Join(x.q.Dir, rel) }

// mess creates a message text the way qmail-queue does: its number is
// the inode of the file.
func (x *fx) mess(content string) uint64 {
	x.t.Helper()
	p := x.path("pid/fixture")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		x.t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		x.t.Fatal(err)
	}
	n := fi.Sys().(*syscall.Stat_t).Ino
	if err := os.Link(p, x.q.Mess(n)); err != nil {
		x.t.Fatal(err)
	}
	if err := os.Remove(p); err != nil {
		x.t.Fatal(err)
	}
	x.age(x.q.Mess(n), time.Hour)
	return n
}

// write writes a file at a path relative to the queue.
func (x *fx) write(rel, content string) {
	x.t.Helper()
	if err := os.WriteFile(x.path(rel), []byte(content), 0o600); err != nil {
		x.t.Fatal(err)
	}
}

// queued writes intd/N and links todo/N to it, as qmail-queue commits.
func (x *fx) queued(n uint64, env string) {
	x.t.Helper()
	if err := os.WriteFile(x.q.Intd(n), []byte(env), 0o644); err != nil {
		x.t.Fatal(err)
	}
	if err := os.Link(x.q.Intd(n), x.q.Todo(n)); err != nil {
		x.t.Fatal(err)
	}
}

// age sets a file's atime and mtime to d before the test's clock.
func (x *fx) age(p string, d time.Duration) {
	x.t.Helper()
	if err := os.Chtimes(p, x.now.Add(-d), x.now.Add(-d)); err != nil {
		x.t.Fatal(err)
	}
}

// inject queues a message with the real qmail-queue, in-process.
func (x *fx) inject(sender string, rcpts ...string) {
	x.t.Helper()
	env := "F" + sender + "\x00"
	for _, r := range rcpts {
		env += "T" + r + "\x00"
	}
	env += "\x00"
	fixed := &ids.IDs{UserMode: true, Qmailq: os.Getuid(), GidQmail: os.Getgid()}
	if code := queue.Run(x.home, strings.NewReader("Subject: test\n\nHello.\n"), strings.NewReader(env),
		queue.Options{PID: 4242, UID: 5, IDs: fixed}); code != 0 {
		x.t.Fatalf("qmail-queue exit %d", code)
	}
}

// exists says whether a queue-relative path exists.
func (x *fx) exists(rel string) bool {
	_, err := os.Lstat(x.path(rel))
	return err == nil
}

// run runs qmail-qfsck in-process.
func (x *fx) run(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	ctx := &prog.Context{
		Args:   append([]string{"qmail-qfsck"}, args...),
		Home:   x.home,
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		Stderr: &errb,
	}
	code = QfsckRun(ctx, QfsckOptions{Now: func() time.Time { return x.now }})
	return out.String(), errb.String(), code
}

// snapshot describes every name in the queue: type, size, inode, mode.
func (x *fx) snapshot() string {
	x.t.Helper()
	var lines []string
	err := filepath.WalkDir(x.q.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		size := fi.Size()
		if fi.IsDir() {
			size = 0
		}
		lines = append(lines, fmt.Sprintf("%s %v %d %d %d", x.rel(p), fi.Mode(), size, st.Ino, st.Uid))
		return nil
	})
	if err != nil {
		x.t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func (x *fx) rel(p string) string {
	r, _ := filepath.Rel(x.q.Dir, p)
	return r
}

// lines prefixes each expected line with the program name.
func lines(l []string) string {
	var b strings.Builder
	for _, s := range l {
		b.WriteString("qmail-qfsck: " + s + "\n")
	}
	return b.String()
}
