package send

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/clean"
	"goqmail/internal/ids"
	"goqmail/internal/prog"
	"goqmail/internal/queue"
	"goqmail/internal/queuefs"
	"goqmail/internal/spawnproto"
)

const sigpipeHelperEnv = "GOQMAIL_SEND_SIGPIPE_HOME"

// TestLostSpawnerOnDescriptor1 runs qmail-send as its own process, as
// qmail-start does, with commands for qmail-lspawn on descriptor 1 and
// nobody left to read them (qmail-lspawn was killed). qmail 1.03 ignores
// SIGPIPE, so the write fails and qmail-send logs "alert: oh no! lost
// spawn connection! dying..." and exits 111. A Go program that does not
// ask for SIGPIPE dies of it silently on a write to descriptor 1 or 2.
func TestLostSpawnerOnDescriptor1(t *testing.T) {
	if home := os.Getenv(sigpipeHelperEnv); home != "" {
		files := make([]*os.File, 7)
		for i := range files {
			files[i] = os.NewFile(uintptr(i), fmt.Sprintf("fd%d", i))
		}
		os.Exit(Run(&prog.Context{Args: []string{"qmail-send"}, Home: home, Stderr: io.Discard,
			Env: []string{"PATH=/usr/bin:/bin"}, Files: files}, Options{}))
	}
	home := t.TempDir()
	if err := queuefs.MakeTree(filepath.Join(home, "queue")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(home, "control"), 0o755)
	os.WriteFile(filepath.Join(home, "control", "me"), []byte("example.com\n"), 0o644)
	fixed := &ids.IDs{UserMode: true, Qmailq: os.Getuid()}
	if code := queue.Run(home, strings.NewReader("Subject: test\n\nHello.\n"),
		strings.NewReader("Fa@b\x00Tc@example.com\x00\x00"), queue.Options{PID: 4242, UID: 5, IDs: fixed}); code != 0 {
		t.Fatalf("qmail-queue exit %d", code)
	}

	pipe := func() (*os.File, *os.File) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		return r, w
	}
	logR, logW := pipe()
	lcR, lcW := pipe() // send -> lspawn: nobody reads it
	lrR, lrW := pipe() // lspawn -> send: stays open, so no end of file
	rcR, rcW := pipe()
	rrR, rrW := pipe()
	ccR, ccW := pipe()
	crR, crW := pipe()
	lcR.Close()
	defer func() {
		for _, f := range []*os.File{logR, lrW, rcR, rrW} {
			f.Close()
		}
	}()
	spawnproto.WriteLimit(lrW, spawnproto.Limit)
	spawnproto.WriteLimit(rrW, spawnproto.Limit)
	go func() {
		clean.Main(&prog.Context{Args: []string{"qmail-clean"}, Home: home, Stdin: ccR, Stdout: crW, Stderr: io.Discard})
		crW.Close()
	}()

	cmd := exec.Command(os.Args[0], "-test.run=^TestLostSpawnerOnDescriptor1$")
	cmd.Env = append(os.Environ(), sigpipeHelperEnv+"="+home)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = logW, lcW, lrR
	cmd.ExtraFiles = []*os.File{rcW, rrR, ccW, crR}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*os.File{logW, lcW, lrR, rcW, rrR, ccW, crR} {
		f.Close()
	}
	timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	var lines []string
	sc := bufio.NewScanner(logR)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("qmail-send died of signal %v; log %q", ws.Signal(), lines)
		}
	}
	if code := cmd.ProcessState.ExitCode(); code != 111 {
		t.Errorf("exit code %d, want 111", code)
	}
	want := "alert: oh no! lost spawn connection! dying..."
	found := false
	for _, l := range lines {
		found = found || l == want
	}
	if !found {
		t.Errorf("log %q lacks %q", lines, want)
	}
}
