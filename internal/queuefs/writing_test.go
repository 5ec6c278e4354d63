package queuefs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestBeingWritten: a message file is being written while a process holds
// it open under LockWriting, and no longer once that closes it; a file
// nobody locked, or none at all, is not.
func TestBeingWritten(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "4711")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if BeingWritten(p) {
		t.Error("an unlocked file is being written")
	}
	if err := LockWriting(f); err != nil {
		t.Fatal(err)
	}
	if !BeingWritten(p) {
		t.Error("a locked file is not being written")
	}
	if !BeingWritten(p) {
		t.Error("asking took the writer's lock away")
	}
	f.Close()
	if BeingWritten(p) {
		t.Error("a file its writer closed is still being written")
	}
	if BeingWritten(filepath.Join(dir, "missing")) {
		t.Error("a missing file is being written")
	}
}
