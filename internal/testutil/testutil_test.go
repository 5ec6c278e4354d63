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

// TestUnder: a sibling whose name starts like base is not under it
// (ReleaseQmailAccounts would otherwise move another test's accounts).
func TestUnder(t *testing.T) {
	for _, c := range []struct {
		p, base string
		want    bool
	}{
		{"/tmp/a", "/tmp/a", true},
		{"/tmp/a/qmail/alias", "/tmp/a", true},
		{"/tmp/ab/qmail", "/tmp/a", false},
		{"/var/qmail", "/tmp/a", false},
	} {
		if got := under(c.p, c.base); got != c.want {
			t.Errorf("under(%q, %q) = %v", c.p, c.base, got)
		}
	}
}
