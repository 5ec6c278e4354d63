package send

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/clean"
	"goqmail/internal/durable"
	"goqmail/internal/ids"
	"goqmail/internal/prog"
	"goqmail/internal/queue"
	"goqmail/internal/queuefs"
	"goqmail/internal/spawnproto"
)

// fakeSpawner stands in for qmail-lspawn or qmail-rspawn: it answers each
// command with what answer says for the recipient.
type fakeSpawner struct {
	mu       sync.Mutex
	commands []spawnproto.Command
	batches  []int // for each command, the size of the batch it came in
}

func (f *fakeSpawner) run(cmdR, repW *os.File, answer func(spawnproto.Command) (byte, string)) {
	defer repW.Close()
	spawnproto.WriteLimit(repW, spawnproto.Limit)
	r := bufio.NewReader(cmdR)
	for {
		c, err := spawnproto.ReadCommand(r)
		if err != nil {
			return
		}
		// A batch is recorded and answered recipient by recipient, as
		// qmail-rspawn reports each slot.
		slots, rcpts := c.Slots(), c.Recipients()
		for i := range slots {
			one := spawnproto.Command{Slot: slots[i], Message: c.Message, Sender: c.Sender, Recipient: rcpts[i]}
			f.mu.Lock()
			f.commands = append(f.commands, one)
			f.batches = append(f.batches, len(slots))
			f.mu.Unlock()
			st, text := answer(one)
			repW.Write(spawnproto.AppendReport(nil, spawnproto.Report{Slot: slots[i], Status: st, Text: text}))
		}
	}
}

type harness struct {
	t      *testing.T
	home   string
	q      queuefs.Queue
	log    chan string
	sig    chan os.Signal
	done   chan int
	local  *fakeSpawner
	remote *fakeSpawner
	qqDir  string
	all    []string
	fs     *durable.FS // Options.FS, set by a pre hook
	// directWait is Options.DirectWait, set by a pre hook.
	directWait time.Duration
	// refuseClean, if set, answers '!' for the qmail-clean requests it
	// returns true for, instead of qmail-clean (cleanProxy); refused
	// counts those answers.
	refuseClean atomic.Pointer[func(req string) bool]
	refused     atomic.Int32
}

// cleanProxy passes qmail-send's requests to qmail-clean one at a time
// and its answers back, except that it answers '!' itself to those
// h.refuseClean picks: qmail-clean failing to remove a file.
func (h *harness) cleanProxy(fromSend *os.File, toSend *os.File, toClean *os.File, fromClean *os.File) {
	defer toSend.Close()
	defer toClean.Close()
	in, out := bufio.NewReader(fromSend), bufio.NewReader(fromClean)
	for {
		req, err := in.ReadString(0)
		if err != nil {
			return
		}
		if f := h.refuseClean.Load(); f != nil && (*f)(strings.TrimSuffix(req, "\x00")) {
			h.refused.Add(1)
			toSend.Write([]byte{'!'})
			continue
		}
		if _, err := toClean.Write([]byte(req)); err != nil {
			return
		}
		b, err := out.ReadByte()
		if err != nil {
			return
		}
		toSend.Write([]byte{b})
	}
}

// start runs qmail-send with fake spawners and a real qmail-clean.
func start(t *testing.T, controls map[string]string, answer func(spawnproto.Command) (byte, string), now func() time.Time) *harness {
	t.Helper()
	return startWith(t, controls, answer, now, nil)
}

// startWith is start with a hook that runs on the new home before
// qmail-send starts.
func startWith(t *testing.T, controls map[string]string, answer func(spawnproto.Command) (byte, string), now func() time.Time, pre func(h *harness)) *harness {
	t.Helper()
	home := t.TempDir()
	if err := queuefs.MakeTree(filepath.Join(home, "queue")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(home, "control"), 0o755)
	for k, v := range controls {
		os.WriteFile(filepath.Join(home, "control", k), []byte(v), 0o644)
	}
	return launch(t, home, answer, now, pre)
}

