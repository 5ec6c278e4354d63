package spawn

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestMain keeps the main goroutine on the main thread, as cmd/qmail
// does, so that no work lands there (userThreads refuses it).
func TestMain(m *testing.M) {
	runtime.LockOSThread()
	os.Exit(m.Run())
}

// tidOf runs work for uid:gid through p and returns the thread's id, its
// file-system uid (what files are opened as) and its real uid.
func tidOf(t *testing.T, p *userThreads, uid, gid int) (tid int, fsuid, ruid int) {
	t.Helper()
	r := p.run(uid, gid, func() {
		tid = syscall.Gettid()
		f, _, _ := syscall.RawSyscall(syscall.SYS_SETFSUID, ^uintptr(0), 0, 0) // -1: only asks
		fsuid = int(f)
		var r, e, s uint32
		syscall.RawSyscall(syscall.SYS_GETRESUID, uintptr(uptr(&r)), uintptr(uptr(&e)), uintptr(uptr(&s)))
		ruid = int(r)
	})
	if r != threadOK {
		t.Fatalf("run: outcome %d", r)
	}
	return
}

// TestUserThreadsReuse: the same user's next work runs on the thread kept
// from the last, as that user; another user's never does; an idle thread
// is dropped after idleFor; a panic drops its thread.
func TestUserThreadsReuse(t *testing.T) {
	p := &userThreads{idleFor: 300 * time.Millisecond}
	uidA, uidB := os.Geteuid(), os.Geteuid()
	if os.Geteuid() == 0 {
		uidA, uidB = 65534, 65533
	}
	// The real uid stays the process's: a user may signal (and so stop
	// or kill the whole process) and set limits of a thread whose real
	// or saved uid is his.
	realUID := os.Getuid()
	a1, fsuid, ruid := tidOf(t, p, uidA, uidA)
	if fsuid != uidA || ruid != realUID {
		t.Fatalf("work ran with fsuid %d, real uid %d; want %d and %d", fsuid, ruid, uidA, realUID)
	}
	a2, fsuid, ruid := tidOf(t, p, uidA, uidA)
	if a2 != a1 {
		t.Errorf("same user's next work on thread %d, not the kept %d", a2, a1)
	}
	if fsuid != uidA || ruid != realUID {
		t.Errorf("reused thread has fsuid %d, real uid %d; want %d and %d", fsuid, ruid, uidA, realUID)
	}
	if os.Geteuid() == 0 {
		b, fsuid, _ := tidOf(t, p, uidB, uidB)
		if b == a1 {
			t.Errorf("another user's work ran on user %d's thread", uidA)
		}
		if fsuid != uidB {
			t.Errorf("work ran with fsuid %d, want %d", fsuid, uidB)
		}
	}

	// Idle past idleFor: the thread is gone and the pool is empty.
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		n := p.nIdle
		p.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d idle threads never dropped", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a3, _, _ := tidOf(t, p, uidA, uidA); a3 == a1 {
		t.Errorf("thread %d reused after it was dropped", a1)
	}

	// A panic is reported and its thread not kept.
	var pt int
	if r := p.run(uidA, uidA, func() { pt = syscall.Gettid(); panic("boom") }); r != threadPanic {
		t.Fatalf("panic reported as %d", r)
	}
	if next, _, _ := tidOf(t, p, uidA, uidA); next == pt {
		t.Errorf("the thread that panicked (%d) ran more work", pt)
	}
}

// TestUserThreadsMaxIdle: no more than maxIdle threads wait.
func TestUserThreadsMaxIdle(t *testing.T) {
	p := &userThreads{maxIdle: 2, idleFor: 5 * time.Second}
	uid := os.Geteuid()
	release := make(chan struct{})
	started := make(chan struct{}, 5)
	done := make(chan int, 5)
	for i := 0; i < 5; i++ {
		go func() {
			done <- p.run(uid, uid, func() { started <- struct{}{}; <-release })
		}()
	}
	for i := 0; i < 5; i++ {
		<-started
	}
	close(release)
	for i := 0; i < 5; i++ {
		if r := <-done; r != threadOK {
			t.Fatalf("outcome %d", r)
		}
	}
	p.mu.Lock()
	n := p.nIdle
	p.mu.Unlock()
	if n != 2 {
		t.Errorf("%d idle threads kept, want 2", n)
	}
}

func uptr(p *uint32) unsafe.Pointer { return unsafe.Pointer(p) }
