// Package send is qmail-send: it takes messages from todo/, decides which
// recipients are local and which remote, hands each delivery to
// qmail-lspawn or qmail-rspawn, retries on qmail's schedule, bounces what
// fails for good, and writes the log lines qmailanalog reads (spec §1.3,
// §1.4, §3).
//
// Descriptors, as qmail-start wires them: 0 the log, 1 and 2 commands to
// and reports from qmail-lspawn, 3 and 4 the same for qmail-rspawn, 5 and
// 6 requests to and replies from qmail-clean.
//
// Where goqmail differs from qmail 1.03, on purpose:
//   - todo/ is processed whole at each wake-up rather than one file per
//     loop (the "silly qmail syndrome" under heavy injection);
//   - info, local and remote files are fsynced with their folders before
//     todo/N is removed (hardening.md §3.2);
//   - concurrency may go up to spawnproto.Limit (1000), not 120;
//   - the remote recipients of one message at one domain go to
//     qmail-rspawn together (up to spawnproto.MaxBatch), so qmail-remote
//     delivers them in one SMTP transaction; each still has its own
//     delivery number, slot, log lines and result, as in qmail. A VERP
//     sender, which differs per recipient, is never batched.
package send

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"goqmail/internal/control"
	"goqmail/internal/durable"
	"goqmail/internal/prog"
	"goqmail/internal/queuefs"
	"goqmail/internal/rewrite"
	"goqmail/internal/spawnproto"
)

// Timing constants of qmail-send.
const (
	sleepTodo    = 1500 * time.Second  // rescan todo/ at least this often
	sleepCleanup = 76431 * time.Second // sweep stray mess files this often
	retryTrouble = 123 * time.Second   // retry a failed stat, open or bounce
	staleMess    = 129600 * time.Second
)

// Main is qmail-send.
func Main(ctx *prog.Context) int {
	return Run(ctx, Options{})
}

// Options adjust a run for tests.
type Options struct {
	// Signals replaces the process's TERM, ALRM and HUP when set.
	Signals chan os.Signal
	// Now replaces the clock.
	Now func() time.Time
	// FS replaces the syncfs rounds that make the todo batches durable:
	// tests make them fail (durable.NewFSForTest). Nil: the queue's own.
	FS *durable.FS
	// DirectWait replaces directWait (direct.go) for tests; 0: directWait.
	DirectWait time.Duration
}

// Run is qmail-send with options.
func Run(ctx *prog.Context, opt Options) int {
	s, code := newSender(ctx)
	if s == nil {
		return code
	}
	if opt.Now != nil {
		s.now = opt.Now
	}
	// The todo batches' files are made durable by syncfs rounds
	// (prepareBatch) when their folders are on the queue's file system;
	// else by fsyncs as before.
	s.fs = opt.FS
	s.directWait = cmp.Or(opt.DirectWait, directWait)
	if s.fs == nil {
		if fs, err := durable.OpenFSFor(s.q.Dir, s.q.Folders("info", "local", "remote")); err == nil {
			s.fs = fs
			defer fs.Close()
		}
	}
	s.sig = opt.Signals
	return s.run()
}

type sender struct {
	ctx      *prog.Context
	q        queuefs.Queue
	ctl      *control.Dir
	log      io.Writer
	now      func() time.Time
	clean    *cleaner // the qmail-clean pipes
	rw       *rewrite.Rewriter
	lifetime time.Duration
	bounce   bounceConfig

	concurrency [2]int
	ch          [2]*channel
	msgs        map[uint64]*message
	finishing   []uint64 // messages with no recipients left
	todoPending []uint64 // todo/ entries read but not yet preprocessed
	// todoTriggered: the trigger was pulled since todo/ was last read, so
	// todo/ must be read again once todoPending is done.
	todoTriggered bool
	todoBusy      bool               // a batch of todo/ is being prepared
	todoDone      chan preparedBatch // where that batch arrives
	hupPending    bool               // HUP came while a batch was in flight
	mutex         *os.File           // lock/sendmutex, flocked while qmail-send runs
	marks         *doneMarks         // lock/directdone; nil: no message goes direct
	fs            *durable.FS        // nil: fsync each todo batch file (prepareBatch)
	// directRetry: direct messages handed back to todo/ processing after
	// a deferral, with the retry time their attempt earned (direct.go).
	directRetry map[uint64]time.Time
	directLine  []*message    // direct messages in the order taken in (direct.go)
	directWait  time.Duration // directWait, or Options.DirectWait

	delnum   int
	exitasap bool
	lostConn bool

	ret          *retirer      // removes finished work's files (retire.go)
	retireEvery  time.Duration // how often it retries; 0: retryTrouble (tests set it)
	cleanAlerted bool
	logMu        sync.Mutex

	todoAt    time.Time // next forced todo/ scan
	cleanupAt time.Time // next stray-mess sweep
	trigger   chan struct{}
	sig       chan os.Signal
	reports   chan report
}