// launch runs qmail-send with fake spawners and a real qmail-clean on a
// home whose queue and control files exist; pre runs before qmail-send
// starts.
func launch(t *testing.T, home string, answer func(spawnproto.Command) (byte, string), now func() time.Time, pre func(h *harness)) *harness {
	t.Helper()
	h := &harness{t: t, home: home, q: queuefs.New(home), log: make(chan string, 1000),
		sig: make(chan os.Signal, 4), done: make(chan int, 1),
		local: &fakeSpawner{}, remote: &fakeSpawner{}}
	// QMAILQUEUE for bounces: a script that records message and envelope.
	h.qqDir = t.TempDir()
	script := filepath.Join(h.qqDir, "qq")
	os.WriteFile(script, []byte("#!/bin/sh\ncat > \""+h.qqDir+"/msg.$$\" && cat <&1 > \""+h.qqDir+"/env.$$\"\n"), 0o755)

	pipe := func() (*os.File, *os.File) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		return r, w
	}
	logR, logW := pipe()
	lcR, lcW := pipe() // send -> lspawn
	lrR, lrW := pipe() // lspawn -> send
	rcR, rcW := pipe()
	rrR, rrW := pipe()
	ccR, ccW := pipe() // send -> proxy
	crR, crW := pipe() // proxy -> send
	pcR, pcW := pipe() // proxy -> clean
	prR, prW := pipe() // clean -> proxy
	go h.local.run(lcR, lrW, answer)
	go h.remote.run(rcR, rrW, answer)
	go h.cleanProxy(ccR, crW, pcW, prR)
	go func() {
		clean.Main(&prog.Context{Args: []string{"qmail-clean"}, Home: home, Stdin: pcR, Stdout: prW, Stderr: os.Stderr})
		prW.Close()
	}()
	go func() {
		sc := bufio.NewScanner(logR)
		for sc.Scan() {
			h.log <- sc.Text()
		}
		close(h.log)
	}()
	if pre != nil {
		pre(h)
	}
	ctx := &prog.Context{
		Args: []string{"qmail-send"}, Home: home, Stderr: os.Stderr,
		Env:   []string{"QMAILQUEUE=" + script, "PATH=/usr/bin:/bin"},
		Files: []*os.File{logW, lcW, lrR, rcW, rrR, ccW, crR},
	}
	go func() {
		code := Run(ctx, Options{Signals: h.sig, Now: now, FS: h.fs, DirectWait: h.directWait})
		logW.Close()
		lcW.Close()
		rcW.Close()
		ccW.Close()
		h.done <- code
	}()
	t.Cleanup(func() { h.stop() })
	return h
}

func (h *harness) stop() int {
	select {
	case h.sig <- syscall.SIGTERM:
	default:
	}
	select {
	case code := <-h.done:
		h.done <- code
		return code
	case <-time.After(10 * time.Second):
		h.t.Fatal("qmail-send did not exit after TERM")
		return -1
	}
}

// inject queues a message with qmail-queue, in-process.
func (h *harness) inject(sender string, rcpts ...string) uint64 {
	h.t.Helper()
	env := "F" + sender + "\x00"
	for _, r := range rcpts {
		env += "T" + r + "\x00"
	}
	env += "\x00"
	var n uint64
	fixed := &ids.IDs{UserMode: true, Qmailq: os.Getuid()}
	if code := queue.Run(h.home, strings.NewReader("Subject: test\n\nHello.\n"), strings.NewReader(env),
		queue.Options{PID: 4242, UID: 5, IDs: fixed, Now: func() time.Time { return time.Unix(0, 0) }, Number: &n}); code != 0 {
		h.t.Fatalf("qmail-queue exit %d", code)
	}
	return n
}

// expect reads log lines until one equals want (status lines skipped),
// failing if another non-status line comes first or time runs out.
func (h *harness) expect(want string) {
	h.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-h.log:
			if !ok {
				h.t.Fatalf("log ended waiting for %q; saw %q", want, h.all)
			}
			h.all = append(h.all, line)
			if strings.HasPrefix(line, "status: ") {
				continue
			}
			if line != want {
				h.t.Fatalf("log line %q, want %q (so far %q)", line, want, h.all)
			}
			return
		case <-deadline:
			h.t.Fatalf("timed out waiting for %q; saw %q", want, h.all)
		}
	}
}

