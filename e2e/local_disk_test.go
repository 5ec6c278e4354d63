package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMboxOnFullDisk: an mbox delivery on a full file system is deferred
// with qmail-local's text naming the cause, never bounced; the mbox keeps
// exactly its old contents (no half message), and after space returns
// the message is appended once, whole.
func TestMboxOnFullDisk(t *testing.T) {
	if !inMountNamespace(t) {
		return
	}
	home, uid, gid := userModeInstall(t)
	ah := filepath.Join(home, "alias")
	mail := filepath.Join(ah, "mail")
	if err := os.Mkdir(mail, 0o700); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, mail, "256k", uid, gid, "0700")
	const old = "From old@example.org Thu Jan  1 00:00:00 1970\nSubject: old\n\nalready here\n\n"
	mbox := filepath.Join(mail, "mbox")
	if err := os.WriteFile(mbox, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	q := filepath.Join(ah, ".qmail-someone")
	if err := os.WriteFile(q, []byte("./mail/mbox\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		os.Chown(mbox, uid, gid)
		os.Chown(q, uid, gid)
	}
	filler := filepath.Join(mail, "filler")
	fill(t, filler)
	s := start(t, home, uid, gid)

	body := bigBody(64 << 10)
	c := dial(t, s.port)
	c.reply()
	c.send("sender@example.org", "someone@localhost", body)
	c.expect("QUIT", "221 localhost")
	n := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	s.expectLog("info msg " + n + ": bytes *")
	const deferral = ": deferral: Unable_to_write_./mail/mbox:_out_of_disk_space._(#4.3.0)/"
	s.expectLog("starting delivery 1: msg " + n + " to local someone@localhost")
	s.expectLog("delivery 1" + deferral)
	if got, _ := os.ReadFile(mbox); string(got) != old {
		t.Errorf("mbox after the failed delivery holds %d bytes, want its old %d:\n%.300s", len(got), len(old), got)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s.send.Process.Signal(syscall.SIGALRM)
	s.expectLog("starting delivery 2: msg " + n + " to local someone@localhost")
	s.expectLog("delivery 2: success: did_1+0+0/")
	s.expectLog("end msg " + n)
	time.Sleep(200 * time.Millisecond)
	got, _ := os.ReadFile(mbox)
	rest, ok := strings.CutPrefix(string(got), old+"From sender@example.org ")
	if !ok || !strings.HasSuffix(rest, "\n"+body+"\n") || strings.Count(rest, "\nFrom ") != 0 {
		t.Errorf("mbox after space returned (%d bytes) is not the old contents and one new message:\n%.400s", len(got), got)
	}
	for _, l := range s.lines {
		if strings.Contains(l, "failure") || strings.HasPrefix(l, "bounce msg") {
			t.Errorf("full mbox caused %q", l)
		}
	}
}
