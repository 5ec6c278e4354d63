package send

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"goqmail/internal/addr"
	"goqmail/internal/durable"
	"goqmail/internal/plainfile"
	"goqmail/internal/queuefs"
	"goqmail/internal/rewrite"
)

// message is one queued message that has been preprocessed.
type message struct {
	num      uint64
	birth    time.Time // mtime of info/S/N
	sender   string
	chans    [2]*msgChan
	finishAt time.Time // when to retry finishing (bounce, cleanup)
	direct   bool      // delivered straight from todo/N (direct.go)
	ident    doneIdent // a direct message's files, for its D mark (donemarks.go)
}

func (m *message) done() bool { return m.chans[0] == nil && m.chans[1] == nil }

// todoBatch bounds how many todo files one batch preprocesses, so that
// a batch is soon done and its messages start their deliveries while the
// next batch is prepared.
const todoBatch = 32

// scanTodo starts preprocessing the messages in todo/ (spec §1.3), at most
// todoBatch of them at a time, in the background: the main loop goes on
// starting deliveries and reading their reports while the batch's files
// are written and fsynced, and takes the batch in (todoDone) when it is on
// disk. Done in the loop itself, a steady stream of new mail kept the loop
// waiting on fsyncs and the deliveries starved (issue 8). At most one batch
// is in flight; while it is, todo/ is not read again.
func (s *sender) scanTodo() {
	if s.todoBusy {
		return
	}
	if len(s.todoPending) == 0 {
		s.todoTriggered = false
		names, err := readNames(s.q.Path("todo"))
		if err != nil {
			s.logf("alert: unable to opendir todo, sleeping...\n")
			s.todoAt = s.now().Add(retryTrouble)
			return
		}
		for _, name := range names {
			if n, ok := queuefs.ParseNumber(name); ok {
				s.todoPending = append(s.todoPending, n)
			}
		}
	}
	var batch []uint64
	inBatch := map[uint64]bool{}
	for len(s.todoPending) > 0 && len(batch) < todoBatch && !s.exitasap {
		n := s.todoPending[0]
		s.todoPending = s.todoPending[1:]
		if _, busy := s.msgs[n]; busy || inBatch[n] {
			continue // already preprocessed or direct; qmail-clean has yet to remove it
		}
		inBatch[n] = true
		batch = append(batch, n)
	}
	if len(batch) == 0 {
		return
	}
	s.todoBusy = true
	rw, now := s.rw, s.now()
	items := make([]todoItem, len(batch))
	for i, n := range batch {
		items[i].n = n
		_, items[i].handedBack = s.directRetry[n]
		if id, ok := s.marks.delivered(n); ok {
			items[i].delivered = &id
		}
	}
	go func() { s.todoDone <- s.prepareBatch(items, rw, now) }()
}

