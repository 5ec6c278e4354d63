package mbox

import (
	"bufio"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
)

var quotedFrom = regexp.MustCompile(`(?m)^>(>*From )`)

// FuzzQuote checks that the quoting is exactly mboxrd's: removing one '>'
// from every line that starts with '>'s and "From " gives the message
// back, whatever the chunking of the input.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "From x\n", ">From\n>>From y", "a\nFrom", ">>>", "From From \n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var a, b strings.Builder
		wa, wb := bufio.NewWriter(&a), bufio.NewWriter(&b)
		if _, _, err := copyQuoted(wa, strings.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := copyQuoted(wb, iotest.HalfReader(strings.NewReader(in))); err != nil {
			t.Fatal(err)
		}
		wa.Flush()
		wb.Flush()
		if a.String() != b.String() {
			t.Fatalf("chunking changes the output: %q vs %q", a.String(), b.String())
		}
		if back := quotedFrom.ReplaceAllString(a.String(), "$1"); back != in {
			t.Fatalf("unquoting %q gives %q, want %q", a.String(), back, in)
		}
	})
}
