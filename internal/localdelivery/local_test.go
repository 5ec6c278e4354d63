package localdelivery

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"goqmail/internal/maildir"
	"goqmail/internal/prog"
	"goqmail/internal/testutil"
)

const (
	rp = "Return-Path: <sender@x.org>\n"
	dt = "Delivered-To: joe-foo@mail.example.com\n"
)

// TestSelection checks which .qmail file handles an address and the
// DEFAULT it sets, for every rule of spec §8.3.
func TestSelection(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	tests := []struct {
		name      string
		files     []string // .qmail files present
		dash, ext string
		want      string // the file that ran, and DEFAULT
		code      int
	}{
		{"exact", []string{".qmail-foo-bar", ".qmail-foo-default", ".qmail-default"}, "-", "foo-bar", ".qmail-foo-bar unset", 0},
		{"longest default", []string{".qmail-foo-default", ".qmail-default"}, "-", "foo-bar", ".qmail-foo-default bar", 0},
		{"default", []string{".qmail-default"}, "-", "foo-bar", ".qmail-default foo-bar", 0},
		{"case and dots", []string{".qmail-foo:bar"}, "-", "Foo.Bar", ".qmail-foo:bar unset", 0},
		{"DEFAULT keeps case", []string{".qmail-foo-default"}, "-", "FOO-Bar.Baz", ".qmail-foo-default Bar.Baz", 0},
		{"trailing dash exact", []string{".qmail-a-b-", ".qmail-a-b-default"}, "-", "a-b-", ".qmail-a-b- unset", 0},
		{"trailing dash default", []string{".qmail-a-b-default", ".qmail-a-default"}, "-", "a-b-", ".qmail-a-b-default ", 0},
		{"trailing dash shorter", []string{".qmail-a-default"}, "-", "a-b-", ".qmail-a-default b-", 0},
		{"empty ext", []string{".qmail-", ".qmail-default"}, "-", "", ".qmail- unset", 0},
		{"empty ext default", []string{".qmail-default"}, "-", "", ".qmail-default ", 0},
		{"own address", []string{".qmail", ".qmaildefault"}, "", "", ".qmail unset", 0},
		{".qmaildefault quirk", []string{".qmaildefault"}, "", "", ".qmaildefault ", 0},
		{"exact name ending in default", []string{".qmail-x-default"}, "-", "x-Default", ".qmail-x-default Default", 0},
		{"no prefix match inside a word", []string{".qmail-fo-default"}, "-", "foo-bar", "Sorry, no mailbox here by that name. (#5.1.1)", 100},
		{"none, dash set", nil, "-", "foo", "Sorry, no mailbox here by that name. (#5.1.1)", 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testMsg)
			for _, n := range tc.files {
				f.write(n, "|printf '%s %s\\n' "+n+" \"${DEFAULT-unset}\"\n", 0o600)
			}
			code, out := f.deliver("", "joe-x", tc.dash, tc.ext)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; output %q", code, tc.code, out)
			}
			want := tc.want + "\n"
			if code == 0 {
				want += "did 0+0+1\n"
			}
			if out != want {
				t.Errorf("output %q, want %q", out, want)
			}
		})
	}
	t.Run("directory skipped", func(t *testing.T) {
		f := newFixture(t, testMsg)
		os.Mkdir(filepath.Join(f.home, ".qmail-foo"), 0o700)
		f.write(".qmail-default", "|echo default\n", 0o600)
		if code, out := f.deliver("", "joe-foo", "-", "foo"); code != 0 || out != "default\ndid 0+0+1\n" {
			t.Errorf("got %d %q", code, out)
		}
	})
	t.Run("unreadable .qmail defers", func(t *testing.T) {
		f := newFixture(t, testMsg)
		f.write(".qmail-foo", "./Mailbox\n", 0o000)
		f.write(".qmail-default", "|echo default\n", 0o600)
		code, out := f.deliver("", "joe-foo", "-", "foo")
		if code != 111 || out != "Unable to open .qmail-foo: access denied. (#4.3.0)\n" {
			t.Errorf("got %d %q", code, out)
		}
	})
	t.Run("writable .qmail", func(t *testing.T) {
		f := newFixture(t, testMsg)
		f.write(".qmail-foo", "./Mailbox\n", 0o602)
		code, out := f.deliver("", "joe-foo", "-", "foo")
		if code != 111 || out != "Uh-oh: .qmail file is writable. (#4.7.0)\n" {
			t.Errorf("got %d %q", code, out)
		}
	})
}

