package plainfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestOpen: a file made with Open is written, read back whole by
// ReadFile (empty, small, and larger than a first guess), and the errors
// are os.OpenFile's: exists, not exists, with the path in them.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	f, err := Open(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := f.Stat(); fi.Mode().Perm() != 0o640&^currentUmask() {
		t.Errorf("mode %v", fi.Mode())
	}
	if _, err := Open(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second exclusive create: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "none"), os.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) || !bytes.Contains([]byte(err.Error()), []byte("none")) {
		t.Errorf("missing file: %v", err)
	}
	if b, err := ReadFile(p); err != nil || len(b) != 0 {
		t.Errorf("empty: %q %v", b, err)
	}
	for _, size := range []int{1, 511, 512, 513, 70000} {
		want := bytes.Repeat([]byte("x"), size)
		f.Truncate(0)
		f.WriteAt(want, 0)
		if got, err := ReadFile(p); err != nil || !bytes.Equal(got, want) {
			t.Errorf("size %d: read %d bytes, %v", size, len(got), err)
		}
	}
	f.Close()
	// /proc files say size 0: read whole too.
	if b, err := ReadFile("/proc/self/status"); err != nil || !bytes.Contains(b, []byte("Pid:")) {
		t.Errorf("/proc/self/status: %d bytes, %v", len(b), err)
	}
}

func currentUmask() os.FileMode {
	dir, _ := os.MkdirTemp("", "umask")
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "f")
	os.WriteFile(p, nil, 0o777)
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return 0o777 &^ fi.Mode().Perm()
}

// TestRemove: a file goes; a missing one is fs.ErrNotExist; a folder
// stays (Remove is for files).
func TestRemove(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Remove(p); err != nil {
		t.Fatalf("Remove of a file: %v", err)
	}
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("file still there: %v", err)
	}
	if err := Remove(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove of a missing file: %v, want not-exist", err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Remove(sub); err == nil {
		t.Errorf("Remove of a folder succeeded")
	}
	if fi, err := os.Stat(sub); err != nil || !fi.IsDir() {
		t.Errorf("folder gone: %v", err)
	}
}
