package smtpout

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

func encode(msg []byte) []byte {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	if err := blast(w, bytes.NewReader(msg)); err != nil {
		panic(err)
	}
	w.Flush()
	return b.Bytes()
}

// checkWire checks what a strict receiver sees after "DATA\r\n": only
// CRLF line ends, exactly one CRLF.CRLF and it is the end, also when the
// receiver drops NUL bytes; and undoing the dot-stuffing gives back the
// message with every line end made CRLF.
func checkWire(t *testing.T, msg, wire []byte) {
	t.Helper()
	for _, w := range [][]byte{wire, bytes.ReplaceAll(wire, []byte{0}, nil)} {
		for i, c := range w {
			if c == '\r' && (i+1 >= len(w) || w[i+1] != '\n') {
				t.Fatalf("bare CR at %d in %q (message %q)", i, w, msg)
			}
			if c == '\n' && (i == 0 || w[i-1] != '\r') {
				t.Fatalf("bare LF at %d in %q (message %q)", i, w, msg)
			}
		}
		s := append([]byte("\r\n"), w...)
		if n := bytes.Count(s, []byte("\r\n.\r\n")); n != 1 || !bytes.HasSuffix(s, []byte("\r\n.\r\n")) {
			t.Fatalf("%d terminators in %q (message %q)", n, w, msg)
		}
	}
	lines := strings.Split(strings.TrimSuffix(string(wire), ".\r\n"), "\r\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, ".")
	}
	got := strings.Join(lines, "\r\n")
	want := strings.NewReplacer("\r\n", "\r\n", "\r", "\r\n", "\n", "\r\n").Replace(string(msg))
	if len(want) > 0 && !strings.HasSuffix(want, "\r\n") {
		want += "\r\n"
	}
	if got != want {
		t.Fatalf("unstuffed %q, want %q", got, want)
	}
}

func TestBlastCases(t *testing.T) {
	tests := []struct{ msg, wire string }{
		{"", ".\r\n"},
		{"a\n", "a\r\n.\r\n"},
		{".\n", "..\r\n.\r\n"},
		{"a\n.\nb", "a\r\n..\r\nb\r\n.\r\n"},
		{"partial", "partial\r\n.\r\n"},
		{"a\r.\rMAIL FROM:<x@evil>\n", "a\r\n..\r\nMAIL FROM:<x@evil>\r\n.\r\n"}, // crcr
		{"a\r.\r\nb\n", "a\r\n..\r\nb\r\n.\r\n"},                                 // crcrlf
		{"a\n.\r\nb\n", "a\r\n..\r\nb\r\n.\r\n"},                                 // lfcrlf
		{"a\r\n\x00.\r\nb\n", "a\r\n.\x00.\r\nb\r\n.\r\n"},                       // nul-before
		{"a\r\n.\x00\r\n", "a\r\n..\x00\r\n.\r\n"},                               // nul-after
		{"a\r\r\n.\r\r\n", "a\r\n\r\n..\r\n\r\n.\r\n"},                           // crcrlf-crcrlf
		{"end\r", "end\r\n.\r\n"},
		{"\xff8bit\n", "\xff8bit\r\n.\r\n"},
	}
	for _, tc := range tests {
		got := encode([]byte(tc.msg))
		if string(got) != tc.wire {
			t.Errorf("%q: got %q, want %q", tc.msg, got, tc.wire)
		}
		checkWire(t, []byte(tc.msg), got)
	}
}

// TestBlastProperty: random messages made of the bytes that matter.
func TestBlastProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("\r\n.\x00aZ \xff")
	for i := 0; i < 5000; i++ {
		msg := make([]byte, r.IntN(40))
		for j := range msg {
			msg[j] = alphabet[r.IntN(len(alphabet))]
		}
		checkWire(t, msg, encode(msg))
	}
}

func FuzzBlast(f *testing.F) {
	for _, s := range []string{"", "a\r.\r", "\n.\n", "\r\n\x00.\r\n", "x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) { checkWire(t, msg, encode(msg)) })
}
