package durable

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGroupRealFolder: concurrent callers on a real folder all succeed,
// and a missing folder's error reaches its caller.
func TestGroupRealFolder(t *testing.T) {
	var g Group
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- g.SyncDir(dir)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := g.SyncDir(dir + "/missing"); err == nil {
		t.Fatal("fsync of a missing folder succeeded")
	}
	if len(g.dirs) != 0 {
		t.Errorf("idle group still tracks %d folders", len(g.dirs))
	}
	var nilGroup *Group
	if err := nilGroup.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCoalesces holds the first fsync while others arrive: they must
// all be served by one second fsync that starts after the first ends
// (never by the first, which began before they asked), and its error is
// theirs.
func TestGroupCoalesces(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	started := make(chan int32, 10)
	second := errors.New("second fsync failed")
	g := &Group{sync: func(string) error {
		n := calls.Add(1)
		started <- n
		if n == 1 {
			<-release
			return nil
		}
		return second
	}}
	first := make(chan error, 1)
	go func() { first <- g.SyncDir("d") }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("first fsync never started")
	}
	const late = 8
	lateErrs := make(chan error, late)
	var joined sync.WaitGroup
	for i := 0; i < late; i++ {
		joined.Add(1)
		go func() {
			joined.Done()
			lateErrs <- g.SyncDir("d")
		}()
	}
	joined.Wait()
	// Give the late callers time to queue behind the held fsync; if one
	// has not yet, it simply starts or joins the second round itself.
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		queued := g.dirs["d"] != nil && g.dirs["d"].next != nil
		g.mu.Unlock()
		if queued || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-lateErrs:
		t.Fatalf("a late caller returned (%v) before any fsync it could rely on", err)
	default:
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first caller: %v", err)
	}
	for i := 0; i < late; i++ {
		select {
		case err := <-lateErrs:
			if !errors.Is(err, second) {
				t.Fatalf("late caller got %v, want the second fsync's error", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("late caller never returned")
		}
	}
	if n := calls.Load(); n < 2 || n > 1+late {
		t.Fatalf("%d fsyncs", n)
	}
	t.Logf("%d callers, %d fsyncs", 1+late, calls.Load())
}