// injectedSize is the size of mess/N for a message queued by inject: its
// Received line and body are fixed. Taken from the file instead, it raced
// with a direct delivery that had already finished and removed it.
var injectedSize = uint64(len("Received: (qmail 4242 invoked by uid 5); 1 Jan 1970 00:00:00 -0000\n" +
	"Subject: test\n\nHello.\n"))

func messSize(t *testing.T, q queuefs.Queue, n uint64) int64 {
	fi, err := os.Stat(q.Mess(n))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func itoaT(n uint64) string { return itoa(n) }

func TestLocalSuccessLogLines(t *testing.T) {
	h := start(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) {
		return 'K', "did 1+0+0\n"
	}, nil)
	n := h.inject("joe@example.org", "bob@example.com")
	h.expect("new msg " + itoaT(n))
	h.expect("info msg " + itoaT(n) + ": bytes " + itoa(injectedSize) + " from <joe@example.org> qp 4242 uid 5")
	h.expect("starting delivery 1: msg " + itoaT(n) + " to local bob@example.com")
	h.expect("delivery 1: success: did_1+0+0/")
	h.expect("end msg " + itoaT(n))
	if code := h.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
	for _, p := range []string{h.q.Info(n), h.q.Local(n), h.q.Mess(n), h.q.Todo(n), h.q.Intd(n)} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s still exists", p)
		}
	}
	if len(h.local.commands) != 1 || h.local.commands[0].Message != queuefs.Sub(n) ||
		h.local.commands[0].Sender != "joe@example.org" || h.local.commands[0].Recipient != "bob@example.com" {
		t.Errorf("commands %+v", h.local.commands)
	}
}

func TestRemoteAndLocalSplit(t *testing.T) {
	h := start(t, map[string]string{"me": "example.com\n", "locals": "example.com\nlocalhost\n"},
		func(c spawnproto.Command) (byte, string) { return 'K', "ok" }, nil)
	n := h.inject("", "a@EXAMPLE.com", "b@elsewhere.test")
	h.expect("new msg " + itoaT(n))
	h.expect("info msg " + itoaT(n) + ": bytes " + itoa(injectedSize) + " from <> qp 4242 uid 5")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		h.local.mu.Lock()
		l := len(h.local.commands)
		h.local.mu.Unlock()
		h.remote.mu.Lock()
		r := len(h.remote.commands)
		h.remote.mu.Unlock()
		if l == 1 && r == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if h.local.commands[0].Recipient != "a@EXAMPLE.com" || h.remote.commands[0].Recipient != "b@elsewhere.test" {
		t.Errorf("local %+v remote %+v", h.local.commands, h.remote.commands)
	}
}

