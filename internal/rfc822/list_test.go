package rfc822

import (
	"errors"
	"strings"
	"testing"
)

var testHosts = Hosts{DefaultHost: "host", DefaultDomain: "dom.example", PlusDomain: "plus.example"}

func TestParseListFormat(t *testing.T) {
	tests := []struct {
		in, want string
		env      []string
	}{
		{"djb", "To: djb@host.dom.example\n", []string{"djb@host.dom.example"}},
		{"djb fred", "To: djb@host.dom.example, fred@host.dom.example\n", []string{"djb@host.dom.example", "fred@host.dom.example"}},
		{"eric@mammoth.cs+", "To: eric@mammoth.cs.plus.example\n", []string{"eric@mammoth.cs.plus.example"}},
		{"u@h.", "To: u@h.dom.example\n", []string{"u@h.dom.example"}},
		{"u@", "To: u@host.dom.example\n", []string{"u@host.dom.example"}},
		{"<>", "To: <>\n", []string{""}},
		{"<@foo:>", "To: <>\n", []string{""}},
		{"<@a,@b:x@y.z>", "To: <x@y.z>\n", []string{"x@y.z"}},
		{"#@[]", "To: #@[]\n", []string{"#@[]"}},
		{"x-@[]", "To: x-@[]\n", []string{"x-@[]"}},
		{"a@[1.2.3.4]", "To: a@[1.2.3.4]\n", []string{"a@[1.2.3.4]"}},
		{"<a@b", "To: <a@b.dom.example\n", []string{"a@b.dom.example"}},
		{"<<a>>", "To: <<a@host.dom.example>>\n", []string{"a@host.dom.example"}},
		{"a@b@c", "To: a@b@c.dom.example\n", []string{"a@b@c.dom.example"}},
		{"<a@b>>", "To: <a@b.dom.example>>\n", []string{"a@b.dom.example"}},
		{"w@@", "To: w@.dom.example\n", []string{"w@.dom.example"}},
		{"x@+", "To: x@.plus.example\n", []string{"x@.plus.example"}},
		{"@", "To:\n", []string{""}},
		{"", "To:\n", nil},
		{`"Dan B." <djb@cr.yp.to>`, "To: \"Dan B.\" <djb@cr.yp.to>\n", []string{"djb@cr.yp.to"}},
		{"Dan   Bernstein<djb>", "To: Dan Bernstein <djb@host.dom.example>\n", []string{"djb@host.dom.example"}},
		{"djb (Dan), fred", "To: djb@host.dom.example (Dan), fred@host.dom.example\n", nil},
		{"djb (Dan\n x)", "To: djb@host.dom.example (Dan\\\n x)\n", nil},
		{"friends: a, b;", "To: friends: a@host.dom.example, b@host.dom.example;\n", []string{"a@host.dom.example", "b@host.dom.example"}},
		{"recipient list not shown: ;", "To: recipient list not shown: ;\n", nil},
		{`"joe smith"@x.y`, "To: \"joe smith\"@x.y\n", []string{"joe smith@x.y"}},
	}
	for _, tt := range tests {
		l, err := ParseList(tt.in, testHosts.Rewrite)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if got := l.Format("To"); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.in, got, tt.want)
		}
		if tt.env != nil {
			var env []string
			for _, a := range l.Addrs {
				env = append(env, a.Envelope)
			}
			if strings.Join(env, "|") != strings.Join(tt.env, "|") {
				t.Errorf("%q: envelope %q, want %q", tt.in, env, tt.env)
			}
		}
	}
}

func TestLexicalErrors(t *testing.T) {
	for _, in := range []string{`"abc`, "(abc", "[1.2", "(a (b)", `"a\`} {
		_, err := ParseList(in, testHosts.Rewrite)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: err %v, want a SyntaxError", in, err)
		}
	}
}

func TestFold(t *testing.T) {
	var items []string
	for i := 0; i < 6; i++ {
		items = append(items, strings.Repeat("x", 20)+"@example.com")
	}
	got := Fold("To", items)
	for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if len(line) > LineWidth {
			t.Errorf("line of %d columns: %q", len(line), line)
		}
	}
	want := "To: " + items[0] + ", " + items[1] + ",\n  " + items[2] + ", " + items[3] + ",\n  " + items[4] + ", " + items[5] + "\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if got := Fold("Cc", nil); got != "Cc:\n" {
		t.Errorf("empty: %q", got)
	}
}

func FuzzParseList(f *testing.F) {
	for _, s := range []string{"djb fred", `"a b" <c@d>`, "g: a, b;", "(c (d)) x@[1.2]", "<<a>>", `"\`, "@a,@b:c@d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseList(s, testHosts.Rewrite)
		if err != nil {
			return
		}
		out := l.Format("To")
		if !strings.HasPrefix(out, "To:") || !strings.HasSuffix(out, "\n") {
			t.Fatalf("%q: %q", s, out)
		}
		// Printing is stable: the printed field parses to the same addresses.
		l2, err := ParseList(strings.TrimSuffix(strings.TrimPrefix(out, "To:"), "\n"), testHosts.Rewrite)
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", s, out, err)
		}
		_ = l2
	})
}

func FuzzTokenize(f *testing.F) {
	for _, s := range []string{"a.b@c", `"q\"x"`, "[1.2.3.4]", "(a(b)c)", ",:;<>@."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks, err := Tokenize(s)
		if err != nil {
			return
		}
		for _, tk := range toks {
			if tk.Raw == "" {
				t.Fatalf("%q: empty token", s)
			}
		}
	})
}
