package durable

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/testutil"
)

// TestFSReal: rounds of a real syncfs on the test's file system succeed
// for many concurrent callers, and FSSet gives one FS per file system.
func TestFSReal(t *testing.T) {
	dir := t.TempDir()
	var set FSSet
	fs, err := set.For(dir)
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	if again, _ := set.For(sub); again != fs {
		t.Error("FSSet made a second FS for the same file system")
	}
	if _, err := set.For(filepath.Join(dir, "missing")); err == nil {
		t.Error("FSSet.For a missing folder succeeded")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := fs.Begin()
			if err := os.WriteFile(filepath.Join(dir, "f"+string(rune('a'+i))), []byte("x"), 0o600); err != nil {
				errs <- err
				return
			}
			errs <- fs.Sync(tok)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestFSCoalesces holds the first round while others call Sync: they are
// all served by one second round, which starts after the first ends —
// never by the first, which began before they asked.
func TestFSCoalesces(t *testing.T) {
	var rounds atomic.Int32
	release := make(chan struct{})
	started := make(chan int32, 10)
	fs := &FS{sync: func() error {
		n := rounds.Add(1)
		started <- n
		if n == 1 {
			<-release
		}
		return nil
	}}
	first := make(chan error, 1)
	go func() { first <- fs.Sync(fs.Begin()) }()
	if n := <-started; n != 1 {
		t.Fatalf("first round is %d", n)
	}
	const late = 5
	var wg sync.WaitGroup
	lateDone := make(chan error, late)
	for i := 0; i < late; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lateDone <- fs.Sync(fs.Begin())
		}()
	}
	// Let them queue behind the first round (at most 5 s), then none of
	// them may return while it runs. (A round joined wrongly would block
	// too: the count of rounds below is what tells that.)
	for i := 0; i < 500; i++ {
		fs.mu.Lock()
		queued := fs.rounds.next != nil
		fs.mu.Unlock()
		if queued {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-lateDone:
		t.Fatal("a caller returned on a round that began before it called")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(lateDone)
	for err := range lateDone {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := rounds.Load(); n != 2 {
		t.Errorf("%d rounds, want 2 (the late callers share one)", n)
	}
}

// TestFSErrorNotMissed: a write error that a round reports once is the
// error of every caller that began writing before that round ended, even
// one whose own round comes later and succeeds; a caller that began after
// it is not failed by it.
func TestFSErrorNotMissed(t *testing.T) {
	fail := errors.New("EIO")
	var mu sync.Mutex
	var next error
	set := func(err error) { mu.Lock(); next = err; mu.Unlock() }
	fs := &FS{sync: func() error { mu.Lock(); defer mu.Unlock(); return next }}
	early := fs.Begin() // began writing before the error
	set(fail)
	if err := fs.Sync(fs.Begin()); !errors.Is(err, fail) {
		t.Fatalf("the failing round gave %v", err)
	}
	set(nil)
	if err := fs.Sync(early); err == nil {
		t.Fatal("a caller that began before the failed round was told its data is safe")
	}
	if err := fs.Sync(fs.Begin()); err != nil {
		t.Fatalf("a caller that began after the failed round: %v", err)
	}
}

// TestFSOnlyKnownFileSystems: OpenFS takes ext4, xfs, btrfs and tmpfs,
// and refuses a file system whose syncfs it does not know (/proc here).
func TestFSOnlyKnownFileSystems(t *testing.T) {
	fs, err := OpenFS(t.TempDir())
	if err != nil {
		t.Skipf("the test's temporary folder is on an unknown file system: %v", err)
	}
	fs.Close()
	if _, err := OpenFS("/proc"); !errors.Is(err, ErrNoSyncfs) {
		t.Errorf("OpenFS(/proc) = %v, want ErrNoSyncfs", err)
	}
	var set FSSet
	for i := 0; i < 2; i++ { // the refusal is remembered, and still said
		if f, err := set.For("/proc"); f != nil || !errors.Is(err, ErrNoSyncfs) {
			t.Errorf("FSSet.For(/proc) = %v, %v; want nil, ErrNoSyncfs", f, err)
		}
	}
}

func TestKernelAtLeast(t *testing.T) {
	for _, c := range []struct {
		rel  string
		want bool
	}{{"6.18.44-fc-v669", true}, {"5.17.0", true}, {"5.18.1", true}, {"5.16.20", false}, {"5.10.0-28-amd64", false}, {"4.19.0-26-amd64", false}, {"junk", false}} {
		if got := kernelAtLeast(c.rel, 5, 17); got != c.want {
			t.Errorf("kernelAtLeast(%q, 5, 17) = %v", c.rel, got)
		}
	}
}

// TestFlushAfterSyncfs: the folder fsync after syncfs is kept for ext4
// without a journal (this test's machine may be either: it checks the
// answer against /proc/fs/jbd2) and dropped for the journaled others.
func TestFlushAfterSyncfs(t *testing.T) {
	if flushAfterSyncfs(0x58465342, 0) || flushAfterSyncfs(0x9123683e, 0) || flushAfterSyncfs(0x01021994, 0) {
		t.Error("xfs, btrfs or tmpfs asked for the fsync after syncfs")
	}
	var st syscall.Stat_t
	var sfs syscall.Statfs_t
	dir := t.TempDir()
	if syscall.Stat(dir, &st) != nil || syscall.Statfs(dir, &sfs) != nil || sfs.Type != 0xef53 {
		t.Skip("the temporary folder is not on ext2/3/4")
	}
	journals, _ := filepath.Glob("/proc/fs/jbd2/*")
	got := flushAfterSyncfs(0xef53, st.Dev)
	if len(journals) == 0 && !got {
		t.Error("no journal on this machine, and no fsync after syncfs")
	}
	t.Logf("journals %v: fsync after syncfs %v", journals, got)
}

// TestFlushAfterSyncfsExt4: on two small ext4 file systems made for the
// test on loop devices (in a mount namespace of its own), the fsync after
// syncfs is asked for without a journal and not with one, whatever the
// machine's own disk is (TestFlushAfterSyncfs can check only that one).
func TestFlushAfterSyncfsExt4(t *testing.T) {
	for _, tool := range []string{"mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found", tool)
		}
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("no loop devices: %v", err)
	}
	if !testutil.InMountNamespace(t, nil) {
		return
	}
	for _, journal := range []bool{false, true} {
		img := filepath.Join(t.TempDir(), "ext4.img")
		if err := os.WriteFile(img, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, 32<<20); err != nil {
			t.Fatal(err)
		}
		args := []string{"-q", "-F"}
		if !journal {
			args = append(args, "-O", "^has_journal")
		}
		if out, err := exec.Command("mkfs.ext4", append(args, img)...).CombinedOutput(); err != nil {
			t.Fatalf("mkfs.ext4 %v: %v\n%s", args, err, out)
		}
		dir := t.TempDir()
		if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
			t.Fatalf("mount -o loop: %v\n%s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", dir).Run() })
		var st syscall.Stat_t
		var sfs syscall.Statfs_t
		if err := syscall.Stat(dir, &st); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Statfs(dir, &sfs); err != nil {
			t.Fatal(err)
		}
		if got := flushAfterSyncfs(int64(sfs.Type), st.Dev); got == journal {
			t.Errorf("ext4 with journal %v: fsync after syncfs %v, want %v", journal, got, !journal)
		}
	}
}

// TestOpenFSForOtherDevice: an FS is refused when one of the folders its
// user writes into is on another file system (here /dev/shm or /proc):
// the rounds would never write it.
func TestOpenFSForOtherDevice(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	fs, err := OpenFSFor(dir, []string{sub})
	if err != nil {
		t.Skipf("no FS on the temporary folder's file system: %v", err)
	}
	fs.Close()
	var a, b syscall.Stat_t
	other := "/dev/shm"
	if syscall.Stat(other, &b) != nil {
		other = "/proc"
		syscall.Stat(other, &b)
	}
	if syscall.Stat(dir, &a) != nil || a.Dev == b.Dev {
		t.Skip("no folder on another file system to compare with")
	}
	if fs, err := OpenFSFor(dir, []string{sub, other}); !errors.Is(err, ErrNoSyncfs) {
		if fs != nil {
			fs.Close()
		}
		t.Errorf("%s on another device: %v, want ErrNoSyncfs", other, err)
	}
	if _, err := OpenFSFor(dir, []string{filepath.Join(dir, "missing")}); !errors.Is(err, ErrNoSyncfs) {
		t.Errorf("missing folder: %v, want ErrNoSyncfs", err)
	}
}