func TestPermanentFailureBounces(t *testing.T) {
	h := start(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) {
		return 'D', "Sorry, no mailbox here by that name. (#5.1.1)\n"
	}, nil)
	n := h.inject("joe@example.org", "nobody@example.com")
	h.expect("new msg " + itoaT(n))
	h.all = nil
	h.expect("info msg " + itoaT(n) + ": bytes " + itoa(injectedSize) + " from <joe@example.org> qp 4242 uid 5")
	h.expect("starting delivery 1: msg " + itoaT(n) + " to local nobody@example.com")
	h.expect("delivery 1: failure: Sorry,_no_mailbox_here_by_that_name._(#5.1.1)/")
	// The bounce's qp is the fake qmail-queue's pid; check the prefix.
	line := h.next()
	if !strings.HasPrefix(line, "bounce msg "+itoaT(n)+" qp ") {
		t.Fatalf("got %q, want a bounce line", line)
	}
	h.expect("end msg " + itoaT(n))
	msgs, _ := filepath.Glob(filepath.Join(h.qqDir, "msg.*"))
	envs, _ := filepath.Glob(filepath.Join(h.qqDir, "env.*"))
	if len(msgs) != 1 || len(envs) != 1 {
		t.Fatalf("bounce files %v %v", msgs, envs)
	}
	body, _ := os.ReadFile(msgs[0])
	env, _ := os.ReadFile(envs[0])
	if string(env) != "F\x00Tjoe@example.org\x00\x00" {
		t.Errorf("bounce envelope %q", env)
	}
	b := string(body)
	i := strings.Index(b, "\n")
	if !strings.HasPrefix(b, "Date: ") {
		t.Fatalf("bounce starts %q", b)
	}
	wantRest := "From: MAILER-DAEMON@example.com\nTo: joe@example.org\nSubject: failure notice\n\n" +
		"Hi. This is the qmail-send program at example.com.\n" +
		"I'm afraid I wasn't able to deliver your message to the following addresses.\n" +
		"This is a permanent error; I've given up. Sorry it didn't work out.\n\n" +
		"<nobody@example.com>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n" +
		"--- Below this line is a copy of the message.\n\n" +
		"Return-Path: <joe@example.org>\n" +
		"Received: (qmail 4242 invoked by uid 5); 1 Jan 1970 00:00:00 -0000\nSubject: test\n\nHello.\n"
	if b[i+1:] != wantRest {
		t.Errorf("bounce body:\n%s\nwant:\n%s", b[i+1:], wantRest)
	}
	if _, err := os.Stat(h.q.Bounce(n)); err == nil {
		t.Error("bounce/N left behind")
	}
}

func (h *harness) next() string {
	h.t.Helper()
	for {
		select {
		case line := <-h.log:
			h.all = append(h.all, line)
			if strings.HasPrefix(line, "status: ") {
				continue
			}
			return line
		case <-time.After(10 * time.Second):
			h.t.Fatalf("timed out; saw %q", h.all)
		}
	}
}

func TestDoubleAndTripleBounce(t *testing.T) {
	fail := func(c spawnproto.Command) (byte, string) { return 'D', "no." }
	h := start(t, map[string]string{"me": "example.com\n", "doublebounceto": "admin\n"}, fail, nil)
	n := h.inject("", "x@example.com")
	h.expect("new msg " + itoaT(n))
	h.next()
	h.next()
	h.expect("delivery 1: failure: no.")
	if l := h.next(); !strings.HasPrefix(l, "bounce msg ") {
		t.Fatalf("got %q", l)
	}
	envs, _ := filepath.Glob(filepath.Join(h.qqDir, "env.*"))
	env, _ := os.ReadFile(envs[0])
	if string(env) != "F#@[]\x00Tadmin@example.com\x00\x00" {
		t.Errorf("double bounce envelope %q", env)
	}
	msgs, _ := filepath.Glob(filepath.Join(h.qqDir, "msg.*"))
	body, _ := os.ReadFile(msgs[0])
	if !strings.Contains(string(body), "Hi. This is the qmail-send program at example.com.\n"+
		"I tried to deliver a bounce message to this address, but the bounce bounced!\n\n<x@example.com>:\nno.\n\n"+
		"--- Below this line is the original bounce.\n\nReturn-Path: <>\n") {
		t.Errorf("double bounce body:\n%s", body)
	}

	m := h.inject("#@[]", "y@example.com")
	h.expect("end msg " + itoaT(n))
	h.expect("new msg " + itoaT(m))
	h.next()
	h.next()
	h.expect("delivery 2: failure: no.")
	h.expect("triple bounce: discarding bounce/" + itoaT(m))
	h.expect("end msg " + itoaT(m))
}

