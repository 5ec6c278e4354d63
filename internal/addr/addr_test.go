package addr

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"atom", "joe", "joe"},
		{"dotted atom", "joe.user", "joe.user"},
		{"every atom special", "!#$%&'*+-/=?^_`{|}~", "!#$%&'*+-/=?^_`{|}~"},
		{"digits and case", "Joe.2000", "Joe.2000"},
		{"empty", "", `""`},
		{"leading dot", ".joe", `".joe"`},
		{"trailing dot", "joe.", `"joe."`},
		{"doubled dot", "joe..user", `"joe..user"`},
		{"only a dot", ".", `"."`},
		{"space", "joe user", `"joe user"`},
		{"at sign", "joe@x", `"joe@x"`},
		{"parenthesis", "joe(x)", `"joe(x)"`},
		{"angle", "<joe>", `"<joe>"`},
		{"comma", "a,b", `"a,b"`},
		{"colon semicolon", "a:b;c", `"a:b;c"`},
		{"brackets", "[a]", `"[a]"`},
		{"double quote", `jo"e`, `"jo\"e"`},
		{"backslash", `jo\e`, `"jo\\e"`},
		{"CR", "jo\re", "\"jo\\\re\""},
		{"LF", "jo\ne", "\"jo\\\ne\""},
		{"tab not escaped", "jo\te", "\"jo\te\""},
		{"NUL not escaped", "jo\x00e", "\"jo\x00e\""},
		{"8-bit byte", "j\xe9", "\"j\xe9\""},
		{"DEL", "jo\x7fe", "\"jo\x7fe\""},
		{"quoted specials and dots", `.a"b\`, `".a\"b\\"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Quote(tt.in); got != tt.want {
				t.Errorf("Quote(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestQuote2(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"joe@example.com", "joe@example.com"},
		{"joe", "joe"},
		{"joe user@example.com", `"joe user"@example.com`},
		// Only the part before the LAST '@' is quoted; the domain is kept
		// as it is, even when it holds odd bytes.
		{"a@b@example.com", `"a@b"@example.com`},
		{"joe@ex ample", "joe@ex ample"},
		{"@example.com", `""@example.com`},
		{"joe@", "joe@"},
		{".joe@x", `".joe"@x`},
		{"jo\"e@x", `"jo\"e"@x`},
		{"j\xe9@x", "\"j\xe9\"@x"},
	}
	for _, tt := range tests {
		if got := Quote2(tt.in); got != tt.want {
			t.Errorf("Quote2(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestQuoteEveryByte checks each single byte against the spec's rule: bare
// iff it is an atom character; quoted otherwise, with '\' only before CR,
// LF, '"' and '\'.
func TestQuoteEveryByte(t *testing.T) {
	const atom = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
	for c := 0; c < 256; c++ {
		s := "a" + string([]byte{byte(c)}) + "b"
		got := Quote(s)
		var want string
		switch {
		case strings.IndexByte(atom, byte(c)) >= 0:
			want = s
		case c == '.':
			want = s // "a.b" is a dot-atom
		case c == '\r' || c == '\n' || c == '"' || c == '\\':
			want = "\"a\\" + string([]byte{byte(c)}) + "b\""
		default:
			want = "\"" + s + "\""
		}
		if got != want {
			t.Errorf("Quote(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestLogSafe(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "delivery 1: success", "delivery_1:_success"},
		{"empty", "", ""},
		{"LF becomes slash", "a\nb", "a/b"},
		{"CR", "a\rb", "a_b"},
		{"tab", "a\tb", "a_b"},
		{"NUL", "a\x00b", "a_b"},
		{"percent", "100%", "100_"},
		{"DEL", "a\x7fb", "a_b"},
		{"8-bit", "a\xff\x80b", "a__b"},
		{"printable kept", "!\"#$&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~", "!\"#$&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LogSafe(tt.in); got != tt.want {
				t.Errorf("LogSafe(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	// Every byte class, one byte at a time.
	for c := 0; c < 256; c++ {
		got := LogSafe(string([]byte{byte(c)}))
		var want byte
		switch {
		case c == '\n':
			want = '/'
		case c < 33 || c > 126 || c == '%':
			want = '_'
		default:
			want = byte(c)
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("LogSafe(%#x) = %q, want %q", c, got, want)
		}
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		in, local, domain string
		hasAt             bool
	}{
		{"joe@example.com", "joe", "example.com", true},
		{"a@b@example.com", "a@b", "example.com", true},
		{"joe", "joe", "", false},
		{"", "", "", false},
		{"@", "", "", true},
		{"joe@", "joe", "", true},
		{"@example.com", "", "example.com", true},
	}
	for _, tt := range tests {
		l, d, h := Split(tt.in)
		if l != tt.local || d != tt.domain || h != tt.hasAt {
			t.Errorf("Split(%q) = %q, %q, %v; want %q, %q, %v", tt.in, l, d, h, tt.local, tt.domain, tt.hasAt)
		}
		if got := Domain(tt.in); got != tt.domain {
			t.Errorf("Domain(%q) = %q, want %q", tt.in, got, tt.domain)
		}
	}
}

func TestEnvelopeSafe(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"joe@example.com", true},
		{"", true},
		{"joe user@example.com", true},
		{"j\xe9@x", true},
		{"a\tb@x", true},
		{"joe\x00@x", false},
		{"joe\r@x", false},
		{"joe\n@x", false},
		{"joe@x\r\nRCPT TO:<y>", false},
		{"\x00", false},
	}
	for _, tt := range tests {
		if got := EnvelopeSafe(tt.in); got != tt.want {
			t.Errorf("EnvelopeSafe(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzQuote2(f *testing.F) {
	for _, s := range []string{"", "joe@x", "a@b@c", ".x.@", "\"\\\r\n@", "j\xe9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, a string) {
		q := Quote2(a)
		if a == "" {
			if q != "" {
				t.Fatalf("Quote2(\"\") = %q", q)
			}
			return
		}
		l, d, has := Split(a)
		if has && !strings.HasSuffix(q, "@"+d) {
			t.Fatalf("Quote2(%q) = %q lost the domain %q", a, q, d)
		}
		ql := Quote(l)
		if ql != l {
			// Quoted: the quoted text must unquote back to l.
			if len(ql) < 2 || ql[0] != '"' || ql[len(ql)-1] != '"' {
				t.Fatalf("Quote(%q) = %q not in quotes", l, ql)
			}
			var back []byte
			in := ql[1 : len(ql)-1]
			for i := 0; i < len(in); i++ {
				if in[i] == '\\' && i+1 < len(in) {
					i++
				} else if in[i] == '"' || in[i] == '\\' {
					t.Fatalf("Quote(%q) = %q has an unescaped %q", l, ql, in[i])
				}
				back = append(back, in[i])
			}
			if string(back) != l {
				t.Fatalf("Quote(%q) = %q unquotes to %q", l, ql, back)
			}
		}
	})
}
