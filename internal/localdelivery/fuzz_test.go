package localdelivery

import (
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzHasLine compares the streaming loop check with the obvious one.
func FuzzHasLine(f *testing.F) {
	for _, s := range []string{"", "Delivered-To: a@b\n", "X\n\nDelivered-To: a@b\n", "Delivered-To: a@b"} {
		f.Add(s)
	}
	const dt = "Delivered-To: a@b\n"
	f.Fuzz(func(t *testing.T, msg string) {
		want := false
		for _, l := range strings.SplitAfter(msg, "\n") {
			if len(l) <= 1 {
				break
			}
			if l == dt {
				want = true
				break
			}
		}
		got, err := hasLine(iotest.HalfReader(strings.NewReader(msg)), dt)
		if err != nil || got != want {
			t.Fatalf("hasLine(%q) = %v, %v; want %v", msg, got, err, want)
		}
	})
}
