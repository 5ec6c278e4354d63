package send

import (
	"testing"
	"time"

	"goqmail/internal/control"
)

func TestRewrite(t *testing.T) {
	rw := &rewriter{
		envnoathost: "example.com",
		locals:      control.NewSet([]string{"example.com", "localhost"}),
		percenthack: control.NewSet([]string{"relay.example.com"}),
		vdoms: control.ParseMap([]string{
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
		got, local := rw.rewrite(c.in)
		if got != c.out || local != c.local {
			t.Errorf("rewrite(%q) = %q %v, want %q %v", c.in, got, local, c.out, c.local)
		}
	}
	if got := rw.stripPrepend("joe-bob@virt.example"); got != "bob@virt.example" {
		t.Errorf("stripPrepend = %q", got)
	}
	if got := rw.stripPrepend("spec-special@virt.example"); got != "spec-special@virt.example" {
		t.Errorf("stripPrepend of a user@domain entry = %q", got)
	}
}

func TestVERP(t *testing.T) {
	for _, c := range []struct{ sender, recip, want string }{
		{"owner-@list.example-@[]", "joe@x.org", "owner-joe=x.org@list.example"},
		{"owner@list.example", "joe@x.org", "owner@list.example"},
		{"owner-@list.example-@[]", "noat", "owner-@list.example-@[]"},
		{"", "joe@x.org", ""},
	} {
		if got := verp(c.sender, c.recip); got != c.want {
			t.Errorf("verp(%q, %q) = %q, want %q", c.sender, c.recip, got, c.want)
		}
	}
}

func TestRetrySchedule(t *testing.T) {
	birth := time.Unix(1000000, 0)
	// Attempts after queueing: local 0, 100, 400, 900...; remote 0, 400, 1600, 3600...
	for _, c := range []struct {
		age  int
		ch   int
		want int
	}{
		{0, 0, 100}, {100, 0, 400}, {400, 0, 900}, {899, 0, 1521}, {900, 0, 1600},
		{0, 1, 400}, {400, 1, 1600}, {1600, 1, 3600}, {-50, 0, 100},
	} {
		got := nextRetry(birth, birth.Add(time.Duration(c.age)*time.Second), c.ch)
		if d := got.Sub(birth); d != time.Duration(c.want)*time.Second {
			t.Errorf("age %d chan %d: next at +%v, want +%ds", c.age, c.ch, d, c.want)
		}
	}
}
