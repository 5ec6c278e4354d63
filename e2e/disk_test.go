package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/testutil"
)

// Full-disk tests (hardening.md §3.5, G4). They mount small tmpfs file
// systems, so they need root; each runs in a private mount namespace of
// its own (the test re-runs itself with CLONE_NEWNS), so its mounts
// vanish with it even if it is killed, and nothing else on the machine
// sees them.

// binEnv hands the goqmail binary built by the parent to the re-run.
const binEnv = "GOQMAIL_TEST_BIN"

// inMountNamespace is testutil.InMountNamespace with the goqmail binary
// built once, by the parent, for the child too.
func inMountNamespace(t *testing.T) bool {
	t.Helper()
	if p := os.Getenv(binEnv); p != "" {
		buildOnce.Do(func() { binPath = p })
	}
	return testutil.InMountNamespace(t, func() []string { return []string{binEnv + "=" + binary(t)} })
}

// mountTmpfs mounts a tmpfs of size bytes on dir, its root owned by
// uid:gid with mode, and unmounts it when the test ends.
func mountTmpfs(t *testing.T, dir string, size string, uid, gid int, mode string) {
	t.Helper()
	opts := "size=" + size + ",mode=" + mode
	if uid >= 0 {
		opts += ",uid=" + strconv.Itoa(uid) + ",gid=" + strconv.Itoa(gid)
	}
	run(t, "", "mount", "-t", "tmpfs", "-o", opts, "goqmail-test", dir)
	t.Cleanup(func() {
		if exec.Command("umount", dir).Run() != nil {
			exec.Command("umount", "-l", dir).Run()
		}
	})
}

// fill writes a file at p until the file system is full and returns
// its size.
func fill(t *testing.T, p string) int64 {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	var size int64
	for i := 0; i < 4096; i++ { // at most 256 MB
		n, err := f.Write(chunk)
		size += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			return size
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("%s: file system not full after %d bytes", p, size)
	return 0
}

// files lists every non-directory below dir (relative names).
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// queueOnTmpfs moves the queue of the install at home onto a tmpfs of
// the given size, keeping owners, modes and the trigger FIFO.
func queueOnTmpfs(t *testing.T, home string, size string) {
	t.Helper()
	q := filepath.Join(home, "queue")
	orig := q + ".disk"
	if err := os.Rename(q, orig); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(orig)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if err := os.Mkdir(q, 0o750); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, q, size, int(st.Uid), int(st.Gid), "0750")
	run(t, "", "cp", "-a", orig+"/.", q+"/")
	if fi, err := os.Stat(filepath.Join(q, "lock", "trigger")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("lock/trigger on the tmpfs: %v %v", fi, err)
	}
	nfi, _ := os.Stat(q)
	if nst := nfi.Sys().(*syscall.Stat_t); nst.Uid != st.Uid || nfi.Mode() != fi.Mode() {
		t.Fatalf("queue root on the tmpfs: uid %d mode %v, want %d %v", nst.Uid, nfi.Mode(), st.Uid, fi.Mode())
	}
}

// queueDirect runs bin/qmail-queue as the install's owner and returns
// its exit code.
func queueDirect(t *testing.T, home string, uid, gid int, msg string) int {
	t.Helper()
	return queueDirectTo(t, home, uid, gid, msg, "someone@localhost")
}

// queueDirectTo is queueDirect to the recipients given.
func queueDirectTo(t *testing.T, home string, uid, gid int, msg string, rcpts ...string) int {
	t.Helper()
	envFile := filepath.Join(filepath.Dir(home), "envelope")
	envelope := "Fsomeone@example.org\x00"
	for _, r := range rcpts {
		envelope += "T" + r + "\x00"
	}
	os.WriteFile(envFile, []byte(envelope+"\x00"), 0o644)
	env, err := os.Open(envFile)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	cmd := exec.Command(filepath.Join(home, "bin", "qmail-queue"))
	cmd.Dir = home
	cmd.Stdin = strings.NewReader(msg)
	cmd.Stdout = env
	cmd.Stderr = os.Stderr
	if uid >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
			Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{},
		}}
	}
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// bigBody is a message body of about n bytes in lines of 76 characters.
func bigBody(n int) string {
	line := strings.Repeat("x", 76) + "\n"
	return "Subject: big\n\n" + strings.Repeat(line, n/len(line)+1)
}

