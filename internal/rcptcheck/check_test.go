package rcptcheck

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"goqmail/internal/control"
	"goqmail/internal/rewrite"
	"goqmail/internal/testutil"
	"goqmail/internal/userdb"
)

// fixture is a qmail home with two account homes, joe's and alias's.
type fixture struct {
	home, joe, alias string
}

func newFixture(t *testing.T, dir string) fixture {
	t.Helper()
	f := fixture{home: filepath.Join(dir, "qmail"), joe: filepath.Join(dir, "joe"), alias: filepath.Join(dir, "alias")}
	for _, d := range []string{f.home + "/control", f.home + "/users", f.joe + "/.qmail-dir", f.alias} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{
		f.joe + "/.qmail-list", f.joe + "/.qmail-info", f.joe + "/.qmail-sub-default",
		f.joe + "/.qmail-a:b", f.alias + "/.qmail-postmaster",
	} {
		testutil.MustWrite(t, p, "./Maildir/\n", 0o644)
	}
	return f
}

func (f fixture) checker() *Checker {
	accts := map[string]userdb.Passwd{
		"joe":   {Name: "joe", UID: 1000, GID: 100, Home: f.joe},
		"alias": {Name: "alias", UID: 1001, GID: 100, Home: f.alias},
	}
	owners := map[string]int{f.joe: 1000, f.alias: 1001}
	return &Checker{
		Home: f.home,
		RW: &rewrite.Rewriter{
			EnvNoAtHost: "localhost",
			Locals:      control.NewSet([]string{"localhost"}),
			PercentHack: control.NewSet([]string{"localhost"}),
			VirtualDoms: control.ParseMap([]string{"virt.example:joe", "remote.virt.example:"}),
		},
		Accounts: func(name string) (userdb.Passwd, error) {
			if pw, ok := accts[name]; ok {
				return pw, nil
			}
			return userdb.Passwd{}, userdb.ErrNoAccount
		},
		Stat: func(path string) (int, error) {
			if uid, ok := owners[path]; ok {
				return uid, nil
			}
			return 0, syscall.ENOENT
		},
	}
}

func TestCheck(t *testing.T) {
	f := newFixture(t, t.TempDir())
	tests := []struct {
		rcpt string
		want Verdict
	}{
		{"someone@remote.example", Exists},         // not local: never checked
		{"x@remote.virt.example", Exists},          // virtualdomains exception: remote
		{"joe@localhost", Exists},                  // the user himself: dash "", default delivery
		{"joe", Exists},                            // no @: envnoathost
		{"joe-list@localhost", Exists},             // .qmail-list
		{"JOE-List@LOCALHOST", Exists},             // case folds as in delivery
		{"joe-a.b@localhost", Exists},              // '.' becomes ':'
		{"joe-sub@localhost", Unknown},             // .qmail-sub-default takes only sub-SOMETHING
		{"joe-sub-x-y@localhost", Exists},          // .qmail-sub-default
		{"joe-nope@localhost", Unknown},            // no file and no -default
		{"joe-dir@localhost", Unknown},             // a directory is not a .qmail file
		{"joe-@localhost", Unknown},                // .qmail- and .qmail-default missing
		{"postmaster@localhost", Exists},           // alias's .qmail-postmaster
		{"Postmaster@localhost", Exists},           // ext lowercased
		{"nobody@localhost", Unknown},              // alias takes it, no file
		{"nobody", Unknown},                        // envnoathost is local
		{"@localhost", Exists},                     // empty local part: qmail-lspawn's trash
		{"info@virt.example", Exists},              // joe-info@virt.example
		{"other@virt.example", Unknown},            // joe-other: no file
		{"postmaster%localhost@localhost", Exists}, // percent hack
		{"nope%localhost@localhost", Unknown},
	}
	c := f.checker()
	for _, tt := range tests {
		got, why := c.Check(tt.rcpt)
		if got != tt.want {
			t.Errorf("Check(%q) = %v (%v), want %v", tt.rcpt, got, why, tt.want)
		}
		if got == Unknown && why == nil {
			t.Errorf("Check(%q): Unknown without a reason", tt.rcpt)
		}
	}
}

// TestCheckDefault: a -default file takes everything below it, and the
// alias user's .qmail-default takes every address.
func TestCheckDefault(t *testing.T) {
	f := newFixture(t, t.TempDir())
	c := f.checker()
	if v, _ := c.Check("joe-anything@localhost"); v != Unknown {
		t.Fatalf("before .qmail-default: %v, want Unknown", v)
	}
	testutil.MustWrite(t, f.joe+"/.qmail-default", "./Maildir/\n", 0o644)
	testutil.MustWrite(t, f.alias+"/.qmail-default", "./Maildir/\n", 0o644)
	for _, rcpt := range []string{"joe-anything@localhost", "joe-@localhost", "whoever@localhost", "other@virt.example"} {
		if v, why := c.Check(rcpt); v != Exists {
			t.Errorf("Check(%q) = %v (%v), want Exists", rcpt, v, why)
		}
	}
}