// TestEnvironment checks the variables of spec §8.1 through a program.
func TestEnvironment(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	f := newFixture(t, testMsg)
	vars := []string{"HOST", "HOME", "USER", "LOCAL", "RECIPIENT", "SENDER", "NEWSENDER", "DTLINE", "RPLINE",
		"EXT", "EXT2", "EXT3", "EXT4", "HOST2", "HOST3", "HOST4", "DEFAULT", "PATH"}
	var cmd strings.Builder
	cmd.WriteString("|printf '")
	for _, v := range vars {
		cmd.WriteString(v + "=[%s]\\n")
	}
	cmd.WriteString("'")
	for _, v := range vars {
		cmd.WriteString(` "${` + v + `-unset}"`)
	}
	cmd.WriteString("\n|printf 'UFLINE=[%s]\\n' \"$UFLINE\" | sed 's/ [A-Z][a-z][a-z] [A-Z][a-z][a-z] [0-9][0-9] [0-9:]* [0-9]*/ DATE/'")
	cmd.WriteString("\n|umask; pwd; echo \"$#:$0:$1\"\n")
	f.write(".qmail-list-default", cmd.String(), 0o600)
	code, out := f.deliver("", "joe-list-a-b-c", "-", "list-a-b-c")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	want := "HOST=[mail.example.com]\nHOME=[" + f.home + "]\nUSER=[joe]\nLOCAL=[joe-list-a-b-c]\n" +
		"RECIPIENT=[joe-list-a-b-c@mail.example.com]\nSENDER=[sender@x.org]\nNEWSENDER=[sender@x.org]\n" +
		"DTLINE=[Delivered-To: joe-list-a-b-c@mail.example.com\n]\nRPLINE=[Return-Path: <sender@x.org>\n]\n" +
		"EXT=[list-a-b-c]\nEXT2=[a-b-c]\nEXT3=[b-c]\nEXT4=[c]\n" +
		"HOST2=[mail.example]\nHOST3=[mail]\nHOST4=[mail]\nDEFAULT=[a-b-c]\nPATH=[/usr/bin:/bin]\n" +
		"UFLINE=[From sender@x.org DATE\n]\n" +
		"0077\n" + f.home + "\n0:sh:\n" +
		"did 0+0+3\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	// No DEFAULT without a default file, even if inherited.
	f.write(".qmail-x", "|echo ${DEFAULT-unset}\n", 0o600)
	if _, out := f.deliver("", "joe-x", "-", "x"); out != "unset\ndid 0+0+1\n" {
		t.Errorf("DEFAULT leaked: %q", out)
	}
}

// TestFileDeliveries checks Maildir and mbox contents byte for byte.
func TestFileDeliveries(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	f := newFixture(t, testMsg)
	if err := maildir.Make(filepath.Join(f.home, "Maildir")); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(f.home, "sub"), 0o700)
	abs := filepath.Join(f.home, "sub", "abs-mbox")
	f.write(".qmail-foo", "# comment\n./Maildir/\n./Mailbox  \t\n"+abs+"\n", 0o600)
	code, out := f.deliver("", "joe-foo", "-", "foo")
	if code != 0 || out != "did 3+0+0\n" {
		t.Fatalf("got %d %q", code, out)
	}
	ents, _ := os.ReadDir(filepath.Join(f.home, "Maildir", "new"))
	if len(ents) != 1 {
		t.Fatalf("new/ has %d entries", len(ents))
	}
	if got := f.read("Maildir/new/" + ents[0].Name()); got != rp+dt+testMsg {
		t.Errorf("maildir message %q", got)
	}
	if tmp, _ := os.ReadDir(filepath.Join(f.home, "Maildir", "tmp")); len(tmp) != 0 {
		t.Errorf("tmp/ not empty")
	}
	from := regexp.MustCompile(`^From sender@x\.org [A-Z][a-z]{2} [A-Z][a-z]{2} [0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}\n`)
	quoted := "Subject: hi\nFrom: a@b.org\n\n>From here\n>>From there\nlast line\n\n"
	for _, p := range []string{filepath.Join(f.home, "Mailbox"), abs} {
		b, _ := os.ReadFile(p)
		got := string(b)
		loc := from.FindStringIndex(got)
		if loc == nil {
			t.Fatalf("%s: no From line: %q", p, got)
		}
		if got[loc[1]:] != rp+dt+quoted {
			t.Errorf("%s: got %q", p, got[loc[1]:])
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", p, fi.Mode())
		}
	}
	// A second delivery appends after the blank line.
	f.write(".qmail-foo", "./Mailbox\n", 0o600)
	f.deliver("", "joe-foo", "-", "foo")
	if got := f.read("Mailbox"); strings.Count(got, "\nFrom sender@x.org ") != 1 || !strings.HasSuffix(got, quoted) {
		t.Errorf("second append: %q", got)
	}
}