func TestDeferralKeepsScheduleAcrossRestart(t *testing.T) {
	h := start(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) {
		return 'Z', "Mailbox busy. (#4.2.1)\n"
	}, nil)
	n := h.inject("joe@example.org", "bob@example.com", "amy@example.com")
	h.expect("new msg " + itoaT(n))
	h.next()
	h.next()
	h.next()
	h.next()
	h.next()
	if code := h.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	info, err := os.Stat(h.q.Info(n))
	if err != nil {
		t.Fatal(err)
	}
	lf, err := os.Stat(h.q.Local(n))
	if err != nil {
		t.Fatal(err)
	}
	// First retry of a local delivery: birth + (0+10)^2 seconds.
	want := info.ModTime().Add(100 * time.Second)
	if d := lf.ModTime().Sub(want); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("local file mtime %v, want about %v", lf.ModTime(), want)
	}
	data, _ := os.ReadFile(h.q.Local(n))
	if string(data) != "Tbob@example.com\x00Tamy@example.com\x00" {
		t.Errorf("local file %q", data)
	}
}

func TestDyingMessageBouncesDeferral(t *testing.T) {
	later := func() time.Time { return time.Now().Add(1000 * time.Second) }
	h := start(t, map[string]string{"me": "example.com\n", "queuelifetime": "10\n"}, func(c spawnproto.Command) (byte, string) {
		return 'Z', "Mailbox busy. (#4.2.1)\n"
	}, later)
	// Two recipients: preprocessed, its birth the info file's mtime (a
	// message to one is delivered direct, its birth the clock's now).
	n := h.inject("joe@example.org", "bob@example.com", "amy@example.com")
	h.expect("new msg " + itoaT(n))
	h.next()
	h.next()
	h.next()
	h.expect("delivery 1: failure: Mailbox_busy._(#4.2.1)/I'm_not_going_to_try_again;_this_message_has_been_in_the_queue_too_long./")
	h.expect("delivery 2: failure: Mailbox_busy._(#4.2.1)/I'm_not_going_to_try_again;_this_message_has_been_in_the_queue_too_long./")
	if l := h.next(); !strings.HasPrefix(l, "bounce msg ") {
		t.Fatalf("got %q", l)
	}
	h.expect("end msg " + itoaT(n))
}

func TestMarkDoneSurvivesPartialSuccess(t *testing.T) {
	h := start(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) {
		if strings.HasPrefix(c.Recipient, "ok") {
			return 'K', "did 1+0+0\n"
		}
		return 'Z', "later"
	}, nil)
	n := h.inject("joe@example.org", "ok@example.com", "no@example.com")
	h.expect("new msg " + itoaT(n))
	for i := 0; i < 5; i++ {
		h.next()
	}
	h.stop()
	data, _ := os.ReadFile(h.q.Local(n))
	if string(data) != "Dok@example.com\x00Tno@example.com\x00" {
		t.Errorf("local file %q", data)
	}
}

func TestSecondSendRefusesToStart(t *testing.T) {
	h := start(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) { return 'K', "" }, nil)
	n := h.inject("a@b", "c@example.com")
	h.expect("new msg " + itoaT(n)) // the first one is running
	// The lock must survive garbage collection (the file holding it was
	// once only a local variable, and the collector closed it).
	runtime.GC()
	runtime.GC()
	logR, logW, _ := os.Pipe()
	defer logR.Close()
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	ctx := &prog.Context{Args: []string{"qmail-send"}, Home: h.home, Stderr: os.Stderr,
		Files: []*os.File{logW, null, null, null, null, null, null}}
	code := Run(ctx, Options{Signals: make(chan os.Signal)})
	logW.Close()
	out, _ := bufio.NewReader(logR).ReadString('\n')
	if code != 111 || out != "alert: cannot start: qmail-send is already running\n" {
		t.Errorf("exit %d, log %q", code, out)
	}
}

func TestMissingControlsRefuseToStart(t *testing.T) {
	home := t.TempDir()
	queuefs.MakeTree(filepath.Join(home, "queue"))
	logR, logW, _ := os.Pipe()
	defer logR.Close()
	ctx := &prog.Context{Args: []string{"qmail-send"}, Home: home, Stderr: os.Stderr,
		Files: []*os.File{logW, nil, nil, nil, nil, nil, nil}}
	code := Run(ctx, Options{Signals: make(chan os.Signal)})
	logW.Close()
	out, _ := bufio.NewReader(logR).ReadString('\n')
	if code != 111 || !strings.HasPrefix(out, "alert: cannot start: unable to read controls: control/locals") {
		t.Errorf("exit %d, log %q", code, out)
	}
}

