package rewrite

import (
	"testing"

	"goqmail/internal/control"
)

func TestRewrite(t *testing.T) {
	rw := &Rewriter{
		EnvNoAtHost: "example.com",
		Locals:      control.NewSet([]string{"example.com", "localhost"}),
		PercentHack: control.NewSet([]string{"relay.example.com"}),
		VirtualDoms: control.ParseMap([]string{
			"virt.example:joe",
			".sub.example:subs",
			"special@virt.example:spec",
			"except.sub.example:",
			"vip@other.example:",
			":catchall",
		}),
	}
	for _, c := range []struct {
		in, out string
		local   bool
	}{
		{"bob", "bob@example.com", true},
		{"bob@EXAMPLE.COM", "bob@EXAMPLE.COM", true},
		{"bob@Virt.Example", "joe-bob@Virt.Example", true},
		{"special@virt.example", "spec-special@virt.example", true},
		{"x@a.sub.example", "subs-x@a.sub.example", true},
		{"x@a.b.sub.example", "subs-x@a.b.sub.example", true},
		{"x@except.sub.example", "x@except.sub.example", false},
		{"x@sub.example", "catchall-x@sub.example", true},
		{"vip@other.example", "vip@other.example", false},
		{"anyone@other.example", "catchall-anyone@other.example", true},
		{"u%host.test@relay.example.com", "catchall-u@host.test", true},
		{"u%localhost@relay.example.com", "u@localhost", true},
		{"a%b%relay.example.com@relay.example.com", "catchall-a@b", true},
		{"u%host.test@notrelay.example", "catchall-u%host.test@notrelay.example", true},
	} {
		got, local := rw.Rewrite(c.in)
		if got != c.out || local != c.local {
			t.Errorf("rewrite(%q) = %q %v, want %q %v", c.in, got, local, c.out, c.local)
		}
	}
	if got := rw.StripPrepend("joe-bob@virt.example"); got != "bob@virt.example" {
		t.Errorf("stripPrepend = %q", got)
	}
	if got := rw.StripPrepend("spec-special@virt.example"); got != "spec-special@virt.example" {
		t.Errorf("stripPrepend of a user@domain entry = %q", got)
	}
}