// TestCheckUsersCDB: users/cdb decides before the password file.
func TestCheckUsersCDB(t *testing.T) {
	f := newFixture(t, t.TempDir())
	testutil.MustWrite(t, f.home+"/users/assign",
		"=cdbuser:joe:1000:100:"+f.joe+":-:list:\n"+
			"=cdbnone:joe:1000:100:"+f.joe+":-:zzz:\n"+
			"=cdbplain:joe:1000:100:"+f.joe+":::\n"+
			"+pre-:joe:1000:100:"+f.joe+":-:sub-:\n.\n", 0o644)
	if err := userdb.BuildCDB(f.home); err != nil {
		t.Fatal(err)
	}
	c := f.checker()
	for _, tt := range []struct {
		rcpt string
		want Verdict
	}{
		{"cdbuser@localhost", Exists},
		{"cdbnone@localhost", Unknown},
		{"cdbplain@localhost", Exists}, // dash "": default delivery
		{"pre-x@localhost", Exists},    // ext sub-x: .qmail-sub-default
		{"joe-list@localhost", Exists}, // not in cdb: qmail-getpw
		{"nobody@localhost", Unknown},
	} {
		if v, why := c.Check(tt.rcpt); v != tt.want {
			t.Errorf("Check(%q) = %v (%v), want %v", tt.rcpt, v, why, tt.want)
		}
	}
}

// TestCheckCannotTell: every failure to look means the address exists.
func TestCheckCannotTell(t *testing.T) {
	tests := []struct {
		name, rcpt string
		setup      func(f fixture, c *Checker)
	}{
		{"corrupt users/cdb", "nobody@localhost", func(f fixture, c *Checker) {
			testutil.MustWrite(t, f.home+"/users/cdb", "garbage", 0o644)
		}},
		{"password file unreadable", "nobody@localhost", func(f fixture, c *Checker) {
			c.Accounts = func(string) (userdb.Passwd, error) { return userdb.Passwd{}, errors.New("EIO") }
		}},
		{"no alias user", "nobody@localhost", func(f fixture, c *Checker) {
			c.Accounts = func(string) (userdb.Passwd, error) { return userdb.Passwd{}, userdb.ErrNoAccount }
		}},
		{"a home it may not stat", "joe-nope@localhost", func(f fixture, c *Checker) {
			c.Stat = func(string) (int, error) { return 0, syscall.EACCES }
		}},
		{"a home that stat fails on", "joe-nope@localhost", func(f fixture, c *Checker) {
			c.Stat = func(string) (int, error) { return 0, syscall.EIO }
		}},
		{"alias home missing", "nobody@localhost", func(f fixture, c *Checker) {
			if err := os.RemoveAll(f.alias); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, t.TempDir())
			c := f.checker()
			if v, _ := c.Check(tt.rcpt); v != Unknown {
				t.Fatalf("before %s: %v, want Unknown", tt.name, v)
			}
			c = f.checker()
			tt.setup(f, c)
			if v, why := c.Check(tt.rcpt); v != Exists {
				t.Errorf("%s: Check = %v (%v), want Exists", tt.name, v, why)
			}
		})
	}
}

// TestCheckUnreadableHome: a home the checking account cannot search
// (qmail-smtpd runs as qmaild) means the address is accepted.
func TestCheckUnreadableHome(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	f := newFixture(t, t.TempDir())
	c := f.checker()
	if v, _ := c.Check("joe-nope@localhost"); v != Unknown {
		t.Fatalf("readable home: %v, want Unknown", v)
	}
	if err := os.Chmod(f.joe, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(f.joe, 0o755)
	if v, why := c.Check("joe-nope@localhost"); v != Exists {
		t.Errorf("unsearchable home: %v (%v), want Exists", v, why)
	}
}

func TestCandidates(t *testing.T) {
	tests := []struct {
		dash, ext string
		want      []string
	}{
		{"-", "foo-bar", []string{".qmail-foo-bar", ".qmail-foo-default", ".qmail-default"}},
		{"-", "a-b-", []string{".qmail-a-b-", ".qmail-a-b-default", ".qmail-a-default", ".qmail-default"}},
		{"-", "", []string{".qmail-", ".qmail-default"}},
		{"", "", []string{".qmail", ".qmaildefault"}},
		{"-", "Some.Thing", []string{".qmail-some:thing", ".qmail-default"}},
	}
	for _, tt := range tests {
		got := Candidates(tt.dash, tt.ext)
		if len(got) != len(tt.want) {
			t.Errorf("Candidates(%q, %q) = %q, want %q", tt.dash, tt.ext, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("Candidates(%q, %q) = %q, want %q", tt.dash, tt.ext, got, tt.want)
				break
			}
		}
	}
}

func TestLoadRewriter(t *testing.T) {
	home := t.TempDir()
	testutil.MustWrite(t, home+"/control/me", "mail.example\n", 0o644)
	testutil.MustWrite(t, home+"/control/virtualdomains", "v.example:vuser\n", 0o644)
	rw, err := rewrite.Load(control.New(home))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		in, out string
		local   bool
	}{
		{"a", "a@mail.example", true},
		{"a@MAIL.example", "a@MAIL.example", true},
		{"a@v.example", "vuser-a@v.example", true},
		{"a%b@mail.example", "a%b@mail.example", true},
		{"a@elsewhere", "a@elsewhere", false},
	} {
		out, local := rw.Rewrite(tt.in)
		if out != tt.out || local != tt.local {
			t.Errorf("Rewrite(%q) = %q, %v; want %q, %v", tt.in, out, local, tt.out, tt.local)
		}
	}
	if err := os.Remove(home + "/control/me"); err != nil {
		t.Fatal(err)
	}
	if _, err := rewrite.Load(control.New(home)); err == nil {
		t.Error("LoadRewriter without locals and me: no error")
	}
}
