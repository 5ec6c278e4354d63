package localdelivery

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"goqmail/internal/prog"
)

func TestCandidates(t *testing.T) {
	type c = candidate
	tests := []struct {
		dash, ext string
		want      []c
	}{
		{"-", "foo-bar", []c{{".qmail-foo-bar", "", false}, {".qmail-foo-default", "bar", true}, {".qmail-default", "foo-bar", true}}},
		{"-", "foo-bar-baz", []c{{".qmail-foo-bar-baz", "", false}, {".qmail-foo-bar-default", "baz", true}, {".qmail-foo-default", "bar-baz", true}, {".qmail-default", "foo-bar-baz", true}}},
		{"-", "a-b-", []c{{".qmail-a-b-", "", false}, {".qmail-a-b-default", "", true}, {".qmail-a-default", "b-", true}, {".qmail-default", "a-b-", true}}},
		{"-", "", []c{{".qmail-", "", false}, {".qmail-default", "", true}}},
		{"", "", []c{{".qmail", "", false}, {".qmaildefault", "", true}}},
		{"-", "Foo.Bar", []c{{".qmail-foo:bar", "", false}, {".qmail-default", "Foo.Bar", true}}},
		{"-", "x-DEFAULT", []c{{".qmail-x-default", "DEFAULT", true}, {".qmail-x-default", "DEFAULT", true}, {".qmail-default", "x-DEFAULT", true}}},
		{"-", "..", []c{{".qmail-::", "", false}, {".qmail-default", "..", true}}},
		{"-", "Ünï-X", []c{{".qmail-Ünï-x", "", false}, {".qmail-Ünï-default", "X", true}, {".qmail-default", "Ünï-X", true}}},
	}
	for _, tc := range tests {
		got := candidates(tc.dash, tc.ext)
		if len(got) != len(tc.want) {
			t.Errorf("candidates(%q, %q) = %v, want %v", tc.dash, tc.ext, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("candidates(%q, %q)[%d] = %+v, want %+v", tc.dash, tc.ext, i, got[i], tc.want[i])
			}
		}
	}
}

func TestExtHost(t *testing.T) {
	tests := []struct {
		ext, e2, e3, e4 string
	}{
		{"a-b-c-d", "b-c-d", "c-d", "d"},
		{"a-b", "b", "", ""},
		{"a", "", "", ""},
		{"", "", "", ""},
		{"-", "", "", ""},
		{"a--b", "-b", "b", ""},
	}
	for _, tc := range tests {
		if g2, g3, g4 := extN(tc.ext, 2), extN(tc.ext, 3), extN(tc.ext, 4); g2 != tc.e2 || g3 != tc.e3 || g4 != tc.e4 {
			t.Errorf("EXT %q: got %q %q %q, want %q %q %q", tc.ext, g2, g3, g4, tc.e2, tc.e3, tc.e4)
		}
	}
	hosts := []struct {
		host, h2, h3, h4 string
	}{
		{"a.b.c", "a.b", "a", "a"},
		{"mail.x.example.com", "mail.x.example", "mail.x", "mail"},
		{"localhost", "localhost", "localhost", "localhost"},
		{"", "", "", ""},
		{"a.", "a", "a", "a"},
	}
	for _, tc := range hosts {
		if g2, g3, g4 := hostN(tc.host, 2), hostN(tc.host, 3), hostN(tc.host, 4); g2 != tc.h2 || g3 != tc.h3 || g4 != tc.h4 {
			t.Errorf("HOST %q: got %q %q %q, want %q %q %q", tc.host, g2, g3, g4, tc.h2, tc.h3, tc.h4)
		}
	}
}

func TestHeaderLines(t *testing.T) {
	now := time.Date(1996, 1, 3, 1, 5, 34, 0, time.UTC)
	tests := []struct {
		local, domain, sender string
		want                  lines
	}{
		{"joe", "example.com", "a@b.org", lines{
			"Delivered-To: joe@example.com\n", "Return-Path: <a@b.org>\n", "From a@b.org Wed Jan 03 01:05:34 1996\n"}},
		{"joe", "example.com", "", lines{
			"Delivered-To: joe@example.com\n", "Return-Path: <>\n", "From MAILER-DAEMON Wed Jan 03 01:05:34 1996\n"}},
		{"jo\ne", "ex", "a b\tc\nd@e", lines{
			"Delivered-To: jo_e@ex\n", "Return-Path: <\"a b\tc\\_d\"@e>\n", "From a-b-c-d@e Wed Jan 03 01:05:34 1996\n"}},
		{"j", "e", "#@[]", lines{"Delivered-To: j@e\n", "Return-Path: <#@[]>\n", "From #@[] Wed Jan 03 01:05:34 1996\n"}},
	}
	for _, tc := range tests {
		if got := headerLines(tc.local, tc.domain, tc.sender, now); got != tc.want {
			t.Errorf("headerLines(%q, %q, %q) = %q, want %q", tc.local, tc.domain, tc.sender, got, tc.want)
		}
	}
}

func TestHasLine(t *testing.T) {
	const dt = "Delivered-To: a@b\n"
	long := strings.Repeat("x", 100000)
	tests := []struct {
		msg  string
		want bool
	}{
		{"Delivered-To: a@b\n\nbody\n", true},
		{"X: y\nDelivered-To: a@b\nZ: z\n\n", true},
		{"X: y\n\nDelivered-To: a@b\n", false},
		{"delivered-to: a@b\n\n", false},
		{"Delivered-To: a@b.c\n\n", false},
		{"Delivered-To: a@b\r\n\n", false},
		{"Delivered-To: a@b", false},
		{"X: " + long + "\nDelivered-To: a@b\n\n", true},
		{"Delivered-To: a@b" + long + "\n\n", false},
		{"", false},
		{"\n" + dt, false},
		{"X\nY\n" + dt, true},
	}
	for _, tc := range tests {
		got, err := hasLine(strings.NewReader(tc.msg), dt)
		if err != nil || got != tc.want {
			t.Errorf("hasLine(%.40q) = %v, %v; want %v", tc.msg, got, err, tc.want)
		}
	}
}

func TestUsage(t *testing.T) {
	eight := []string{"u", "/home/u", "u", "", "", "example.com", "s@x", "./Mailbox"}
	tests := []struct {
		name string
		args []string
	}{
		{"no args", nil},
		{"seven", eight[:7]},
		{"nine", append(append([]string{}, eight...), "x")},
		{"relative home", append([]string{"u", "home/u"}, eight[2:]...)},
		{"empty home", append([]string{"u", ""}, eight[2:]...)},
		{"bad option", append([]string{"-x"}, eight...)},
		{"-- then seven", append([]string{"--"}, eight[:7]...)},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		ctx := &prog.Context{Args: append([]string{"qmail-local"}, tc.args...), Stdout: &out, Stderr: &errb}
		if code := Run(ctx); code != 100 {
			t.Errorf("%s: exit %d, want 100", tc.name, code)
		}
		if !strings.HasPrefix(errb.String(), "qmail-local: usage: qmail-local ") {
			t.Errorf("%s: stderr %q", tc.name, errb.String())
		}
	}
}