// TestDefaultDelivery covers the defaultdelivery argument.
func TestDefaultDelivery(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	tests := []struct {
		name, qmail string
		mode        os.FileMode
		fallback    string
		code        int
		out         string
	}{
		{"no .qmail", "", 0, "|echo fallback", 0, "fallback\ndid 0+0+1\n"},
		{"empty .qmail", "-", 0o600, "|echo fallback", 0, "fallback\ndid 0+0+1\n"},
		{"empty .qmail with x bit", "-", 0o700, "|echo fallback", 0, "fallback\ndid 0+0+1\n"},
		{"fallback of two lines", "", 0, "|echo one\n|echo two", 0, "one\ntwo\ndid 0+0+2\n"},
		{"empty fallback", "", 0, "", 111, "Uh-oh: first line of .qmail file is blank. (#4.2.1)\n"},
		{"comments only discard", "# nothing\n#\n", 0o600, "|echo fallback", 0, "did 0+0+0\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testMsg)
			if tc.qmail == "-" {
				f.write(".qmail", "", tc.mode)
			} else if tc.qmail != "" {
				f.write(".qmail", tc.qmail, tc.mode)
			}
			code, out := f.run("joe", f.home, "joe", "", "", "example.com", "s@x", tc.fallback)
			if code != tc.code || out != tc.out {
				t.Errorf("got %d %q, want %d %q", code, out, tc.code, tc.out)
			}
		})
	}
}

// TestLines covers the line kinds of spec §8.4, forward-only mode and -n.
func TestLines(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	const (
		xfile = "Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)\n"
		xprog = "Uh-oh: .qmail has prog delivery but has x bit set. (#4.7.0)\n"
		blank = "Uh-oh: first line of .qmail file is blank. (#4.2.1)\n"
	)
	tests := []struct {
		name  string
		qmail string
		mode  os.FileMode
		opt   string
		code  int
		out   string
	}{
		{"blank first line", "\n|echo x\n", 0o600, "", 111, blank},
		{"spaces first line", "   \n|echo x\n", 0o600, "", 111, blank},
		{"tab first line", "\t\n|echo x\n", 0o600, "", 111, blank},
		{"later blank and tab lines", "|echo a\n\n\t\n  \n|echo b", 0o600, "", 0, "a\nb\ndid 0+0+2\n"},
		{"trailing blanks trimmed", "|echo a \t \n", 0o600, "", 0, "a\ndid 0+0+1\n"},
		{"x bit: file", "./Mailbox\n", 0o700, "", 111, xfile},
		{"x bit: maildir", "./Maildir/\n", 0o700, "", 111, xfile},
		{"x bit: program", "|echo x\n", 0o700, "", 111, xprog},
		{"+list then file", "|echo a\n+list\n./Mailbox\n", 0o600, "", 111, "a\n" + xfile},
		{"+list then program", "+list\n|echo a\n", 0o600, "", 111, xprog},
		{"other + ignored", "+lists\n+\n|echo a\n", 0o600, "", 0, "a\ndid 0+0+1\n"},
		{"-n", "./Maildir/\n./Mailbox\n/abs/box\n|prog arg\n&a@b\nc@d\n& e@f\n#x\n+list\n", 0o600, "-n", 0,
			"maildir ./Maildir/\nmbox ./Mailbox\nmbox /abs/box\nprogram prog arg\nforward a@b\nforward c@d\nforward  e@f\ndid 3+3+1\n"},
		{"-n x bit", "a@b\n./Mailbox\n", 0o700, "-n", 111, "forward a@b\n" + xfile},
		{"-n NUL", "./Mail\x00box\n|echo\x00 x\n", 0o600, "-n", 0, "mbox ./Mail\nprogram echo\ndid 1+0+1\n"},
		{"-N after -n", "|echo a\n", 0o600, "-nN", 0, "a\ndid 0+0+1\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testMsg)
			f.write(".qmail-foo", tc.qmail, tc.mode)
			code, out := f.deliver(tc.opt, "joe-foo", "-", "foo")
			if code != tc.code || out != tc.out {
				t.Errorf("got %d %q, want %d %q", code, out, tc.code, tc.out)
			}
		})
	}
}