func TestMalformedControlRefusesToStart(t *testing.T) {
	for _, c := range []struct{ file, content, want string }{
		{"concurrencylocal", "abc\n", "alert: cannot start: unable to read controls: control/concurrencylocal line 1: not a decimal number: \"abc\"\n"},
		{"queuelifetime", "10M\n", "alert: cannot start: unable to read controls: control/queuelifetime line 1: not a decimal number: \"10M\"\n"},
	} {
		home := t.TempDir()
		queuefs.MakeTree(filepath.Join(home, "queue"))
		os.MkdirAll(filepath.Join(home, "control"), 0o755)
		os.WriteFile(filepath.Join(home, "control", "me"), []byte("example.com\n"), 0o644)
		os.WriteFile(filepath.Join(home, "control", c.file), []byte(c.content), 0o644)
		logR, logW, _ := os.Pipe()
		ctx := &prog.Context{Args: []string{"qmail-send"}, Home: home, Stderr: os.Stderr,
			Files: []*os.File{logW, nil, nil, nil, nil, nil, nil}}
		code := Run(ctx, Options{Signals: make(chan os.Signal)})
		logW.Close()
		out, _ := bufio.NewReader(logR).ReadString('\n')
		logR.Close()
		if code != 111 || out != c.want {
			t.Errorf("%s: exit %d, log %q, want %q", c.file, code, out, c.want)
		}
	}
}

func TestALRMRetriesNow(t *testing.T) {
	var mu sync.Mutex
	answer := byte('Z')
	h := start(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) {
		mu.Lock()
		defer mu.Unlock()
		return answer, "busy"
	}, nil)
	n := h.inject("joe@example.org", "bob@example.com")
	h.expect("new msg " + itoaT(n))
	h.next()
	h.next()
	h.expect("delivery 1: deferral: busy")
	mu.Lock()
	answer = 'K'
	mu.Unlock()
	// The next attempt is 100 s away; ALRM makes it now.
	h.sig <- syscall.SIGALRM
	h.expect("starting delivery 2: msg " + itoaT(n) + " to local bob@example.com")
	h.expect("delivery 2: success: busy")
	h.expect("end msg " + itoaT(n))
}

func TestHUPRereadsLocalsAndVirtualdomains(t *testing.T) {
	h := start(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) { return 'K', "" }, nil)
	n := h.inject("a@b", "x@new.example")
	h.expect("new msg " + itoaT(n))
	h.next()
	h.expect("starting delivery 1: msg " + itoaT(n) + " to remote x@new.example")
	h.expect("delivery 1: success: ")
	h.expect("end msg " + itoaT(n))
	os.WriteFile(filepath.Join(h.home, "control", "locals"), []byte("example.com\nnew.example\n"), 0o644)
	os.WriteFile(filepath.Join(h.home, "control", "virtualdomains"), []byte("virt.example:joe\n"), 0o644)
	h.sig <- syscall.SIGHUP
	time.Sleep(100 * time.Millisecond) // let the loop take the signal before the trigger
	m := h.inject("a@b", "x@new.example", "y@virt.example")
	h.expect("new msg " + itoaT(m))
	h.next()
	got := map[string]bool{h.next(): true, h.next(): true}
	for _, want := range []string{
		"starting delivery 2: msg " + itoaT(m) + " to local x@new.example",
		"starting delivery 3: msg " + itoaT(m) + " to local joe-y@virt.example",
	} {
		if !got[want] {
			t.Errorf("after HUP got %v, want %q", got, want)
		}
	}
}