// report is a spawner report tagged with its channel, or a lost pipe.
type report struct {
	ch   int
	rep  spawnproto.Report
	lost bool
}

// logf writes one log line; the retirer logs too.
func (s *sender) logf(format string, a ...any) {
	s.logMu.Lock()
	fmt.Fprintf(s.log, format, a...)
	s.logMu.Unlock()
}

func newSender(ctx *prog.Context) (*sender, int) {
	logf := ctx.File(0)
	if logf == nil {
		return nil, 111
	}
	s := &sender{ctx: ctx, log: logf, now: time.Now, msgs: map[uint64]*message{}}
	if fi, err := os.Stat(ctx.Home); err != nil || !fi.IsDir() {
		s.logf("alert: cannot start: unable to switch to home directory\n")
		return nil, 111
	}
	s.ctl = control.New(ctx.Home)
	if err := s.readControls(); err != nil {
		s.logf("alert: cannot start: unable to read controls: %s\n", oneLine(err.Error()))
		return nil, 111
	}
	s.q = queuefs.New(ctx.Home)
	if fi, err := os.Stat(s.q.Dir); err != nil || !fi.IsDir() {
		s.logf("alert: cannot start: unable to switch to queue directory\n")
		return nil, 111
	}
	mutex, err := os.OpenFile(s.q.Path("lock", "sendmutex"), os.O_RDWR, 0)
	if err != nil {
		s.logf("alert: cannot start: unable to open mutex\n")
		return nil, 111
	}
	if err := syscall.Flock(int(mutex.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		mutex.Close()
		s.logf("alert: cannot start: qmail-send is already running\n")
		return nil, 111
	}
	// The mutex stays open (and locked) for the life of qmail-send: it is
	// kept in the sender, or the garbage collector would close the file
	// and drop the lock.
	s.mutex = mutex
	if s.marks, err = openDoneMarks(s.q); err != nil {
		s.logf("warning: unable to open lock/%s (%s); every message is preprocessed as qmail 1.03 does\n",
			doneMarksName, oneLine(err.Error()))
	}
	files := [6]*os.File{}
	for i := range files {
		files[i] = ctx.File(i + 1)
		if files[i] == nil {
			s.logf("alert: cannot start: hath the daemon spawn no fire?\n")
			return nil, 111
		}
	}
	for c := 0; c < 2; c++ {
		r := bufio.NewReader(files[2*c+1])
		limit, err := spawnproto.ReadLimit(r)
		if err != nil {
			s.logf("alert: cannot start: hath the daemon spawn no fire?\n")
			return nil, 111
		}
		want := s.concurrency[c]
		if want > limit {
			want = limit
		}
		s.ch[c] = newChannel(c, want, files[2*c], r)
	}
	s.clean = newCleaner(files[4], bufio.NewReader(files[5]))
	return s, 0
}

func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

// readControls reads everything qmail-send reads at start.
func (s *sender) readControls() error {
	var err error
	get := func(f func() (string, error)) string {
		if err != nil {
			return ""
		}
		v, e := f()
		err = e
		return v
	}
	getInt := func(name string, def int) int {
		if err != nil {
			return 0
		}
		v, e := s.ctl.Int(name, def)
		err = e
		return v
	}
	lifetime := getInt("queuelifetime", 604800)
	s.concurrency[0] = clamp(getInt("concurrencylocal", 10))
	s.concurrency[1] = clamp(getInt("concurrencyremote", 20))
	s.bounce.from = get(func() (string, error) { return s.ctl.LineDefault("bouncefrom", "MAILER-DAEMON") })
	s.bounce.host = get(func() (string, error) { return s.ctl.LineMe("bouncehost", "bouncehost") })
	s.bounce.dbHost = get(func() (string, error) { return s.ctl.LineMe("doublebouncehost", "doublebouncehost") })
	s.bounce.dbTo = get(func() (string, error) { return s.ctl.LineDefault("doublebounceto", "postmaster") })
	if err != nil {
		return err
	}
	s.lifetime = time.Duration(lifetime) * time.Second
	s.rw, err = rewrite.Load(s.ctl)
	return err
}

// readLocals rereads the two files HUP rereads, keeping the old values
// on error.
func (s *sender) readLocals() error {
	return s.rw.LoadLocals(s.ctl)
}

func clamp(n int) int {
	if n < 0 {
		return 0
	}
	if n > spawnproto.Limit {
		return spawnproto.Limit
	}
	return n
}

func (s *sender) run() int {
	defer s.mutex.Close()
	defer s.marks.close()
	s.trigger = make(chan struct{}, 1)
	s.reports = make(chan report, 64)
	s.todoDone = make(chan preparedBatch, 1)
	s.startRetirer()
	defer s.stopRetirer()
	if s.sig == nil {
		s.sig = make(chan os.Signal, 4)
		// SIGPIPE too, as qmail-send ignores it: qmail-lspawn's commands
		// go out on descriptor 1, where Go would otherwise die of a
		// killed spawner silently; asked for, the write fails and the
		// loss is logged ("alert: oh no! lost spawn connection!").
		signal.Notify(s.sig, syscall.SIGTERM, syscall.SIGALRM, syscall.SIGHUP, syscall.SIGPIPE)
		defer signal.Stop(s.sig)
	}
	trig, err := s.watchTrigger()
	if err != nil {
		s.logf("alert: cannot start: unable to open lock/trigger\n")
		return 111
	}
	defer trig.Close()
	for c := 0; c < 2; c++ {
		go s.readReports(c)
	}
	now := s.now()
	s.scanInfo()
	s.todoAt = now.Add(sleepTodo)
	s.scanTodo()
	s.cleanupAt = now
	s.logStatus()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if s.ret != nil && s.ret.cleanGone.Load() {
			s.lostClean()
		}
		if s.exitasap && s.outstanding() == 0 {
			return s.shutdown()
		}
		now = s.now()
		if !s.todoBusy && !now.Before(s.todoAt) {
			s.todoAt = now.Add(sleepTodo)
			s.scanTodo()
		}
		if !now.Before(s.cleanupAt) {
			s.cleanupAt = now.Add(sleepCleanup)
			s.sweepMess(now)
		}
		s.finishMessages(now, false)
		now = s.now()
		s.handBackWaiting(now)
		if !s.exitasap {
			for c := 0; c < 2; c++ {
				s.startDeliveries(c, now)
			}
		}
		// Like qmail, sleep a second past a future event, never past one
		// that is already due.
		wait := s.nextWake(now).Sub(now)
		if wait > 0 {
			wait += time.Second
		}
		timer.Reset(wait)
		select {
		case <-s.trigger:
			s.todoAt = s.now()
			s.todoTriggered = true
		case r := <-s.reports:
			s.handleReport(r)
		case b := <-s.todoDone:
			s.todoFinished(b)
		case sg := <-s.sig:
			s.handleSignal(sg)
		case <-timer.C:
		}
		s.drainReports()
	}
}