// TestPrograms covers program exit codes and 99.
func TestPrograms(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	tests := []struct {
		exit string
		code int
		out  string
	}{
		{"exit 0", 0, "before\nafter\ndid 0+0+3\n"},
		{"exit 99", 0, "before\ndid 0+0+2\n"},
		{"exit 100", 100, "before\n"},
		{"exit 64", 100, "before\n"},
		{"exit 65", 100, "before\n"},
		{"exit 70", 100, "before\n"},
		{"exit 76", 100, "before\n"},
		{"exit 77", 100, "before\n"},
		{"exit 78", 100, "before\n"},
		{"exit 112", 100, "before\n"},
		{"exit 111", 111, "before\n"},
		{"exit 1", 111, "before\n"},
		{"exit 2", 111, "before\n"},
		{"exit 101", 111, "before\n"},
		{"echo bounce me; exit 100", 100, "before\nbounce me\n"},
		{"echo oops >&2; exit 111", 111, "before\noops\n"},
		{"kill -9 $$", 111, "before\nAack, child crashed. (#4.3.0)\n"},
		{"kill -TERM $$", 111, "before\nAack, child crashed. (#4.3.0)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.exit, func(t *testing.T) {
			f := newFixture(t, testMsg)
			f.write(".qmail-foo", "|echo before\n|"+tc.exit+"\n|echo after\n", 0o600)
			code, out := f.deliver("", "joe-foo", "-", "foo")
			if code != tc.code || out != tc.out {
				t.Errorf("got %d %q, want %d %q", code, out, tc.code, tc.out)
			}
		})
	}
	t.Run("stdin is the message each time", func(t *testing.T) {
		f := newFixture(t, testMsg)
		f.write(".qmail-foo", "|head -c 5 >/dev/null; cat >one\n|cat >two\n", 0o600)
		if code, out := f.deliver("", "joe-foo", "-", "foo"); code != 0 {
			t.Fatalf("got %d %q", code, out)
		}
		if got := f.read("one"); got != testMsg[5:] {
			t.Errorf("one: %q", got)
		}
		if got := f.read("two"); got != testMsg {
			t.Errorf("two: %q (not rewound)", got)
		}
	})
	t.Run("99 after a forward still forwards", func(t *testing.T) {
		f := newFixture(t, testMsg)
		q := f.fakeQueue(0)
		f.write(".qmail-foo", "&a@b\n|exit 99\n&c@d\n", 0o600)
		code, out := f.deliver("", "joe-foo", "-", "foo")
		if code != 0 || !regexp.MustCompile(`^did 0\+1\+1\nqp [0-9]+\n$`).MatchString(out) {
			t.Fatalf("got %d %q", code, out)
		}
		if got := q.envelope(t); got != "Fsender@x.org\x00Ta@b\x00\x00" {
			t.Errorf("envelope %q", got)
		}
	})
}