// readNames lists a folder's names in the order the file system gives
// them, as qmail-send's readdir does. os.ReadDir also sorted them and made
// an entry of each: todo/ is read at every trigger and holds every
// direct message in flight, hundreds under load, and the sort and the
// entries were 1 % of a W1 run's CPU (perf, issue 8).
func readNames(dir string) ([]string, error) {
	f, err := plainfile.Open(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// todoFinished takes in a batch that scanTodo started. More left from this
// reading of todo/, or a trigger that came while the batch was being
// prepared (its message may not be in it): todo/ is due again at once.
func (s *sender) todoFinished(b preparedBatch) {
	s.todoBusy = false
	s.integrate(b)
	if (len(s.todoPending) > 0 || s.todoTriggered) && !s.exitasap {
		s.todoAt = s.now()
	}
	if s.hupPending {
		s.hupPending = false
		s.reloadLocals()
	}
}

// todoItem is one todo/N of a batch with what the main loop knows of it:
// handed back after going direct, or marked done by an earlier
// qmail-send (donemarks.go), with the identity its files had then.
type todoItem struct {
	n          uint64
	handedBack bool
	delivered  *doneIdent
}

// prepared is one todo message whose info and local/remote files are
// written and fsynced, or a direct message (no files).
type prepared struct {
	n    uint64
	m    *message
	logs []string // its log lines, in order
	dirs []string // folders holding its new names
	ok   bool     // files written: go on with it
	gone bool     // todo/N no longer exists
}

// preparedBatch is a batch of todo messages with their files and folders
// fsynced; dirFailed names the folders whose fsync failed.
type preparedBatch struct {
	preps     []prepared
	dirFailed map[string]bool
}

// prepareBatch turns a batch of todo/N into info/S/N and local/remote
// files, as qmail-send does one by one, with the same files. The
// messages' files are written in parallel goroutines and then made
// durable together: by one syncfs round (durable.FS) when qmail-send has
// one, else each file fsynced and each folder that got new names fsynced
// once for the batch. Done one after another, the fsyncs were
// qmail-send's whole cost per message and capped how many messages a
// second the queue could take in (issue 8). It touches only the batch's
// own files and read-only state (rw is not reloaded while a batch is in
// flight), so it runs beside the main loop.
func (s *sender) prepareBatch(items []todoItem, rw *rewrite.Rewriter, now time.Time) preparedBatch {
	b := preparedBatch{preps: make([]prepared, len(items)), dirFailed: map[string]bool{}}
	var tok durable.Token
	if s.fs != nil {
		tok = s.fs.Begin()
	}
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.preps[i] = s.prepareTodo(it, rw, now, s.fs == nil)
		}()
	}
	wg.Wait()
	dirs := map[string]bool{}
	for _, p := range b.preps {
		if p.ok {
			for _, d := range p.dirs {
				dirs[d] = true
			}
		}
	}
	if len(dirs) == 0 {
		return b
	}
	if s.fs != nil {
		// One round for the batch: a failure fails every message in it
		// as a failed fsync of its info file would (integrate logs it).
		if s.fs.Sync(tok) != nil {
			for d := range dirs {
				b.dirFailed[d] = true
			}
		}
		return b
	}
	var mu sync.Mutex
	for d := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if queuefs.SyncDir(d) != nil {
				mu.Lock()
				b.dirFailed[d] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return b
}

// integrate takes a prepared batch into the schedule in todo order: each
// message's log lines come out together, and a message is scheduled, and
// its todo file handed to qmail-clean, only once its files and their
// folders are on disk. The clean requests of the batch go to qmail-clean
// together and their answers are read after, one pipe round trip for the
// batch instead of one per message.
func (s *sender) integrate(b preparedBatch) {
	var ready []*prepared
	for i := range b.preps {
		p := &b.preps[i]
		for _, l := range p.logs {
			s.logf("%s", l)
		}
		if p.gone {
			delete(s.directRetry, p.n)
		}
		if !p.ok {
			continue
		}
		if p.m.direct {
			s.take(p.n, p.m)
			continue
		}
		for _, d := range p.dirs {
			if b.dirFailed[d] {
				s.logf("warning: trouble fsyncing %s; will try again later\n", s.rel(d))
				p.ok = false
				break
			}
		}
		if p.ok {
			ready = append(ready, p)
		}
	}
	reqs := make([]string, len(ready))
	for i, p := range ready {
		reqs[i] = "todo/" + strconv.FormatUint(p.n, 10)
	}
	cleaned := s.cleanRequests(reqs...)
	for i, p := range ready {
		if !cleaned[i] {
			continue
		}
		s.take(p.n, p.m)
	}
}

// prepareTodo writes info/S/N and local/remote files for todo/N, and
// fsyncs each if fsync is set (else prepareBatch makes them durable); or,
// for a message to one recipient, writes nothing: it goes direct
// (direct.go). A message handed back after going direct is preprocessed,
// and its "new msg" and "info msg" lines, logged when it went direct, are
// not logged again; one an earlier qmail-send marked done is only
// finished (its todo/N removed, its bounce sent). It runs in a goroutine
// of its own: it touches only message N's files and read-only state (the
// rewriter), and returns its log lines instead of writing them.
func (s *sender) prepareTodo(it todoItem, rw *rewrite.Rewriter, now time.Time, fsync bool) (p prepared) {
	n, handedBack := it.n, it.handedBack
	p.n = n
	logf := func(format string, a ...any) { p.logs = append(p.logs, fmt.Sprintf(format, a...)) }
	todo := s.q.Todo(n)
	data, tst, err := plainfile.ReadFileStat(todo)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			logf("warning: unable to open %s\n", s.rel(todo))
		}
		p.gone = errors.Is(err, fs.ErrNotExist)
		return p
	}
	fi, err := os.Stat(s.q.Mess(n))
	if err != nil {
		logf("warning: unable to stat %s\n", s.rel(s.q.Mess(n)))
		return p
	}
	env, perr := queuefs.ParseTodo(data)
	if perr != nil {
		logf("warning: unknown record type in %s!\n", s.rel(todo))
		return p
	}
	for _, f := range []string{s.q.Local(n), s.q.Remote(n), s.q.Info(n)} {
		if err := plainfile.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			logf("warning: unable to unlink %s; will try again later\n", s.rel(f))
			return p
		}
	}
	id := identOf(&tst, fi)
	if it.delivered != nil && *it.delivered == id {
		// Its one delivery was done before the last qmail-send stopped:
		// nothing to log until "end msg", as for a message qmail finds
		// preprocessed with every record marked D.
		p.m, p.ok = &message{num: n, sender: env.Sender, birth: now, direct: true, ident: id}, true
		return p
	}
	announce := func() {
		if handedBack {
			return // announced when it went direct
		}
		logf("new msg %d\n", n)
		logf("info msg %d: bytes %d from <%s> qp %s uid %s\n",
			n, fi.Size(), addr.LogSafe(env.Sender), addr.LogSafe(env.PID), addr.LogSafe(env.UID))
	}
	if !handedBack && s.marks != nil {
		if m := prepareDirect(n, env, rw, now); m != nil {
			m.ident = id
			// Its one recipient is tried afresh: a bounce/N left by an
			// earlier attempt that qmail-send exited or crashed before
			// finishing would list a failure twice.
			if err := plainfile.Remove(s.q.Bounce(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				logf("warning: unable to unlink %s; will try again later\n", s.rel(s.q.Bounce(n)))
				return p
			}
			announce()
			p.m, p.ok = m, true
			return p
		}
	}
	info, err := plainfile.Open(s.q.Info(n), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		logf("warning: unable to create %s; will try again later\n", s.rel(s.q.Info(n)))
		return p
	}
	announce()
	iw := bufio.NewWriter(info)
	iw.WriteString("F" + env.Sender + "\x00")

	var bufs [2][]byte
	for _, r := range env.Recipients {
		a, local := rw.Rewrite(r)
		c := 1
		if local {
			c = 0
		}
		bufs[c] = append(bufs[c], 'T')
		bufs[c] = append(bufs[c], a...)
		bufs[c] = append(bufs[c], 0)
	}
	fail := func(f string) {
		logf("warning: trouble writing to %s; will try again later\n", s.rel(f))
		info.Close()
	}
	if err := iw.Flush(); err != nil {
		fail(s.q.Info(n))
		return p
	}
	if fsync {
		if err := info.Sync(); err != nil {
			logf("warning: trouble fsyncing %s; will try again later\n", s.rel(s.q.Info(n)))
			info.Close()
			return p
		}
	}
	if err := info.Close(); err != nil {
		fail(s.q.Info(n))
		return p
	}
	m := &message{num: n, sender: env.Sender}
	if st, err := os.Stat(s.q.Info(n)); err == nil {
		m.birth = st.ModTime()
	} else {
		m.birth = now
	}
	p.dirs = []string{filepath.Dir(s.q.Info(n))}
	for c := 0; c < 2; c++ {
		if len(bufs[c]) == 0 {
			continue
		}
		f := s.q.Chan(c == 1, n)
		if err := writeFile(f, bufs[c], fsync); err != nil {
			logf("warning: trouble writing to %s; will try again later\n", s.rel(f))
			return p
		}
		p.dirs = append(p.dirs, filepath.Dir(f))
		m.chans[c] = &msgChan{retry: now}
	}
	p.m, p.ok = m, true
	return p
}