// drainReports handles every delivery report already waiting before the
// loop goes back to todo/. A loop that took one report per pass, after a
// whole batch of todo files, let a busy todo/ starve the deliveries: under
// a steady stream of new mail, finished deliveries sat unreported and no
// new ones started (issue 8). qmail 1.03 likewise serves every ready
// descriptor in each pass of its select loop.
func (s *sender) drainReports() {
	for i := 0; i < 4*spawnproto.Limit; i++ {
		select {
		case r := <-s.reports:
			s.handleReport(r)
		default:
			return
		}
	}
}

func (s *sender) handleSignal(sg os.Signal) {
	switch sg {
	case syscall.SIGTERM:
		if !s.exitasap {
			s.exitasap = true
			s.logStatus()
		}
	case syscall.SIGALRM:
		now := s.now()
		for _, m := range s.msgs {
			for c := 0; c < 2; c++ {
				if mc := m.chans[c]; mc != nil && !mc.inPass {
					mc.retry = now
				}
			}
			m.finishAt = time.Time{}
		}
		for n := range s.directRetry {
			s.directRetry[n] = now // handed back, not yet rescheduled
		}
		for c := 0; c < 2; c++ {
			s.ch[c].resort()
		}
	case syscall.SIGHUP:
		if s.todoBusy {
			s.hupPending = true // the batch in flight reads the rewriter
			return
		}
		s.reloadLocals()
	}
}

