package userdb

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

// fakeSystem is an account table and a file system of home owners.
type fakeSystem struct {
	accounts []Passwd
	homes    map[string]int   // home ⇒ owner uid
	statErr  map[string]error // home ⇒ stat error
	lookErr  map[string]error // name ⇒ lookup error
	asked    []string         // names looked up, in order
}

func (f *fakeSystem) lookup(name string) (Passwd, error) {
	f.asked = append(f.asked, name)
	if err := f.lookErr[name]; err != nil {
		return Passwd{}, err
	}
	return Accounts(f.accounts)(name)
}

func (f *fakeSystem) stat(home string) (int, error) {
	if err := f.statErr[home]; err != nil {
		return 0, err
	}
	uid, ok := f.homes[home]
	if !ok {
		return 0, syscall.ENOENT
	}
	return uid, nil
}

func baseSystem() *fakeSystem {
	long31 := strings.Repeat("l", 31)
	long32 := strings.Repeat("m", 32)
	return &fakeSystem{
		accounts: []Passwd{
			{"root", 0, 0, "/root"},
			{"joe", 507, 100, "/home/joe"},
			{"joe-foo", 508, 100, "/home/joe-foo"},
			{"stranger", 509, 100, "/home/shared"}, // home owned by someone else
			{"homeless", 510, 100, "/nonexistent"},
			{long31, 511, 100, "/home/l"},
			{long32, 512, 100, "/home/m"},
			{"alias", 7790, 2108, "/var/qmail/alias"},
			{"Upper", 513, 100, "/home/upper"},
		},
		homes: map[string]int{
			"/root": 0, "/home/joe": 507, "/home/joe-foo": 508, "/home/shared": 507,
			"/home/l": 511, "/home/m": 512, "/var/qmail/alias": 7790, "/home/upper": 513,
		},
	}
}

func TestGetpw(t *testing.T) {
	long31 := strings.Repeat("l", 31)
	long32 := strings.Repeat("m", 32)
	alias := func(ext string) Entry {
		return Entry{User: "alias", UID: 7790, GID: 2108, Home: "/var/qmail/alias", Dash: "-", Ext: ext}
	}
	tests := []struct {
		local string
		want  Entry
		asked []string // nil = not checked
	}{
		{"joe", Entry{"joe", 507, 100, "/home/joe", "", ""}, []string{"joe"}},
		{"JOE", Entry{"joe", 507, 100, "/home/joe", "", ""}, []string{"joe"}},
		{"joe-bar", Entry{"joe", 507, 100, "/home/joe", "-", "bar"}, []string{"joe-bar", "joe"}},
		{"Joe-Foo-Bar", Entry{"joe-foo", 508, 100, "/home/joe-foo", "-", "Bar"}, []string{"joe-foo-bar", "joe-foo"}},
		{"joe-x-y-z", Entry{"joe", 507, 100, "/home/joe", "-", "x-y-z"},
			[]string{"joe-x-y-z", "joe-x-y", "joe-x", "joe"}},
		{"joe-", Entry{"joe", 507, 100, "/home/joe", "-", ""}, []string{"joe-", "joe"}},
		{"joe.smith", alias("joe.smith"), []string{"joe.smith", "alias"}}, // '.' is no break
		{"root", alias("root"), []string{"root", "alias"}},                // uid 0 never
		{"root-x", alias("root-x"), nil},
		{"stranger", alias("stranger"), nil}, // home not owned
		{"homeless-a", alias("homeless-a"), []string{"homeless-a", "homeless", "alias"}},
		{long31, Entry{long31, 511, 100, "/home/l", "", ""}, nil},                       // 31 bytes: tried
		{long31 + "-X", Entry{long31, 511, 100, "/home/l", "-", "X"}, []string{long31}}, // 33 bytes: skipped
		{long32, alias(long32), []string{"alias"}},                                      // 32 bytes: skipped
		{long32 + "-x", alias(long32 + "-x"), []string{"alias"}},
		{"Upper", alias("Upper"), []string{"upper", "alias"}}, // looked up lowercased
		{"-joe", alias("-joe"), []string{"-joe", "", "alias"}},
		{"", alias(""), []string{"", "alias"}},
	}
	for _, tc := range tests {
		t.Run(tc.local, func(t *testing.T) {
			f := baseSystem()
			got, ok, err := Getpw(tc.local, f.lookup, f.stat)
			if err != nil || !ok {
				t.Fatalf("Getpw = %v %v", ok, err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if tc.asked != nil && strings.Join(f.asked, ",") != strings.Join(tc.asked, ",") {
				t.Errorf("looked up %q, want %q", f.asked, tc.asked)
			}
		})
	}
	_ = long32
}

func TestGetpwFailures(t *testing.T) {
	tests := []struct {
		name  string
		local string
		edit  func(f *fakeSystem)
		found bool
		code  int // 0 = no error
	}{
		{"no alias user", "nobody", func(f *fakeSystem) { f.accounts = f.accounts[:1] }, false, 0},
		{"password file unreadable", "joe", func(f *fakeSystem) {
			f.lookErr = map[string]error{"joe": errors.New("unable to read /etc/passwd")}
		}, false, ExitSys},
		{"alias lookup fails", "nobody", func(f *fakeSystem) {
			f.lookErr = map[string]error{"alias": syscall.ETXTBSY}
		}, false, ExitSys},
		{"home stat I/O error", "joe", func(f *fakeSystem) {
			f.statErr = map[string]error{"/home/joe": syscall.EIO}
		}, false, ExitNFS},
		{"home stat stale NFS handle", "joe-x", func(f *fakeSystem) {
			f.statErr = map[string]error{"/home/joe": syscall.ESTALE}
		}, false, ExitNFS},
		{"unknown stat error defers", "joe", func(f *fakeSystem) {
			f.statErr = map[string]error{"/home/joe": errors.New("strange")}
		}, false, ExitNFS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := baseSystem()
			tc.edit(f)
			_, ok, err := Getpw(tc.local, f.lookup, f.stat)
			if ok != tc.found {
				t.Fatalf("found = %v, want %v (err %v)", ok, tc.found, err)
			}
			var ge *GetpwError
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.As(err, &ge) || ge.Code != tc.code {
				t.Fatalf("err = %v, want code %d", err, tc.code)
			}
		})
	}
}

// TestGetpwHomeNotVisible: a home that is missing or hidden disqualifies
// the account without an error.
func TestGetpwHomeNotVisible(t *testing.T) {
	for _, e := range []error{syscall.ENOENT, syscall.EACCES, syscall.ENOTDIR, syscall.ELOOP, syscall.ENAMETOOLONG, fs.ErrNotExist} {
		f := baseSystem()
		f.statErr = map[string]error{"/home/joe": e}
		got, ok, err := Getpw("joe-x", f.lookup, f.stat)
		if err != nil || !ok || got.User != "alias" || got.Ext != "joe-x" {
			t.Errorf("%v: got %+v %v %v, want the alias user", e, got, ok, err)
		}
	}
}
