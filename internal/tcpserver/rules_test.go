package tcpserver

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"goqmail/internal/prog"
)

type rec struct{ k, d string }

func compile(t *testing.T, in string) ([]rec, error) {
	t.Helper()
	var out []rec
	err := CompileRules(strings.NewReader(in), func(k, d []byte) error {
		out = append(out, rec{string(k), string(d)})
		return nil
	})
	return out, err
}

func TestCompileRules(t *testing.T) {
	cases := []struct {
		name, in string
		want     []rec
		bad      string // the line in the parse error
	}{
		{"allow", "1.2.3.4:allow\n", []rec{{"1.2.3.4", ""}}, ""},
		{"deny with var", "1.2.3.4:deny,A=\"b\"\n", []rec{{"1.2.3.4", "D\x00+A=b\x00"}}, ""},
		{"vars any delimiter", "x:allow,RELAYCLIENT=/@fix.me/,B='',C=\"a,b=c\"\n",
			[]rec{{"x", "+RELAYCLIENT=@fix.me\x00+B=\x00+C=a,b=c\x00"}}, ""},
		{"comments blank and no colon", "#x:deny\n\n \t\nnocolon\n:allow\n", []rec{{"", ""}}, ""},
		{"indented hash is an address", "  #y:deny\n", []rec{{"  #y", "D\x00"}}, ""},
		{"address byte-exact", "Joe@=Host.Example :allow\n", []rec{{"Joe@=Host.Example ", ""}}, ""},
		{"trailing blanks stripped", "x:allow,A=\"b\"  \t \n", []rec{{"x", "+A=b\x00"}}, ""},
		{"last line without newline", "x:deny", []rec{{"x", "D\x00"}}, ""},
		{"range", "1.2.3.37-39:allow\n", []rec{{"1.2.3.37", ""}, {"1.2.3.38", ""}, {"1.2.3.39", ""}}, ""},
		{"prefix range", "10.2-3.:deny\n", []rec{{"10.2.", "D\x00"}, {"10.3.", "D\x00"}}, ""},
		{"range capped at 255", "1.2.254-999:allow\n", []rec{{"1.2.254", ""}, {"1.2.255", ""}}, ""},
		{"range empty low", "1.2.-1.:allow\n", []rec{{"1.2.0.", ""}, {"1.2.1.", ""}}, ""},
		{"range backwards", "1.2.5-1.:allow\n", nil, ""},
		{"range leading zeros", "1.2.03-4:allow\n", []rec{{"1.2.3", ""}, {"1.2.4", ""}}, ""},
		{"range wraps like C", "1.2.18446744073709551617-2:allow\n", []rec{{"1.2.1", ""}, {"1.2.2", ""}}, ""},
		{"no range with = or @", "a=1-2:allow\nb@1-2:allow\n", []rec{{"a=1-2", ""}, {"b@1-2", ""}}, ""},
		{"duplicates kept in order", "a:deny\na:allow\n", []rec{{"a", "D\x00"}, {"a", ""}}, ""},
		{"NUL bytes kept", "a\x00b:deny,N\x00=\"\x00\"\n", []rec{{"a\x00b", "D\x00+N\x00=\x00\x00"}}, ""},
		{"bad instruction", "x:bad  \t\n", nil, "x:bad"},
		{"allowx", "x:allowx\n", nil, "x:allowx"},
		{"CR is not stripped", "x:allow\r\n", nil, "x:allow\r"},
		{"empty instruction", "x:\n", nil, "x:"},
		{"var without =", "x:allow,A\n", nil, "x:allow,A"},
		{"var without delimiter", "x:allow,A=\n", nil, "x:allow,A="},
		{"unterminated value", "x:allow,A=\"b\n", nil, "x:allow,A=\"b"},
		{"junk after value", "x:allow,A=\"b\"junk\n", nil, "x:allow,A=\"b\"junk"},
		{"trailing comma", "x:allow,\n", nil, "x:allow,"},
		{"bad range", "1.2.a-5.:allow\n", nil, "1.2.a-5.:allow"},
		{"double range", "1-2-3:allow\n", nil, "1-2-3:allow"},
		{"IPv6 extension", "::1:allow,A=\"b\"\n2001:db8::deny\n", []rec{{"::1", "+A=b\x00"}, {"2001:db8:", "D\x00"}}, ""},
		{"IPv6 still bad", "::1:allow,A\n", nil, "::1:allow,A"},
		{"error after good lines", "a:allow\nb:nope\n", []rec{{"a", ""}}, "b:nope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := compile(t, c.in)
			var pe *ParseError
			if c.bad != "" {
				if !errors.As(err, &pe) || string(pe.Line) != c.bad {
					t.Fatalf("error %v, want parse error for %q", err, c.bad)
				}
				if want := "unable to parse this line: " + c.bad; pe.Error() != want {
					t.Errorf("text %q", pe.Error())
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestRuleKeys(t *testing.T) {
	cases := []struct {
		c    Client
		want []string
	}{
		{Client{IP: "1.2.3.4"}, []string{"1.2.3.4", "1.2.3.", "1.2.", "1.", ""}},
		{Client{IP: "1.2.3.4", Host: "a.b.c", HasHost: true, Info: "joe", HasInfo: true},
			[]string{"joe@1.2.3.4", "joe@=a.b.c", "1.2.3.4", "=a.b.c", "1.2.3.", "1.2.", "1.", "=.b.c", "=.c", "=", ""}},
		{Client{IP: "1.2.3.4", Info: "joe", HasInfo: true}, []string{"joe@1.2.3.4", "1.2.3.4", "1.2.3.", "1.2.", "1.", ""}},
		{Client{IP: "1.2.3.4", HasHost: true}, []string{"1.2.3.4", "=", "1.2.3.", "1.2.", "1.", "=", ""}},
		{Client{IP: "2001:db8::1"}, []string{"2001:db8::1", "2001:db8::", "2001:db8:", "2001:", ""}},
		{Client{IP: "::1"}, []string{"::1", "::", ""}},
	}
	for _, c := range cases {
		if got := RuleKeys(c.c); !reflect.DeepEqual(got, c.want) {
			t.Errorf("RuleKeys(%+v) = %q, want %q", c.c, got, c.want)
		}
	}
}

func TestDecodeRule(t *testing.T) {
	cases := []struct {
		in   string
		want Rule
	}{
		{"", Rule{}},
		{"D\x00", Rule{Deny: true}},
		{"+A=b\x00+C=\x00", Rule{Env: []string{"A=b", "C="}}},
		{"D\x00+A=b\x00", Rule{Deny: true, Env: []string{"A=b"}}},
		{"+noequals\x00+=x\x00?junk\x00\x00+A=b", Rule{}}, // unterminated tail ignored
	}
	for _, c := range cases {
		if got := DecodeRule([]byte(c.in)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("DecodeRule(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

// runProg runs one of our programs in-process.
func runProg(main prog.Main, args []string, env []string, stdin string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	ctx := &prog.Context{Args: args, Env: env, Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb}
	code = main(ctx)
	return code, out.String(), errb.String()
}

func needUcspi(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("ucspi-tcp's %s is not installed", name)
	}
}

var ruleFiles = map[string]string{
	"qmail relay": "127.0.0.1:allow,RELAYCLIENT=\"\"\n10.0.0.:allow,RELAYCLIENT=\"\",DATABYTES=\"1000000\"\n:allow\n",
	"mixed": "# comment\njoe@127.0.0.1:allow,WHO=\"joe\"\n=localhost:allow,HOSTRULE='yes'\n127.0.0.2:deny\n" +
		"192.168.1-3.:allow,NET=/lan/\n1.2.3.37-43:deny\n=.example.com:deny\n=:allow,KNOWN=\"1\"\n:deny\n",
	"odd":   "  spaced :allow\nnocolon\n\n#x\nA@B:deny,X=\"\",Y=..,Z=\"a b\"\t \n",
	"empty": "",
	"big": func() string {
		var b strings.Builder
		for i := range 256 {
			b.WriteString("10." + strconv.Itoa(i) + ".0-255:allow,N=\"" + strconv.Itoa(i) + "\"\n")
		}
		return b.String()
	}(),
	"bad": "1.2.3.4:allow\n5.6.7.8:allow,X=\"y\n",
}

// TestTcprulesMatchesUcspi: our tcprules writes the same bytes, messages
// and exit codes as ucspi-tcp's for the same input.
func TestTcprulesMatchesUcspi(t *testing.T) {
	needUcspi(t, "tcprules")
	dir := t.TempDir()
	for name, in := range ruleFiles {
		t.Run(name, func(t *testing.T) {
			ours := filepath.Join(dir, "ours.cdb")
			theirs := filepath.Join(dir, "theirs.cdb")
			os.Remove(ours)
			os.Remove(theirs)
			code, _, stderr := runProg(Tcprules, []string{"tcprules", ours, ours + ".tmp"}, nil, in)
			cmd := exec.Command("tcprules", theirs, theirs+".tmp")
			cmd.Stdin = strings.NewReader(in)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			err := cmd.Run()
			theirCode := 0
			if ee, ok := err.(*exec.ExitError); ok {
				theirCode = ee.ExitCode()
			}
			if code != theirCode || stderr != errb.String() {
				t.Fatalf("ours %d %q, theirs %d %q", code, stderr, theirCode, errb.String())
			}
			a, errA := os.ReadFile(ours)
			b, errB := os.ReadFile(theirs)
			if (errA == nil) != (errB == nil) || !bytes.Equal(a, b) {
				t.Fatalf("cdb files differ (%v, %v; %d vs %d bytes)", errA, errB, len(a), len(b))
			}
			if _, err := os.Stat(ours + ".tmp"); !os.IsNotExist(err) {
				t.Errorf("rules.tmp left: %v", err)
			}
		})
	}
}

// TestTcprulesKeepsOldCdb: a bad line leaves rules.cdb as it was.
func TestTcprulesKeepsOldCdb(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.cdb")
	if code, _, e := runProg(Tcprules, []string{"tcprules", path, path + ".tmp"}, nil, ":deny\n"); code != 0 {
		t.Fatal(e)
	}
	before, _ := os.ReadFile(path)
	code, _, stderr := runProg(Tcprules, []string{"tcprules", path, path + ".tmp"}, nil, ":allow\nbad:line\n")
	if code != 100 || stderr != "tcprules: fatal: unable to parse this line: bad:line\n" {
		t.Fatalf("%d %q", code, stderr)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("rules.cdb changed")
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"tcprules"}, 100, "tcprules: usage: tcprules rules.cdb rules.tmp\n"},
		{[]string{"tcprules", path}, 100, "tcprules: usage: tcprules rules.cdb rules.tmp\n"},
		{[]string{"tcprules", path, "/nonexistent/r.tmp"}, 111, "tcprules: fatal: unable to create /nonexistent/r.tmp: file does not exist\n"},
		{[]string{"tcprules", dir, path + ".tmp"}, 111, "tcprules: fatal: unable to move " + path + ".tmp to " + dir + ": file already exists\n"},
	} {
		code, _, stderr := runProg(Tcprules, c.args, nil, ":allow\n")
		if code != c.code || stderr != c.msg {
			t.Errorf("%q: %d %q, want %d %q", c.args, code, stderr, c.code, c.msg)
		}
	}
}

// TestTcprulescheckMatchesUcspi compares our tcprulescheck with
// ucspi-tcp's for a table of clients, on a cdb made by their tcprules.
func TestTcprulescheckMatchesUcspi(t *testing.T) {
	needUcspi(t, "tcprulescheck")
	dir := t.TempDir()
	path := filepath.Join(dir, "r.cdb")
	cmd := exec.Command("tcprules", path, path+".tmp")
	cmd.Stdin = strings.NewReader(ruleFiles["mixed"])
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	envs := [][]string{
		nil,
		{"TCPREMOTEIP=127.0.0.1"},
		{"TCPREMOTEIP=127.0.0.1", "TCPREMOTEINFO=joe"},
		{"TCPREMOTEIP=127.0.0.1", "TCPREMOTEINFO=bob"},
		{"TCPREMOTEIP=127.0.0.2"},
		{"TCPREMOTEIP=127.0.0.2", "TCPREMOTEHOST=localhost"},
		{"TCPREMOTEIP=192.168.2.9"},
		{"TCPREMOTEIP=192.168.4.9"},
		{"TCPREMOTEIP=1.2.3.40"},
		{"TCPREMOTEIP=1.2.3.44", "TCPREMOTEHOST=mx.Example.com"},
		{"TCPREMOTEIP=1.2.3.44", "TCPREMOTEHOST=mx.example.com"},
		{"TCPREMOTEIP=9.9.9.9", "TCPREMOTEHOST=other.org"},
		{"TCPREMOTEIP=9.9.9.9", "TCPREMOTEHOST="},
		{"TCPREMOTEIP=9.9.9.9"},
	}
	for _, env := range envs {
		_, out, errs := runProg(Tcprulescheck, []string{"tcprulescheck", path}, env, "")
		cmd := exec.Command("tcprulescheck", path)
		cmd.Env = env
		theirs, err := cmd.Output()
		if err != nil || out != string(theirs) || errs != "" {
			t.Errorf("env %q:\nours %q %q\ntheirs %q %v", env, out, errs, theirs, err)
		}
	}
	// a missing or corrupt file: both exit 111
	bad := filepath.Join(dir, "bad.cdb")
	os.WriteFile(bad, []byte("x"), 0o644)
	for _, p := range []string{filepath.Join(dir, "none.cdb"), bad} {
		code, _, errs := runProg(Tcprulescheck, []string{"tcprulescheck", p}, nil, "")
		cmd := exec.Command("tcprulescheck", p)
		var eb bytes.Buffer
		cmd.Stderr = &eb
		err := cmd.Run()
		ee, _ := err.(*exec.ExitError)
		if code != 111 || ee == nil || ee.ExitCode() != 111 || errs != eb.String() {
			t.Errorf("%s: ours %d %q, theirs %v %q", p, code, errs, err, eb.String())
		}
	}
}

// FuzzCompileRules: any input compiles or fails with a ParseError
// (never a panic), and every record's data decodes.
func FuzzCompileRules(f *testing.F) {
	for _, in := range ruleFiles {
		f.Add(in)
	}
	f.Add("1.2.-.:allow,A=\"b\"\n::1:deny\n")
	f.Fuzz(func(t *testing.T, in string) {
		n := 0
		err := CompileRules(strings.NewReader(in), func(k, d []byte) error {
			if n++; n > 1<<16 {
				t.Fatal("too many records")
			}
			DecodeRule(d)
			return nil
		})
		var pe *ParseError
		if err != nil && !errors.As(err, &pe) {
			t.Fatal(err)
		}
	})
}