// TestQueueOnFullDisk: with the queue's file system full, qmail-queue
// exits 53 and qmail-smtpd answers 451, no half-written file is left in
// the queue and nothing is delivered; once space returns, mail flows.
func TestQueueOnFullDisk(t *testing.T) {
	if !inMountNamespace(t) {
		return
	}
	home, uid, gid := userModeInstall(t)
	queueOnTmpfs(t, home, "1m")
	q := filepath.Join(home, "queue")
	filler := filepath.Join(q, "filler")
	size := fill(t, filler)
	// Leave 64 KB free: room for a pid file and the start of a message.
	if err := os.Truncate(filler, size-64<<10); err != nil {
		t.Fatal(err)
	}
	s := start(t, home, uid, gid)

	if code := queueDirect(t, home, uid, gid, bigBody(300<<10)); code != 53 {
		t.Errorf("qmail-queue on a full disk: exit %d, want 53", code)
	}
	c := dial(t, s.port)
	c.reply()
	c.expect("HELO client.example", "250 localhost")
	c.expect("MAIL FROM:<sender@example.org>", "250 ok")
	c.expect("RCPT TO:<someone@localhost>", "250 ok")
	c.expect("DATA", "354 go ahead")
	c.expect(strings.ReplaceAll(bigBody(300<<10), "\n", "\r\n")+".", "451 qq write error or disk full (#4.3.0)")
	for _, f := range files(t, q) {
		if f != "filler" && !strings.HasPrefix(f, "lock/") {
			t.Errorf("queue holds %s after the failures (debris of a refused message)", f)
		}
	}

	// Space returns: the same big message is accepted and delivered.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	ok := c.send("sender@example.org", "someone@localhost", bigBody(300<<10))
	c.expect("QUIT", "221 localhost")
	n := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	s.expectLog("info msg " + n + ": bytes *")
	s.expectLog("starting delivery 1: msg " + n + " to local someone@localhost")
	s.expectLog("delivery 1: success: did_1+0+0/")
	s.expectLog("end msg " + n)
	_, msg := waitFile(t, filepath.Join(home, "alias", "Maildir", "new"))
	if !strings.HasSuffix(msg, bigBody(300<<10)) || !strings.Contains(ok, " qp ") {
		t.Errorf("delivered %d bytes; reply %q", len(msg), ok)
	}
	// Nothing from the refused attempts was ever delivered.
	for _, l := range s.lines {
		if strings.HasPrefix(l, "new msg ") && l != "new msg "+n {
			t.Errorf("a refused message was queued: %q", s.lines)
		}
	}
}

