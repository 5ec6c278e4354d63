package spawn

import (
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// userThreads runs work as a user on OS threads of its own that become
// that user (becomeUser; not root: as the caller) and keeps them for a
// short while, to run that same user's next work: qmail-lspawn delivering a
// burst of mail to one mailbox made and threw away two threads per
// delivery (one as qmailp for qmail-getpw's lookup, one as the
// recipient), some forty system calls each (issue 8). A kept thread only
// ever runs work for the uid and gid it became, stays locked to its
// goroutine, and is thrown away — never handed back to the Go runtime —
// when it has been idle for idleFor, when maxIdle threads already wait,
// or when work on it panicked.
type userThreads struct {
	mu      sync.Mutex
	idle    map[userCred][]*userThread
	nIdle   int
	idleFor time.Duration // 0: threadIdle
	maxIdle int           // 0: threadMaxIdle
}

// How long an idle thread is kept, and how many at most. A burst to one
// mailbox keeps its threads busy, not idle, so few idle ones serve it;
// a fan-out to many users (W3L500) leaves one idle thread per user that
// will not come back, each some 50-100 KB of stacks and runtime state: 256
// of them made qmail-lspawn's memory twice Postfix's on that workload.
const (
	threadIdle    = 2 * time.Second
	threadMaxIdle = 32
)

type userCred struct{ uid, gid int }

// userThread is a kept thread: it waits for work on its channel.
type userThread struct {
	cred userCred
	work chan threadJob
}

type threadJob struct {
	f    func()
	done chan int // threadOK or threadPanic
}

// run runs f on a thread that is uid:gid (becomeUser), a kept one if one
// is idle, and says how it went (threadOK, threadMain, threadCreds,
// threadPanic).
func (p *userThreads) run(uid, gid int, f func()) int {
	c := userCred{uid, gid}
	if t := p.take(c); t != nil {
		done := make(chan int, 1)
		t.work <- threadJob{f, done}
		return <-done
	}
	ch := make(chan int, 1)
	go p.newThread(c, f, ch)
	return <-ch
}

// take removes an idle thread of c from the pool, or gives nil.
func (p *userThreads) take(c userCred) *userThread {
	p.mu.Lock()
	defer p.mu.Unlock()
	ts := p.idle[c]
	if len(ts) == 0 {
		return nil
	}
	t := ts[len(ts)-1]
	p.idle[c] = ts[:len(ts)-1]
	if len(p.idle[c]) == 0 {
		delete(p.idle, c)
	}
	p.nIdle--
	return t
}

// newThread is the goroutine of a new thread: the main-thread check and becomeUser, the
// first work, and then, while it is wanted, the user's next work.
func (p *userThreads) newThread(c userCred, f func(), first chan int) {
	runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
	if syscall.Gettid() == os.Getpid() {
		runtime.UnlockOSThread()
		first <- threadMain
		return
	}
	if os.Geteuid() == 0 {
		if err := becomeUser(c.uid, c.gid); err != nil {
			first <- threadCreds
			return
		}
	}
	t := &userThread{cred: c, work: make(chan threadJob)}
	job := threadJob{f, first}
	for {
		outcome := runWork(job.f)
		if outcome != threadOK {
			job.done <- outcome
			return // panicked: the thread's state is unknown; drop it
		}
		// Parked before the caller hears back, so that the caller's next
		// work for the same user finds this thread waiting.
		parked := p.park(t)
		job.done <- threadOK
		if !parked {
			return
		}
		var ok bool
		if job, ok = p.wait(t); !ok {
			return
		}
	}
}

// runWork runs one piece of work: threadOK, or threadPanic if it
// panicked.
func runWork(f func()) (outcome int) {
	defer func() {
		if recover() != nil {
			outcome = threadPanic
		}
	}()
	f()
	return threadOK
}

// park puts t among the idle threads; false if the pool is full.
func (p *userThreads) park(t *userThread) bool {
	max := p.maxIdle
	if max == 0 {
		max = threadMaxIdle
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nIdle >= max {
		return false
	}
	if p.idle == nil {
		p.idle = map[userCred][]*userThread{}
	}
	p.idle[t.cred] = append(p.idle[t.cred], t)
	p.nIdle++
	return true
}

// wait gives t's next work, or false once t has been idle for idleFor
// and is no longer in the pool. A thread taken (take) just as its time
// ran out gets its work: take sends it after removing the thread.
func (p *userThreads) wait(t *userThread) (threadJob, bool) {
	idle := p.idleFor
	if idle == 0 {
		idle = threadIdle
	}
	timer := time.NewTimer(idle)
	defer timer.Stop()
	select {
	case j := <-t.work:
		return j, true
	case <-timer.C:
	}
	p.mu.Lock()
	ts := p.idle[t.cred]
	for i, x := range ts {
		if x == t {
			p.idle[t.cred] = append(ts[:i], ts[i+1:]...)
			if len(p.idle[t.cred]) == 0 {
				delete(p.idle, t.cred)
			}
			p.nIdle--
			p.mu.Unlock()
			return threadJob{}, false
		}
	}
	p.mu.Unlock()
	return <-t.work, true // taken meanwhile: its work is on the way
}
