package localdelivery

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzCandidates checks the extension matcher (dot-qmail(5)) against the
// rules it must keep for any extension: the exact name first, then one
// -default name for the whole extension and for each prefix ending in
// '-', longest first, each with the DEFAULT that its "default" stands
// for, and never a name that climbs out of the home.
func FuzzCandidates(f *testing.F) {
	for _, s := range []string{"", "foo", "foo-bar-baz", "a-b-", "-", "--", "Foo.Bar", "x-DEFAULT", "..", "../../etc/passwd", "Ünï-X", "default"} {
		f.Add("-", s)
		f.Add("", s)
	}
	f.Fuzz(func(t *testing.T, dash, ext string) {
		if dash != "" && dash != "-" {
			dash = "-" // qmail-lspawn passes "-" or ""
		}
		got := candidates(dash, ext)
		safe := safeExt(ext)
		if len(safe) != len(ext) {
			t.Fatalf("safeExt(%q) = %q changes the length", ext, safe)
		}
		if got[0].name != ".qmail"+dash+safe {
			t.Fatalf("first candidate %q", got[0].name)
		}
		want := 2 + strings.Count(safe, "-")
		if len(got) != want {
			t.Fatalf("candidates(%q, %q): %d names, want %d: %v", dash, ext, len(got), want, got)
		}
		for k, c := range got {
			for _, part := range strings.Split(c.name, "/") {
				if part == ".." {
					t.Fatalf("candidate %q climbs out of the home", c.name)
				}
			}
			if k == 0 {
				continue
			}
			if k > 1 && len(c.name) >= len(got[k-1].name) {
				t.Fatalf("default names not longest first: %v", got)
			}
			i := len(c.name) - len(".qmail"+dash+"default")
			if !c.hasDefault || c.name != ".qmail"+dash+safe[:i]+"default" || c.def != ext[i:] ||
				(i > 0 && safe[i-1] != '-') {
				t.Fatalf("candidate %+v for ext %q", c, ext)
			}
		}
	})
}

// parseModel is the obvious reading of a .qmail text under -n: one
// output line per delivery line, or the error of the first bad line.
func parseModel(text string) (out string, code int, n [3]int) {
	var b strings.Builder
	forwardOnly := false
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for k, l := range lines {
		l = strings.TrimRight(l, " \t")
		switch {
		case l == "" && k == 0:
			return b.String() + "Uh-oh: first line of .qmail file is blank. (#4.2.1)\n", 111, n
		case l == "" || l[0] == '#':
		case l[0] == '+':
			forwardOnly = forwardOnly || l == "+list"
		case l[0] == '.' || l[0] == '/':
			n[0]++
			if forwardOnly {
				return b.String() + "Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)\n", 111, n
			}
			kind := "mbox"
			if strings.HasSuffix(l, "/") {
				kind = "maildir"
			}
			b.WriteString(kind + " " + cString(l) + "\n")
		case l[0] == '|':
			n[2]++
			if forwardOnly {
				return b.String() + "Uh-oh: .qmail has prog delivery but has x bit set. (#4.7.0)\n", 111, n
			}
			b.WriteString("program " + cString(l[1:]) + "\n")
		default:
			n[1]++
			b.WriteString("forward " + strings.TrimPrefix(l, "&") + "\n")
		}
	}
	return b.String(), 0, n
}

// FuzzQmailText runs the .qmail parser (as qmail-local -n does) on any
// text and compares it with parseModel.
func FuzzQmailText(f *testing.F) {
	for _, s := range []string{
		"", "\n", " \t\n", "./Maildir/\n", "./Mailbox", "/var/mail/joe\n|preline procmail\n&a@b\nc@d\n",
		"# comment\n\n+list\n&x\n./Maildir/\n", "|exit 99\n", "a@b \t\n", "\x00\n./a\x00b/\n", "+listx\n|p\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		var out bytes.Buffer
		d := &delivery{out: &out}
		ex := d.execute(text)
		code := 0
		if ex != nil {
			code = ex.code
			if ex.text != "" {
				out.WriteString(ex.text + "\n")
			}
		}
		wantOut, wantCode, n := parseModel(text)
		if code != wantCode || out.String() != wantOut {
			t.Fatalf("execute(%q) = %d %q; model %d %q", text, code, out.String(), wantCode, wantOut)
		}
		if [3]int{d.nFile, d.nFwd, d.nPrg} != n {
			t.Fatalf("execute(%q) counted %d+%d+%d; model %v", text, d.nFile, d.nFwd, d.nPrg, n)
		}
	})
}