func TestBadHUPKeepsOldControls(t *testing.T) {
	h := start(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) { return 'K', "" }, nil)
	n := h.inject("a@b", "x@example.com")
	for h.next() != "end msg "+itoaT(n) {
	}
	os.Remove(filepath.Join(h.home, "control", "locals"))
	os.Mkdir(filepath.Join(h.home, "control", "locals"), 0o755) // unreadable as a file
	h.sig <- syscall.SIGHUP
	for {
		l := h.next()
		if strings.HasPrefix(l, "alert: unable to reread controls: control/locals") {
			break
		}
	}
	m := h.inject("a@b", "y@example.com")
	h.expect("new msg " + itoaT(m))
	h.next()
	h.expect("starting delivery 2: msg " + itoaT(m) + " to local y@example.com")
}

func TestConcurrencyAbove120(t *testing.T) {
	h := start(t, map[string]string{"me": "example.com\n", "concurrencylocal": "500\n", "concurrencyremote": "1500\n"},
		func(c spawnproto.Command) (byte, string) { return 'K', "" }, nil)
	h.inject("a@b", "c@example.com")
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l := <-h.log:
			if strings.HasPrefix(l, "status: ") {
				if l != "status: local 0/500 remote 0/1000" && l != "status: local 1/500 remote 0/1000" {
					t.Errorf("status line %q, want local limit 500 and remote capped at 1000", l)
				}
				return
			}
		case <-deadline:
			t.Fatal("no status line")
		}
	}
}

// TestRemoteBatchPerDomain: the remote recipients of one message at one
// domain go to the spawner in one command (one SMTP transaction), each
// with its own delivery number, log lines and result; other domains and
// VERP senders are not batched.
func TestRemoteBatchPerDomain(t *testing.T) {
	h := start(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) {
		if strings.HasPrefix(c.Recipient, "no") {
			return 'D', "1.2.3.4 does not like recipient.\nRemote host said: 550 no\n"
		}
		return 'K', "1.2.3.4 accepted message.\nRemote host said: 250 ok\n"
	}, nil)
	n := h.inject("joe@example.org", "a@far.test", "b@other.test", "no@FAR.test", "c@far.test")
	h.expect("new msg " + itoaT(n))
	h.next()
	want := map[string]bool{
		"starting delivery 1: msg " + itoaT(n) + " to remote a@far.test":   true,
		"starting delivery 2: msg " + itoaT(n) + " to remote no@FAR.test":  true,
		"starting delivery 3: msg " + itoaT(n) + " to remote c@far.test":   true,
		"starting delivery 4: msg " + itoaT(n) + " to remote b@other.test": true,
	}
	for len(want) > 0 {
		l := h.next()
		if strings.HasPrefix(l, "starting") {
			if !want[l] {
				t.Fatalf("unexpected %q", l)
			}
			delete(want, l)
		}
	}
	for h.next() != "end msg "+itoaT(n) {
	}
	h.remote.mu.Lock()
	sizes := map[string]int{}
	for i, c := range h.remote.commands {
		sizes[c.Recipient] = h.remote.batches[i]
	}
	h.remote.mu.Unlock()
	if sizes["a@far.test"] != 3 || sizes["no@FAR.test"] != 3 || sizes["c@far.test"] != 3 || sizes["b@other.test"] != 1 {
		t.Errorf("batch sizes %v", sizes)
	}
	if !strings.Contains(strings.Join(h.all, "\n"), "bounce msg "+itoaT(n)) {
		t.Error("the refused recipient did not bounce")
	}

	// A VERP sender differs per recipient: no batch.
	m := h.inject("list-@example.com-@[]", "x@far.test", "y@far.test")
	for h.next() != "end msg "+itoaT(m) {
	}
	h.remote.mu.Lock()
	defer h.remote.mu.Unlock()
	for i, c := range h.remote.commands {
		if strings.HasPrefix(c.Sender, "list-") && h.remote.batches[i] != 1 {
			t.Errorf("VERP recipient %s sent in a batch of %d", c.Recipient, h.remote.batches[i])
		}
	}
}

