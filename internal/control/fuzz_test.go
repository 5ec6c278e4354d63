package control_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"goqmail/internal/control"
)

func FuzzParseList(f *testing.F) {
	for _, s := range []string{"", "a\n", "#c\n\na \t\r\nb", "  x\n#\n\r\n", "a:b\nA:c\n", "\xff\x00\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := control.ParseList(data)
		for _, l := range lines {
			if l == "" || l[0] == '#' || strings.ContainsRune(l, '\n') || strings.TrimRight(l, " \t\r") != l {
				t.Fatalf("ParseList(%q) gave the line %q", data, l)
			}
			if !bytes.Contains(data, []byte(l)) {
				t.Fatalf("ParseList(%q) made up %q", data, l)
			}
		}
		// The significant lines are a fixed point.
		again := control.ParseList([]byte(strings.Join(lines, "\n")))
		if len(lines) > 0 && !reflect.DeepEqual(again, lines) {
			t.Fatalf("ParseList is not stable: %q then %q", lines, again)
		}
		checkMap(t, lines)
	})
}

func FuzzParseMap(f *testing.F) {
	for _, s := range []string{"", "a:b", "A:b\na:c", "nocolon\n:empty key\nk:", "\xff:x\n\xfe:y", "\u212a:k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkMap(t, strings.Split(s, "\n"))
	})
}

// checkMap: every line with a ':' can be found in the map by its key in
// any ASCII case, the last line for a key wins, and lines without one
// are not there.
func checkMap(t *testing.T, lines []string) {
	m := control.ParseMap(lines)
	for k := range m {
		if strings.IndexByte(k, ':') >= 0 || strings.ContainsAny(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Fatalf("ParseMap(%q) has the key %q", lines, k)
		}
	}
	last := map[string]string{}
	for _, l := range lines {
		if i := strings.IndexByte(l, ':'); i >= 0 {
			last[asciiUpper(l[:i])] = l[i+1:]
		}
	}
	for k, want := range last {
		if got, ok := m.Get(k); !ok || got != want {
			t.Fatalf("ParseMap(%q).Get(%q) = %q %v, want %q (the last line wins)", lines, k, got, ok, want)
		}
	}
	if len(m) != len(last) {
		t.Fatalf("ParseMap(%q) has %d keys, want %d", lines, len(m), len(last))
	}
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
