package netstring

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	tests := []struct {
		in   string
		max  int64
		want string
		err  error
	}{
		{"5:hello,", 10, "hello", nil},
		{"0:,", 10, "", nil},
		{"005:hello,", 10, "hello", nil},
		{"12a:x,", 100, "", ErrMalformed},
		{":x,", 100, "", ErrMalformed},
		{" 5:hello,", 100, "", ErrMalformed},
		{"-1:,", 100, "", ErrMalformed},
		{"5:hello;", 100, "", ErrMalformed},
		{"99999999999:", 1 << 30, "", ErrTooLong},
		{"9999999999999999999999:", 1 << 62, "", ErrTooLong},
		{"11:hello world,", 10, "", ErrTooLong},
		{"5:hel", 10, "", io.ErrUnexpectedEOF},
		{"5", 10, "", io.ErrUnexpectedEOF},
		{"5:hello", 10, "", io.ErrUnexpectedEOF},
		{"", 10, "", io.EOF},
	}
	for _, tt := range tests {
		got, err := Read(bufio.NewReader(strings.NewReader(tt.in)), tt.max)
		if !errors.Is(err, tt.err) || (err == nil && string(got) != tt.want) {
			t.Errorf("Read(%q, %d) = %q, %v; want %q, %v", tt.in, tt.max, got, err, tt.want, tt.err)
		}
	}
}

func TestEncode(t *testing.T) {
	for in, want := range map[string]string{"": "0:,", "hello": "5:hello,", "a,b:c": "5:a,b:c,"} {
		if got := Encode(in); got != want || Len(len(in)) != len(want) {
			t.Errorf("Encode(%q) = %q (Len %d), want %q", in, got, Len(len(in)), want)
		}
	}
}

func FuzzRead(f *testing.F) {
	for _, s := range []string{"5:hello,", "0:,", "12a:", "99999999999:", "3:ab"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Read(bufio.NewReader(strings.NewReader(s)), 1000)
		if err != nil {
			return
		}
		if len(got) > 1000 {
			t.Fatalf("%q: %d bytes over the limit", s, len(got))
		}
		colon := strings.IndexByte(s, ':')
		if !strings.HasPrefix(s[colon+1:], string(got)+",") {
			t.Fatalf("%q read as %q", s, got)
		}
	})
}