// TestRemoteBatchQuarterOfSlots: a batch takes at most a quarter of the
// remote channel's slots (concurrencyremote 12: batches of 3), so that
// one domain's many recipients never hold every slot while the message's
// other domains wait.
func TestRemoteBatchQuarterOfSlots(t *testing.T) {
	h := start(t, map[string]string{"me": "example.com\n", "concurrencyremote": "12\n"}, func(c spawnproto.Command) (byte, string) {
		return 'K', "1.2.3.4 accepted message.\nRemote host said: 250 ok\n"
	}, nil)
	rcpts := []string{}
	for i := 0; i < 7; i++ {
		rcpts = append(rcpts, fmt.Sprintf("r%d@far.test", i))
	}
	n := h.inject("joe@example.org", rcpts...)
	for h.next() != "end msg "+itoaT(n) {
	}
	h.remote.mu.Lock()
	defer h.remote.mu.Unlock()
	total := 0
	for i, c := range h.remote.commands {
		if b := h.remote.batches[i]; b > 3 {
			t.Errorf("%s sent in a batch of %d, more than 12/4", c.Recipient, b)
		}
		total++
	}
	if total != 7 {
		t.Errorf("%d recipients delivered, want 7", total)
	}
}

// TestTodoBurstAllDelivered: messages queued while an earlier reading of
// todo/ is still being worked through (todoBatch at a time) must not wait
// for the 25-minute rescan: their trigger makes qmail-send read todo/ again.
func TestTodoBurstAllDelivered(t *testing.T) {
	const n = 3 * todoBatch
	h := startWith(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) { return 'K', "" }, nil,
		func(h *harness) {
			for i := 0; i < n; i++ {
				h.inject("a@b", "c@example.com")
			}
		})
	// qmail-send read todo/ at start and works through it todoBatch at a
	// time; this message comes after that reading.
	h.inject("late@b", "c@example.com")
	ended := 0
	deadline := time.After(30 * time.Second)
	for ended < n+1 {
		select {
		case l := <-h.log:
			if strings.HasPrefix(l, "end msg ") {
				ended++
			}
		case <-deadline:
			t.Fatalf("%d of %d messages finished; the rest wait in todo/", ended, n+1)
		}
	}
}

// failingRounds is a startWith hook giving qmail-send syncfs rounds on
// the home's file system that fail with EIO while failing is set.
func failingRounds(t *testing.T, failing *atomic.Bool) func(h *harness) {
	return func(h *harness) {
		var st syscall.Stat_t
		if err := syscall.Stat(h.home, &st); err != nil {
			t.Fatal(err)
		}
		h.fs = durable.NewFSForTest(uint64(st.Dev), func() error {
			if failing.Load() {
				return syscall.EIO
			}
			return nil
		})
	}
}

// TestTodoRoundFailureRetried: when the syncfs round that makes a todo
// batch's info and local files durable fails, the message is not
// scheduled (qmail-send says it will try again) and its todo file stays;
// the next reading of todo/, once rounds succeed, delivers it.
func TestTodoRoundFailureRetried(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	h := startWith(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) { return 'K', "" }, nil,
		failingRounds(t, &failing))
	// Two recipients: a message to one would be delivered straight from
	// todo/ (direct.go), without a round.
	n := h.inject("a@b", "c@example.com", "e@example.com")
	h.expect("new msg " + itoaT(n))
	if l := h.next(); !strings.HasPrefix(l, "info msg "+itoaT(n)+":") {
		t.Fatalf("log line %q, want the info line", l)
	}
	if l := h.next(); !strings.HasPrefix(l, "warning: trouble fsyncing ") || !strings.HasSuffix(l, "; will try again later") {
		t.Fatalf("log line %q, want the fsync warning", l)
	}
	if _, err := os.Stat(h.q.Todo(n)); err != nil {
		t.Fatalf("todo file gone after a failed round: %v", err)
	}
	h.local.mu.Lock()
	delivered := len(h.local.commands)
	h.local.mu.Unlock()
	if delivered != 0 {
		t.Fatalf("%d deliveries after a failed round", delivered)
	}
	failing.Store(false)
	m := h.inject("a@b", "d@example.com") // its trigger makes qmail-send read todo/ again
	h.untilEnded(n, m)
	if _, err := os.Stat(h.q.Todo(n)); err == nil {
		t.Error("todo file left after delivery")
	}
}