func (s *sender) reloadLocals() {
	if err := s.readLocals(); err != nil {
		s.logf("alert: unable to reread controls: %s\n", oneLine(err.Error()))
	}
}

// watchTrigger wakes the loop whenever a byte is written to lock/trigger.
// The FIFO is opened for reading and writing, so that a read blocks
// rather than seeing end-of-file when no injector has it open.
func (s *sender) watchTrigger() (*os.File, error) {
	f, err := os.OpenFile(s.q.Trigger(), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	go func() {
		buf := make([]byte, 128)
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			select {
			case s.trigger <- struct{}{}:
			default:
			}
		}
	}()
	return f, nil
}

func (s *sender) readReports(c int) {
	r := s.ch[c].r
	for {
		rep, err := spawnproto.ReadReport(r)
		if err != nil {
			s.reports <- report{ch: c, lost: true}
			return
		}
		s.reports <- report{ch: c, rep: rep}
	}
}

// outstanding counts what qmail-send must wait for before it exits: the
// deliveries in progress and a todo batch being prepared.
func (s *sender) outstanding() int {
	if s.lostConn {
		return 0
	}
	n := s.ch[0].used + s.ch[1].used
	if s.todoBusy {
		n++
	}
	return n
}

// shutdown records each waiting channel file's retry time in its mtime,
// so the next qmail-send keeps the schedule. Direct messages whose
// delivery is done are finished first: their todo/N would otherwise have
// the next qmail-send deliver them again.
func (s *sender) shutdown() int {
	s.finishMessages(s.now(), true)
	s.stopRetirer()
	for num, m := range s.msgs {
		if m.direct {
			continue // no channel file; todo/N is preprocessed afresh
		}
		for c := 0; c < 2; c++ {
			mc := m.chans[c]
			if mc == nil || mc.retry.IsZero() {
				continue
			}
			p := s.q.Chan(c == 1, num)
			if err := os.Chtimes(p, mc.retry, mc.retry); err != nil {
				s.logf("warning: unable to utime %s; message will be retried too soon\n", s.rel(p))
			}
		}
	}
	s.logf("status: exiting\n")
	if s.lostConn {
		return 111
	}
	return 0
}

func (s *sender) logStatus() {
	x := ""
	if s.exitasap {
		x = " exitasap"
	}
	s.logf("status: local %d/%d remote %d/%d%s\n",
		s.ch[0].used, s.ch[0].limit, s.ch[1].used, s.ch[1].limit, x)
}

// rel is a queue path as qmail writes it in log lines (relative to queue/).
func (s *sender) rel(p string) string {
	if len(p) > len(s.q.Dir)+1 && p[:len(s.q.Dir)] == s.q.Dir {
		return p[len(s.q.Dir)+1:]
	}
	return p
}

// nextWake is the earliest time something scheduled is due.
func (s *sender) nextWake(now time.Time) time.Time {
	wake := s.todoAt
	if s.todoBusy {
		wake = now.Add(86400 * time.Second) // todoDone wakes the loop
	}
	if s.cleanupAt.Before(wake) {
		wake = s.cleanupAt
	}
	for c := 0; c < 2; c++ {
		if t, ok := s.ch[c].nextDue(); ok && t.Before(wake) {
			wake = t
		}
	}
	if t, ok := s.directDue(); ok && t.Before(wake) {
		wake = t
	}
	// Only messages with no recipients left wait for a finish time, and
	// each of them is in s.finishing (messageMaybeDone): looking at all
	// of s.msgs here cost O(queue) per turn of the loop, the largest
	// share of qmail-send's CPU with thousands of messages in flight.
	for _, n := range s.finishing {
		if m := s.msgs[n]; m != nil && !m.finishAt.IsZero() && m.finishAt.Before(wake) {
			wake = m.finishAt
		}
	}
	if wake.Before(now) {
		wake = now
	}
	if wake.Sub(now) > 86400*time.Second {
		wake = now.Add(86400 * time.Second)
	}
	return wake
}