// TestMaildirOnFullDisk: a delivery into a Maildir whose file system is
// full is deferred with qmail-local's text, never bounced, leaves no
// half message behind, and is delivered exactly once after space
// returns and qmail-send is woken with ALRM.
func TestMaildirOnFullDisk(t *testing.T) {
	if !inMountNamespace(t) {
		return
	}
	home, uid, gid := userModeInstall(t)
	md := filepath.Join(home, "alias", "Maildir")
	mountTmpfs(t, md, "256k", uid, gid, "0700")
	for _, d := range []string{"tmp", "new", "cur"} {
		p := filepath.Join(md, d)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if uid >= 0 {
			os.Chown(p, uid, gid)
		}
	}
	filler := filepath.Join(md, "filler")
	fill(t, filler)
	s := start(t, home, uid, gid)

	c := dial(t, s.port)
	c.reply()
	c.send("sender@example.org", "someone@localhost", "Subject: full\n\nThe disk is full.\n")
	c.expect("QUIT", "221 localhost")
	n := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	s.expectLog("info msg " + n + ": bytes *")
	const deferral = ": deferral: Temporary_error_on_maildir_delivery._(#4.3.0)/"
	s.expectLog("starting delivery 1: msg " + n + " to local someone@localhost")
	s.expectLog("delivery 1" + deferral)

	// Still full: ALRM retries now, and it is deferred again.
	s.send.Process.Signal(syscall.SIGALRM)
	s.expectLog("starting delivery 2: msg " + n + " to local someone@localhost")
	s.expectLog("delivery 2" + deferral)
	for _, d := range []string{"tmp", "new", "cur"} {
		if left := files(t, filepath.Join(md, d)); len(left) != 0 {
			t.Errorf("Maildir/%s holds %q after failed deliveries", d, left)
		}
	}
	queued := files(t, filepath.Join(home, "queue"))
	want := map[string]bool{"mess/": false, "info/": false, "local/": false}
	for _, f := range queued {
		for k := range want {
			if strings.HasPrefix(f, k) && strings.HasSuffix(f, "/"+n) {
				want[k] = true
			}
		}
	}
	for k, found := range want {
		if !found {
			t.Errorf("deferred message has no %s file: %q", k, queued)
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s.send.Process.Signal(syscall.SIGALRM)
	s.expectLog("starting delivery 3: msg " + n + " to local someone@localhost")
	s.expectLog("delivery 3: success: did_1+0+0/")
	s.expectLog("end msg " + n)
	_, msg := waitFile(t, filepath.Join(md, "new"))
	if !strings.HasSuffix(msg, "Subject: full\n\nThe disk is full.\n") {
		t.Errorf("delivered:\n%s", msg)
	}
	time.Sleep(200 * time.Millisecond) // a second copy would show now
	if got := files(t, md); len(got) != 1 || !strings.HasPrefix(got[0], "new/") {
		t.Errorf("Maildir holds %q, want one message in new/", got)
	}
	for _, l := range s.lines {
		if strings.Contains(l, "failure") || strings.HasPrefix(l, "bounce msg") {
			t.Errorf("full Maildir caused %q", l)
		}
	}
}

// TestPreprocessOnFullDisk: qmail-send cannot write info/local files
// for a queued message because the disk filled after qmail-queue
// committed it: it logs qmail's warning, keeps todo/N, and processes the
// message when space returns and the next injection pulls the trigger.
// That message has two recipients. One to a single recipient, queued
// beside it, is delivered straight from todo/ (qmail-send's direct
// delivery), which writes nothing to the queue: it is delivered while the
// queue's disk is still full.
func TestPreprocessOnFullDisk(t *testing.T) {
	if !inMountNamespace(t) {
		return
	}
	home, uid, gid := userModeInstall(t)
	queueOnTmpfs(t, home, "1m")
	q := filepath.Join(home, "queue")
	if code := queueDirect(t, home, uid, gid, "Subject: zeroth\n\nto one recipient\n"); code != 0 {
		t.Fatalf("qmail-queue exit %d", code)
	}
	todo, _ := os.ReadDir(filepath.Join(q, "todo"))
	if len(todo) != 1 {
		t.Fatalf("todo holds %d files", len(todo))
	}
	n0 := todo[0].Name()
	if code := queueDirectTo(t, home, uid, gid, "Subject: first\n\nqueued before the disk filled\n",
		"someone@localhost", "other@localhost"); code != 0 {
		t.Fatalf("qmail-queue exit %d", code)
	}
	todo, _ = os.ReadDir(filepath.Join(q, "todo"))
	if len(todo) != 2 {
		t.Fatalf("todo holds %d files", len(todo))
	}
	n1 := todo[0].Name()
	if n1 == n0 {
		n1 = todo[1].Name()
	}
	filler := filepath.Join(q, "filler")
	fill(t, filler)
	s := start(t, home, uid, gid)
	trouble := regexp.MustCompile(`^warning: trouble (writing to|fsyncing) info/\d+/` + n1 + `; will try again later$`)
	s.collect(trouble, "new msg "+n1, "warning: trouble * info/*/"+n1+"; will try again later", "end msg "+n0)
	if _, err := os.Stat(filepath.Join(q, "todo", n1)); err != nil {
		t.Fatalf("todo/%s gone after a failed preprocessing: %v", n1, err)
	}
	for _, f := range files(t, q) {
		if strings.HasPrefix(f, "local/") || strings.HasPrefix(f, "remote/") {
			t.Errorf("%s exists for a message that was not preprocessed", f)
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.port)
	c.reply()
	c.send("sender@example.org", "someone@localhost", "Subject: second\n\nafter space returned\n")
	c.expect("QUIT", "221 localhost")
	lines := s.collect(trouble, "end msg "+n1)
	md := filepath.Join(home, "alias", "Maildir", "new")
	waitCount(t, md, 4)
	time.Sleep(200 * time.Millisecond)
	if got := files(t, md); len(got) != 4 {
		t.Errorf("Maildir/new holds %d messages, want 4 (two of the first); log %q", len(got), lines)
	}
	if left, _ := os.ReadDir(filepath.Join(q, "todo")); len(left) != 0 {
		t.Errorf("todo/ still holds %d files", len(left))
	}
}
