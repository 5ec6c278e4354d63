package control

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// age moves a file's timestamps back, always to the same moment, as
// those of a file edited long ago.
func age(t *testing.T, p string) {
	t.Helper()
	old := time.Unix(1_000_000_000, 0)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
}

// TestCacheSeesEveryChange: a cached control file is read again after an
// in-place edit of the same size, a replacement by rename, a removal and
// a chmod that makes it unreadable — each as the next read, as qmail-smtpd
// started afresh would see it.
func TestCacheSeesEveryChange(t *testing.T) {
	// No settle time: the stamp alone must tell every change (the
	// settle rule is TestCacheRecentFileAlwaysRead's).
	old := settle
	settle = 0
	t.Cleanup(func() { settle = old })
	home := t.TempDir()
	if err := os.Mkdir(filepath.Join(home, "control"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := New(home)
	p := d.Path("rcpthosts")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	line := func() string {
		t.Helper()
		v, ok, err := d.Line("rcpthosts")
		if err != nil || !ok {
			t.Fatalf("Line: %q %v %v", v, ok, err)
		}
		return v
	}

	write("aaa.example\n")
	age(t, p)
	if got := line(); got != "aaa.example" {
		t.Fatalf("first read %q", got)
	}
	if got := line(); got != "aaa.example" {
		t.Fatalf("cached read %q", got)
	}
	fileCache.Lock()
	_, cached := fileCache.m[p]
	fileCache.Unlock()
	if !cached {
		t.Fatal("the file is not in the cache: the checks below would prove nothing")
	}
	// Same size, timestamps forced back to the very same values: only
	// ctime (which chtimes sets to now) tells them apart.
	write("bbb.example\n")
	age(t, p)
	if got := line(); got != "bbb.example" {
		t.Fatalf("after same-size edit: %q", got)
	}

	// Replaced by rename: another inode.
	tmp := p + ".new"
	if err := os.WriteFile(tmp, []byte("ccc.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	age(t, tmp)
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	if got := line(); got != "ccc.example" {
		t.Fatalf("after rename: %q", got)
	}

	// Removed: missing, not the cached bytes.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := d.Line("rcpthosts"); ok || err != nil {
		t.Fatalf("after remove: ok=%v err=%v", ok, err)
	}

	// Unreadable (not for root, who reads anything): an error, not the
	// cached bytes.
	if os.Geteuid() != 0 {
		write("ddd.example\n")
		age(t, p)
		line()
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.Line("rcpthosts"); err == nil {
			t.Fatal("chmod 0: read succeeded from the cache")
		}
	}
}

// TestCacheRecentFileAlwaysRead: a file changed within the settle time
// is read every time, so two writes in one clock tick are both seen.
func TestCacheRecentFileAlwaysRead(t *testing.T) {
	home := t.TempDir()
	os.Mkdir(filepath.Join(home, "control"), 0o755)
	d := New(home)
	p := d.Path("me")
	for i, s := range []string{"one.example", "two.example", "six.example"} {
		if err := os.WriteFile(p, []byte(s+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if v, _, _ := d.Line("me"); v != s {
			t.Fatalf("write %d: read %q, want %q", i, v, s)
		}
	}
}