// writeFile creates a file exclusively, writes data and, if fsync is
// set, fsyncs it.
func writeFile(p string, data []byte, fsync bool) error {
	f, err := plainfile.Open(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if fsync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// cleanRequest asks qmail-clean to remove files; false if it could not.
func (s *sender) cleanRequest(req string) bool { return s.cleanRequests(req)[0] }

// cleanRequests has qmail-clean carry out several requests and waits
// for its answers; each is true if the files are gone. For the main loop:
// a lost qmail-clean is taken in at once (lostClean).
func (s *sender) cleanRequests(reqs ...string) []bool {
	ok, lost := s.awaitClean(reqs, s.clean.ask(reqs))
	if lost {
		s.lostClean()
	}
	return ok
}

// awaitClean waits for the answers to reqs, logging those qmail-clean
// refused as qmail does; lost says qmail-clean is gone.
func (s *sender) awaitClean(reqs []string, answers []chan byte) (ok []bool, lost bool) {
	ok = make([]bool, len(reqs))
	for i, ch := range answers {
		switch b := <-ch; b {
		case '+':
			ok[i] = true
		case 0:
			lost = true
		default:
			s.logf("warning: qmail-clean unable to clean up %s\n", reqs[i])
		}
	}
	return ok, lost
}

func (s *sender) lostClean() {
	if s.cleanAlerted {
		return
	}
	s.cleanAlerted = true
	s.logf("alert: oh no! lost qmail-clean connection! dying...\n")
	s.lostConn = true
	s.exitasap = true
}

// scanInfo rebuilds the schedule from info/ at start: each existing
// channel file is due at its mtime.
func (s *sender) scanInfo() {
	for sub := 0; sub < queuefs.Split; sub++ {
		dir := s.q.Path("info", strconv.Itoa(sub))
		entries, err := os.ReadDir(dir)
		if err != nil {
			s.logf("alert: unable to opendir %s, sleeping...\n", s.rel(dir))
			continue
		}
		for _, e := range entries {
			n, ok := queuefs.ParseNumber(e.Name())
			if !ok {
				continue
			}
			if _, err := os.Lstat(s.q.Todo(n)); err == nil {
				continue // todo/N will be processed afresh
			}
			s.loadMessage(n)
		}
	}
}

func (s *sender) loadMessage(n uint64) {
	p := s.q.Info(n)
	data, err := plainfile.ReadFile(p)
	if err != nil {
		s.logf("warning: unable to open %s\n", s.rel(p))
		return
	}
	fi, err := os.Stat(p)
	if err != nil {
		return
	}
	m := &message{num: n, birth: fi.ModTime()}
	if len(data) > 0 && data[0] == 'F' {
		end := len(data)
		for i := 1; i < len(data); i++ {
			if data[i] == 0 {
				end = i
				break
			}
		}
		m.sender = string(data[1:end])
	}
	for c := 0; c < 2; c++ {
		cf, err := os.Stat(s.q.Chan(c == 1, n))
		if err != nil {
			continue
		}
		m.chans[c] = &msgChan{retry: cf.ModTime()}
	}
	s.msgs[n] = m
	for c := 0; c < 2; c++ {
		if m.chans[c] != nil {
			s.ch[c].schedule(m)
		}
	}
	s.messageMaybeDone(m)
}

// sweepMess removes mess files that qmail-queue abandoned: older than 36
// hours by atime, with neither info nor todo (spec §1.4), and not held by
// a qmail-queue that is still writing (queuefs.BeingWritten: after a
// forward jump of the clock, age alone would take a live message).
func (s *sender) sweepMess(now time.Time) {
	for sub := 0; sub < queuefs.Split; sub++ {
		dir := s.q.Path("mess", strconv.Itoa(sub))
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			n, ok := queuefs.ParseNumber(e.Name())
			if !ok {
				continue
			}
			if _, busy := s.msgs[n]; busy {
				continue
			}
			fi, err := os.Stat(filepath.Join(dir, e.Name()))
			if err != nil {
				continue
			}
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok || now.Sub(time.Unix(st.Atim.Sec, st.Atim.Nsec)) <= staleMess {
				continue
			}
			// The lock first: a qmail-queue not writing it now has
			// finished, and made todo/N before that if it committed
			// (asked the other way round, a commit and close between the
			// two checks would be missed).
			if queuefs.BeingWritten(filepath.Join(dir, e.Name())) {
				continue // old by the clock, but a qmail-queue still writes it
			}
			if exists(s.q.Info(n)) || exists(s.q.Todo(n)) {
				continue
			}
			s.cleanRequest("foop/" + strconv.FormatUint(n, 10))
		}
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
