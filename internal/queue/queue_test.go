package queue

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/durable"
	"goqmail/internal/ids"
	"goqmail/internal/queuefs"
)

func newHome(t *testing.T) (string, queuefs.Queue) {
	t.Helper()
	home := t.TempDir()
	if err := queuefs.MakeTree(filepath.Join(home, "queue")); err != nil {
		t.Fatal(err)
	}
	return home, queuefs.New(home)
}

var fixed = time.Date(1995, 9, 6, 4, 46, 54, 0, time.UTC)

func rootIDs() *ids.IDs {
	return &ids.IDs{Alias: 7790, Qmaild: 7791, Qmaill: 7792, Qmailp: 7793, Qmailq: 7794, Qmailr: 7795, Qmails: 7796}
}

// queued lists the message numbers in todo/.
func queued(t *testing.T, q queuefs.Queue) []uint64 {
	t.Helper()
	ents, err := os.ReadDir(q.Path("todo"))
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, e := range ents {
		n, ok := queuefs.ParseNumber(e.Name())
		if !ok {
			t.Fatalf("odd file in todo: %s", e.Name())
		}
		out = append(out, n)
	}
	return out
}

// debris counts files left anywhere in pid, intd, todo and mess.
func debris(t *testing.T, q queuefs.Queue) int {
	t.Helper()
	n := 0
	for _, d := range []string{"pid", "intd", "todo", "mess"} {
		filepath.Walk(q.Path(d), func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				n++
			}
			return nil
		})
	}
	return n
}

