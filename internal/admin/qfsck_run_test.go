package admin

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/clean"
	"goqmail/internal/prog"
	"goqmail/internal/queuefs"
	"goqmail/internal/send"
	"goqmail/internal/spawnproto"
	"goqmail/internal/testutil"
)

func TestQfsckArguments(t *testing.T) {
	x := newFx(t)
	for _, args := range [][]string{{"-x"}, {"-f", "-f"}, {"f"}, {""}} {
		out, errs, code := x.run(args...)
		if code != 100 || out != "" || errs != "qmail-qfsck: usage: qmail-qfsck [-f]\n" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
}

func TestQfsckNoQueue(t *testing.T) {
	x := newFx(t)
	os.RemoveAll(x.q.Dir)
	for _, args := range [][]string{nil, {"-f"}} {
		out, errs, code := x.run(args...)
		want := "qmail-qfsck: fatal: unable to read " + x.q.Dir + ": file does not exist\n"
		if code != 111 || out != "" || errs != want {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	if x.exists("") {
		t.Error("queue created")
	}
}

// -f refuses to touch the queue while qmail-send holds its lock; a plain
// check still runs.
func TestQfsckRefusesWhileSendRuns(t *testing.T) {
	x := newFx(t)
	x.write("pid/1.2.3", "")
	x.age(x.path("pid/1.2.3"), 40*time.Hour)
	m, err := os.OpenFile(x.path("lock/sendmutex"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := syscall.Flock(int(m.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	out, errs, code := x.run("-f")
	if code != 111 || out != "" ||
		errs != "qmail-qfsck: fatal: qmail-send is running (it holds lock/sendmutex); stop it before repairing the queue\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if !x.exists("pid/1.2.3") {
		t.Error("-f changed the queue while qmail-send ran")
	}
	if _, _, code := x.run(); code != 1 {
		t.Errorf("check: exit %d", code)
	}
	// Once the lock is free, -f runs (and releases it when done).
	m.Close()
	if _, errs, code := x.run("-f"); code != 1 || errs != "" {
		t.Errorf("-f after unlock: exit %d, %q", code, errs)
	}
	m2, err := os.OpenFile(x.path("lock/sendmutex"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if err := syscall.Flock(int(m2.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Errorf("qmail-qfsck kept the lock: %v", err)
	}
}

// A file qmail-send could not read is a problem nobody can repair here:
// exit 111 with and without -f.
func TestQfsckUnreadable(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	x := newFx(t)
	n := x.mess("Received: x\n\nbody\n")
	x.queued(n, env1)
	os.Chmod(x.q.Todo(n), 0)
	line := fmt.Sprintf("qmail-qfsck: todo/%d: unreadable (access denied): qmail-send cannot read it either; -f cannot repair this\n", n)
	for _, args := range [][]string{nil, {"-f"}} {
		out, errs, code := x.run(args...)
		if code != 111 || out != line || errs != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	if !x.exists(fmt.Sprintf("todo/%d", n)) || !x.exists("mess/"+queuefs.Sub(n)) {
		t.Error("message moved")
	}
}

// After -f, qmail-send takes the queue as it is: every message left
// is delivered and finished, and qmail-send logs no warning or alert.
func TestQfsckLeavesQueueSendAccepts(t *testing.T) {
	x := newFx(t)
	os.MkdirAll(filepath.Join(x.home, "control"), 0o755)
	os.WriteFile(filepath.Join(x.home, "control", "me"), []byte("example.com\n"), 0o644)

	x.inject("joe@example.org", "bob@example.com")
	// A preprocessed message with one recipient done, one to do.
	s5 := x.mess("Received: x\n\nbody\n")
	x.write("info/"+queuefs.Sub(s5), "Fjoe@example.org\x00")
	x.write("local/"+queuefs.Sub(s5), "Dann@example.com\x00Tbob@example.com\x00")
	// Delivered but not cleaned up.
	done := x.mess("Received: y\n\nbody\n")
	x.write("info/"+queuefs.Sub(done), "F\x00")
	// A queued message whose text sits in the wrong split folder.
	moved := x.mess("Received: z\n\nbody\n")
	x.queued(moved, env1)
	os.Rename(x.q.Mess(moved), x.path(fmt.Sprintf("mess/%d/%d", (moved+1)%23, moved)))
	// Things qmail-send would choke on.
	bad := x.mess("Received: w\n\nbody\n")
	x.queued(bad, "u5\x00p1\x00Fa\x00Xb\x00")
	lost := x.mess("Received: v\n\nbody\n")
	x.queued(lost, env1)
	os.Remove(x.q.Mess(lost))
	os.Remove(x.path("lock/trigger"))
	x.write("lock/trigger", "")

	if _, errs, code := x.run("-f"); code != 1 || errs != "" {
		t.Fatalf("-f: exit %d, %q", code, errs)
	}
	var finished []uint64
	for _, e := range mustReadDir(t, x.path("todo")) {
		n, _ := queuefs.ParseNumber(e)
		finished = append(finished, n)
	}
	finished = append(finished, s5, done)
	if len(finished) != 4 {
		t.Fatalf("todo holds %d messages, want 2", len(finished)-2)
	}

	log := runSend(t, x.home, func(l string) bool {
		for _, n := range finished {
			if !strings.Contains(l, fmt.Sprintf("end msg %d\n", n)) {
				return false
			}
		}
		return true
	})
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(l, "warning:") || strings.HasPrefix(l, "alert:") {
			t.Errorf("qmail-send: %s", l)
		}
	}
	if out, errs, code := x.run(); code != 0 || out != "" || errs != "" {
		t.Errorf("check after qmail-send: exit %d, %q, %q", code, out, errs)
	}
	if !x.exists("quarantine/mess/" + queuefs.Sub(bad)) {
		t.Error("quarantine touched")
	}
}

func mustReadDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// runSend runs qmail-send in-process on home, with fake spawners that
// report every delivery a success and a real qmail-clean, until the
// log so far satisfies enough (or 10 seconds pass); it returns the log.
func runSend(t *testing.T, home string, enough func(string) bool) string {
	t.Helper()
	pipe := func() (*os.File, *os.File) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		return r, w
	}
	logR, logW := pipe()
	lcR, lcW := pipe()
	lrR, lrW := pipe()
	rcR, rcW := pipe()
	rrR, rrW := pipe()
	ccR, ccW := pipe()
	crR, crW := pipe()
	spawner := func(cmdR, repW *os.File) {
		defer repW.Close()
		spawnproto.WriteLimit(repW, 10)
		r := bufio.NewReader(cmdR)
		for {
			c, err := spawnproto.ReadCommand(r)
			if err != nil {
				return
			}
			for _, slot := range c.Slots() {
				repW.Write(spawnproto.AppendReport(nil, spawnproto.Report{Slot: slot, Status: 'K', Text: "did 1+0+0\n"}))
			}
		}
	}
	go spawner(lcR, lrW)
	go spawner(rcR, rrW)
	go func() {
		clean.Main(&prog.Context{Args: []string{"qmail-clean"}, Home: home, Stdin: ccR, Stdout: crW, Stderr: os.Stderr})
		crW.Close()
	}()
	sig := make(chan os.Signal, 1)
	exited := make(chan int, 1)
	go func() {
		ctx := &prog.Context{Args: []string{"qmail-send"}, Home: home, Stderr: os.Stderr,
			Env:   []string{"PATH=/usr/bin:/bin"},
			Files: []*os.File{logW, lcW, lrR, rcW, rrR, ccW, crR}}
		code := send.Run(ctx, send.Options{Signals: sig})
		logW.Close()
		lcW.Close()
		rcW.Close()
		ccW.Close()
		exited <- code
	}()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(logR)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log strings.Builder
	deadline := time.After(10 * time.Second)
wait:
	for !enough(log.String()) {
		select {
		case l, ok := <-lines:
			if !ok {
				break wait
			}
			log.WriteString(l + "\n")
		case <-deadline:
			t.Errorf("qmail-send did not finish; log:\n%s", log.String())
			break wait
		}
	}
	sig <- syscall.SIGTERM
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("qmail-send did not exit after TERM")
	}
	for l := range lines {
		log.WriteString(l + "\n")
	}
	return log.String()
}
