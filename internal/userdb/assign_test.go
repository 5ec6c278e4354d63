package userdb

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

// rec is a users/cdb record as a test expects it.
type rec struct{ key, data string }

func parseAll(t *testing.T, in string) ([]rec, string, error) {
	t.Helper()
	var got []rec
	var wild WildChars
	err := ParseAssign(strings.NewReader(in), func(a Assignment) error {
		wild.Add(a)
		got = append(got, rec{string(a.Key()), string(a.Data())})
		return nil
	})
	return got, string(wild), err
}

func TestParseAssign(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []rec
		wild string
	}{
		{"empty with dot", ".\n", nil, ""},
		{"dot without newline", ".", nil, ""},
		{"dot line with text, rest ignored", ".end\n=x:no colons here\n", nil, ""},
		{"exact", "=joe.shmoe:joe:503:78:/home/joe:::\n.\n",
			[]rec{{"!joe.shmoe\x00", "joe\x00503\x0078\x00/home/joe\x00\x00"}}, ""},
		{"exact is lowercased, data is not", "=Joe:Joe:1:2:/Home:-:Ext:\n.\n",
			[]rec{{"!joe\x00", "Joe\x001\x002\x00/Home\x00-\x00Ext"}}, ""},
		{"wild", "+joe-:joe:507:100:/home/joe:-::\n.\n",
			[]rec{{"!joe-", "joe\x00507\x00100\x00/home/joe\x00-\x00"}}, "-"},
		{"catch-all adds no wildcard", "+:alias:7790:2108:/var/qmail/alias:-::\n.\n",
			[]rec{{"!", "alias\x007790\x002108\x00/var/qmail/alias\x00-\x00"}}, ""},
		{"other first char is lost (§24.6)", "jane:jane:1:2:/h:::\n.\n",
			[]rec{{"!ane\x00", "jane\x001\x002\x00/h\x00\x00"}}, ""},
		{"fields after the sixth colon dropped", "=a:u:1:2:/h:-:e:extra:more\n.\n",
			[]rec{{"!a\x00", "u\x001\x002\x00/h\x00-\x00e"}}, ""},
		{"no final colon needed after the sixth", "=a:u:1:2:/h:-:e:\n.\n",
			[]rec{{"!a\x00", "u\x001\x002\x00/h\x00-\x00e"}}, ""},
		{"wildcard set in first-seen order, original case", "+a.:u:1:2:/h:-::\n+b-:u:1:2:/h:-::\n+c.:u:1:2:/h:-::\n+JoE:u:1:2:/h:-::\n.\n",
			[]rec{{"!a.", "u\x001\x002\x00/h\x00-\x00"}, {"!b-", "u\x001\x002\x00/h\x00-\x00"},
				{"!c.", "u\x001\x002\x00/h\x00-\x00"}, {"!joe", "u\x001\x002\x00/h\x00-\x00"}}, ".-E"},
		{"duplicates kept in order", "=a:first:1:2:/h:::\n=A:second:1:2:/h:::\n.\n",
			[]rec{{"!a\x00", "first\x001\x002\x00/h\x00\x00"}, {"!a\x00", "second\x001\x002\x00/h\x00\x00"}}, ""},
		{"CR after the sixth colon is dropped", "=a:u:1:2:/h:::\r\n.\n", []rec{{"!a\x00", "u\x001\x002\x00/h\x00\x00"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, wild, err := parseAll(t, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("record %d = %q, want %q", i, got[i], tc.want[i])
				}
			}
			if wild != tc.wild {
				t.Errorf("wildcard set %q, want %q", wild, tc.wild)
			}
		})
	}
}

func TestParseAssignBad(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		msg  string
	}{
		{"empty file", "", 1, "end of file without the final \".\" line"},
		{"no dot", "=a:u:1:2:/h:::\n", 2, "end of file without the final \".\" line"},
		{"no trailing newline", "=a:u:1:2:/h:::\n=b:u:1:2:/h:::", 2, "line does not end with a newline"},
		{"NUL", "=a:u:1:2:/h:::\n=b:u\x00:1:2:/h:::\n.\n", 2, "line contains NUL"},
		{"too few colons", "=a:u:1:2:/h::\n.\n", 1, "5 colons after the address, need 6"},
		{"no colon", "=a\n.\n", 1, "no colon"},
		{"empty line", "\n.\n", 1, "no colon"},
		{"leading colon", ":a:u:1:2:/h:::\n.\n", 1, "line starts with a colon"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseAll(t, tc.in)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FormatError", err)
			}
			if fe.Line != tc.line || !strings.HasPrefix(fe.Msg, tc.msg) {
				t.Fatalf("got line %d %q, want line %d %q", fe.Line, fe.Msg, tc.line, tc.msg)
			}
		})
	}
}

func TestParseAssignReadAndCallbackErrors(t *testing.T) {
	boom := errors.New("boom")
	err := ParseAssign(iotest.ErrReader(boom), func(Assignment) error { return nil })
	var re *ReadError
	if !errors.As(err, &re) || !errors.Is(err, boom) {
		t.Fatalf("read failure: %v", err)
	}
	stop := errors.New("stop")
	n := 0
	err = ParseAssign(strings.NewReader("=a:u:1:2:/h:::\n=b:u:1:2:/h:::\n.\n"), func(Assignment) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Fatalf("callback error: %v after %d calls", err, n)
	}
}