func TestQueueWritesQmailFiles(t *testing.T) {
	home, q := newHome(t)
	trig, err := os.OpenFile(q.Trigger(), os.O_RDWR|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer trig.Close()
	msg := "Subject: hi\n\nbody\n"
	env := "Fjoe@example.com\x00Tbob@example.org\x00Tamy@example.net\x00\x00"
	code := Run(home, strings.NewReader(msg), strings.NewReader(env),
		Options{Now: func() time.Time { return fixed }, PID: 4242, UID: 7791, IDs: rootIDs()})
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	nums := queued(t, q)
	if len(nums) != 1 {
		t.Fatalf("todo has %v", nums)
	}
	n := nums[0]
	mess, err := os.ReadFile(q.Mess(n))
	if err != nil {
		t.Fatal(err)
	}
	want := "Received: (qmail 4242 invoked from network); 6 Sep 1995 04:46:54 -0000\n" + msg
	if string(mess) != want {
		t.Errorf("mess = %q, want %q", mess, want)
	}
	fi, _ := os.Stat(q.Mess(n))
	if ino := fi.Sys().(*syscall.Stat_t).Ino; ino != n {
		t.Errorf("message number %d is not the inode %d", n, ino)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mess mode %v", fi.Mode().Perm())
	}
	todo, _ := os.ReadFile(q.Todo(n))
	wantEnv := "u7791\x00p4242\x00Fjoe@example.com\x00Tbob@example.org\x00Tamy@example.net\x00"
	if string(todo) != wantEnv {
		t.Errorf("todo = %q, want %q", todo, wantEnv)
	}
	ti, _ := os.Stat(q.Todo(n))
	ii, err := os.Stat(q.Intd(n))
	if err != nil || !os.SameFile(ti, ii) {
		t.Errorf("todo/N is not a link of intd/N: %v", err)
	}
	if ents, _ := os.ReadDir(q.Path("pid")); len(ents) != 0 {
		t.Errorf("pid/ not empty: %v", ents)
	}
	buf := make([]byte, 8)
	if k, _ := trig.Read(buf); k != 1 {
		t.Errorf("trigger got %d bytes, want 1", k)
	}
}

func TestReceivedLineNamesTheCaller(t *testing.T) {
	x := rootIDs()
	for _, c := range []struct {
		uid  int
		ids  *ids.IDs
		want string
	}{
		{7790, x, "invoked by alias"},
		{7791, x, "invoked from network"},
		{7796, x, "invoked for bounce"},
		{1234, x, "invoked by uid 1234"},
		{7790, ids.UserMode("/x", 7790, 7790), "invoked by uid 7790"},
	} {
		home, q := newHome(t)
		code := Run(home, strings.NewReader("x\n"), strings.NewReader("F\x00\x00"),
			Options{Now: func() time.Time { return fixed }, PID: 9, UID: c.uid, IDs: c.ids})
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		mess, _ := os.ReadFile(q.Mess(queued(t, q)[0]))
		want := "Received: (qmail 9 " + c.want + "); 6 Sep 1995 04:46:54 -0000\nx\n"
		if string(mess) != want {
			t.Errorf("uid %d: got %q, want %q", c.uid, mess, want)
		}
	}
}

func TestEnvelopeErrors(t *testing.T) {
	long := strings.Repeat("a", 1002)
	for _, c := range []struct {
		name string
		env  string
		code int
	}{
		{"no recipients", "Fjoe@x\x00\x00", 0},
		{"empty sender", "F\x00Tbob@x\x00\x00", 0},
		{"1002-byte address", "F" + long + "\x00T" + long + "\x00\x00", 0},
		{"1003-byte address", "F" + long + "a\x00\x00", 11},
		{"1003-byte recipient", "Fa\x00T" + long + "a\x00\x00", 11},
		{"first record not F", "Tbob@x\x00\x00", 91},
		{"later record not T", "Fa\x00Xbob\x00\x00", 91},
		{"empty envelope", "", 54},
		{"no final NUL", "Fa\x00Tb\x00", 54},
		{"cut inside an address", "Fa\x00Tbo", 54},
		{"LF in recipient", "Fa\x00Tbob\n@x\x00\x00", 12},
		{"CR in sender", "Fa\r\x00Tbob@x\x00\x00", 12},
		{"CR smuggling a record", "Fa\x00Tb\rTevil@x\x00\x00", 12},
	} {
		t.Run(c.name, func(t *testing.T) {
			home, q := newHome(t)
			code := Run(home, strings.NewReader("msg\n"), strings.NewReader(c.env),
				Options{Now: func() time.Time { return fixed }, PID: 1, UID: 5, IDs: rootIDs()})
			if code != c.code {
				t.Fatalf("exit %d, want %d", code, c.code)
			}
			if c.code == 0 {
				if len(queued(t, q)) != 1 {
					t.Fatal("not queued")
				}
				return
			}
			if n := debris(t, q); n != 0 {
				t.Errorf("%d files left behind after exit %d", n, code)
			}
		})
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, syscall.EIO
	}
	f.n--
	p[0] = 'x'
	return 1, nil
}

func TestMessageReadErrorCleansUp(t *testing.T) {
	home, q := newHome(t)
	code := Run(home, &failingReader{n: 3}, strings.NewReader("Fa\x00\x00"),
		Options{PID: 1, UID: 5, IDs: rootIDs()})
	if code != 54 {
		t.Fatalf("exit %d, want 54", code)
	}
	if n := debris(t, q); n != 0 {
		t.Errorf("%d files left", n)
	}
}

func TestMissingQueueAndHome(t *testing.T) {
	if code := Run("/nonexistent/home", strings.NewReader(""), strings.NewReader(""), Options{IDs: rootIDs()}); code != 61 {
		t.Errorf("missing home: exit %d, want 61", code)
	}
	home := t.TempDir()
	if code := Run(home, strings.NewReader(""), strings.NewReader(""), Options{IDs: rootIDs()}); code != 62 {
		t.Errorf("missing queue: exit %d, want 62", code)
	}
}

func TestManyMessagesGetDistinctNumbers(t *testing.T) {
	home, q := newHome(t)
	for i := 0; i < 50; i++ {
		body := bytes.Repeat([]byte{'a' + byte(i%26)}, i*100)
		if code := Run(home, bytes.NewReader(body), strings.NewReader("Fa\x00Tb\x00\x00"), Options{UID: 5, IDs: rootIDs()}); code != 0 {
			t.Fatalf("message %d: exit %d", i, code)
		}
	}
	if n := len(queued(t, q)); n != 50 {
		t.Errorf("%d queued, want 50", n)
	}
}

// TestRoundFailureCleansUp: when the syncfs round that makes the message
// and intd/N durable fails (durable.FS, the worker's way), qmail-queue
// fails as at a failed fsync (53, a temporary failure), leaves no todo/N
// and removes what it wrote; a succeeding round queues the message.
func TestRoundFailureCleansUp(t *testing.T) {
	home, q := newHome(t)
	var st syscall.Stat_t
	if err := syscall.Stat(q.Dir, &st); err != nil {
		t.Fatal(err)
	}
	fail := durable.NewFSForTest(uint64(st.Dev), func() error { return syscall.EIO })
	code := Run(home, strings.NewReader("Subject: x\n\nbody\n"), strings.NewReader("Fa\x00Tb\x00\x00"),
		Options{PID: 1, UID: 5, IDs: rootIDs(), FS: fail})
	if code != ExitWrite {
		t.Fatalf("exit %d, want %d", code, ExitWrite)
	}
	if n := debris(t, q); n != 0 {
		t.Errorf("%d files left", n)
	}
	ok := durable.NewFSForTest(uint64(st.Dev), func() error { return nil })
	code = Run(home, strings.NewReader("Subject: x\n\nbody\n"), strings.NewReader("Fa\x00Tb\x00\x00"),
		Options{PID: 1, UID: 5, IDs: rootIDs(), FS: ok})
	if code != ExitOK || len(queued(t, q)) != 1 {
		t.Errorf("exit %d, %d queued; want 0 and 1", code, len(queued(t, q)))
	}
}

// TestMessageLockedWhileWritten: the message file is locked as being
// written (queuefs.LockWriting) from its creation until qmail-queue is
// done with it, on both ways of making it, so that no sweep takes it for
// debris however old the clock makes it look.
func TestMessageLockedWhileWritten(t *testing.T) {
	home, q := newHome(t)
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := Run(home, pr, strings.NewReader("Fa\x00Tb\x00\x00"), Options{PID: 1, UID: 5, IDs: rootIDs()})
		pr.Close() // a Run that ended early must not leave the writes below waiting
		done <- code
	}()
	// A pipe write returns once Run has read it: the file exists by then.
	if _, err := pw.Write([]byte("Subject: x\n\n")); err != nil {
		t.Fatalf("qmail-queue ended before reading the message: %v (exit %d)", err, <-done)
	}
	files, _ := filepath.Glob(filepath.Join(q.Dir, "mess", "*", "*"))
	if len(files) != 1 {
		t.Fatalf("mess files while writing: %v", files)
	}
	if !queuefs.BeingWritten(files[0]) {
		t.Error("the message file is not locked while qmail-queue writes it")
	}
	pw.Write([]byte("body\n"))
	pw.Close()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("qmail-queue did not finish")
	}
	if queuefs.BeingWritten(files[0]) {
		t.Error("the message file is still locked after qmail-queue finished")
	}

	// qmail's way (pid/ file linked to mess/S/N), where unnamed files
	// cannot be made.
	j := &job{q: q, now: fixed, pid: 77}
	f, code := j.newMessPid()
	if code != ExitOK {
		t.Fatalf("newMessPid: exit %d", code)
	}
	if !queuefs.BeingWritten(j.mess) {
		t.Error("a message file made through pid/ is not locked")
	}
	f.Close()
	if queuefs.BeingWritten(j.mess) {
		t.Error("still locked after close")
	}
}
