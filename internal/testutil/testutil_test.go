package testutil

import (
	"os"
	"testing"
)

func TestReexec(t *testing.T) {
	if !AsUnprivileged(t) {
		return
	}
	if os.Getuid() == 0 {
		t.Fatal("root")
	}
	f := t.TempDir() + "/x"
	os.WriteFile(f, []byte("x"), 0)
	if _, err := os.ReadFile(f); err == nil {
		t.Fatal("readable")
	}
}