// TestHome covers the home directory checks of spec §8.2.
func TestHome(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	tests := []struct {
		name string
		mode os.FileMode
		opt  string
		code int
		out  string
	}{
		{"writable", 0o702, "", 111, "Uh-oh: home directory is writable. (#4.7.0)\n"},
		{"writable -n", 0o702, "-n", 111, "Uh-oh: home directory is writable. (#4.7.0)\n"},
		{"sticky", 0o700 | os.ModeSticky, "", 111, "Home directory is sticky: user is editing his .qmail file. (#4.2.1)\n"},
		{"sticky -n", 0o700 | os.ModeSticky, "-n", 0, "Warning: home directory is sticky.\nprogram echo x\ndid 0+0+1\n"},
		{"group writable is fine", 0o770, "", 0, "x\ndid 0+0+1\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testMsg)
			f.write(".qmail-foo", "|echo x\n", 0o600)
			if err := os.Chmod(f.home, tc.mode); err != nil {
				t.Fatal(err)
			}
			code, out := f.deliver(tc.opt, "joe-foo", "-", "foo")
			if code != tc.code || out != tc.out {
				t.Errorf("got %d %q, want %d %q", code, out, tc.code, tc.out)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		f := newFixture(t, testMsg)
		code, out := f.run("joe", f.home+"/nope", "joe", "", "", "e", "s", "./Mailbox")
		if code != 111 || out != "Unable to switch to "+f.home+"/nope: file does not exist. (#4.3.0)\n" {
			t.Errorf("got %d %q", code, out)
		}
	})
	t.Run("not searchable", func(t *testing.T) {
		f := newFixture(t, testMsg)
		os.Chmod(f.home, 0o600)
		defer os.Chmod(f.home, 0o700)
		code, out := f.run("joe", f.home, "joe", "", "", "e", "s", "./Mailbox")
		if code != 111 || out != "Unable to switch to "+f.home+": access denied. (#4.3.0)\n" {
			t.Errorf("got %d %q", code, out)
		}
	})
}

// TestLoop covers the Delivered-To loop check.
func TestLoop(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	tests := []struct {
		name, msg, opt string
		code           int
		out            string
	}{
		{"looping", "X: y\n" + dt + "\nbody\n", "", 100, "This message is looping: it already has my Delivered-To line. (#5.4.6)\n"},
		{"in the body", "X: y\n\n" + dt, "", 0, "x\ndid 0+0+1\n"},
		{"other case", "X: y\ndelivered-to: joe-foo@mail.example.com\n\n", "", 0, "x\ndid 0+0+1\n"},
		{"other address", "Delivered-To: joe@mail.example.com\n\n", "", 0, "x\ndid 0+0+1\n"},
		{"-n skips it", dt + "\n", "-n", 0, "program echo x\ndid 0+0+1\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.msg)
			f.write(".qmail-foo", "|echo x\n", 0o600)
			code, out := f.deliver(tc.opt, "joe-foo", "-", "foo")
			if code != tc.code || out != tc.out {
				t.Errorf("got %d %q, want %d %q", code, out, tc.code, tc.out)
			}
		})
	}
}

// TestFileFailures covers failing file deliveries: all temporary.
func TestFileFailures(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	tests := []struct {
		name, line string
		out        string
	}{
		{"mbox on a full disk", "/dev/full", "Unable to write /dev/full: out of disk space. (#4.3.0)\n"},
		{"mbox in a missing folder", "./no/box", "Unable to open ./no/box: file does not exist. (#4.2.1)\n"},
		{"mbox is a folder", "./dir", "Unable to open ./dir: is a directory. (#4.2.1)\n"},
		{"missing maildir", "./NoMaildir/", "Unable to chdir to maildir. (#4.2.1)\n"},
		{"maildir without tmp", "./dir/", "Temporary error on maildir delivery. (#4.3.0)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testMsg)
			os.Mkdir(filepath.Join(f.home, "dir"), 0o700)
			f.write(".qmail-foo", tc.line+"\n", 0o600)
			code, out := f.deliver("", "joe-foo", "-", "foo")
			if code != 111 || out != tc.out {
				t.Errorf("got %d %q, want 111 %q", code, out, tc.out)
			}
		})
	}
	t.Run("message not seekable", func(t *testing.T) {
		f := newFixture(t, testMsg)
		r, w, _ := os.Pipe()
		defer r.Close()
		w.Close()
		f.write(".qmail-foo", "./Mailbox\n", 0o600)
		var out strings.Builder
		ctx := &prog.Context{
			Args:   []string{"qmail-local", "joe", f.home, "joe-foo", "-", "foo", "e", "s", "./Mailbox"},
			Stdin:  r,
			Stdout: &out,
			Stderr: &out,
			Files:  []*os.File{r},
		}
		if code := Run(ctx); code != 111 || out.String() != "Unable to rewind message. (#4.3.0)\n" {
			t.Errorf("got %d %q", code, out.String())
		}
	})
}
