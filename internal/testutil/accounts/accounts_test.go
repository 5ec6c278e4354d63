package accounts

import "testing"

// TestUnder: a sibling whose name starts like base is not under it
// (Release would otherwise move another test's accounts).
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
