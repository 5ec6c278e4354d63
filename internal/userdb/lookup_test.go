package userdb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"goqmail/internal/cdb"
	"goqmail/internal/testutil"
)

const lookupAssign = `=joe:joe:507:100:/home/joe:::
+joe-:joe:507:100:/home/joe:-::
+joe-list-:list:600:100:/home/list:-:l-:
+info.:info:601:100:/home/info:-:In-:
+bob:bob:602:100:/home/bob:-:b:
+Cap:cap:603:100:/home/cap:-::
+nocatchall-here:x:604:100:/x:-::
=exact-beats-wild:exact:605:100:/e:::
+exact-:wild:606:100:/w:-::
+:alias:7790:2108:/var/qmail/alias:-::
.
`

func TestLookup(t *testing.T) {
	home := newHome(t, lookupAssign)
	if err := BuildCDB(home); err != nil {
		t.Fatal(err)
	}
	alias := func(ext string) Entry {
		return Entry{User: "alias", UID: 7790, GID: 2108, Home: "/var/qmail/alias", Dash: "-", Ext: ext}
	}
	joe := Entry{User: "joe", UID: 507, GID: 100, Home: "/home/joe"}
	joeExt := func(ext string) Entry { e := joe; e.Dash, e.Ext = "-", ext; return e }
	tests := []struct {
		local string
		want  Entry
	}{
		{"joe", joe},                       // = entry
		{"JOE", joe},                       // case folded
		{"joe-", joeExt("")},               // + prefix, empty rest
		{"joe-Foo", joeExt("Foo")},         // ext keeps the original case
		{"JOE-Foo.Bar", joeExt("Foo.Bar")}, // prefix matched case-insensitively
		{"joe-list-X", Entry{"list", 600, 100, "/home/list", "-", "l-X"}}, // longest prefix wins
		{"joe-list", joeExt("list")},                                      // "joe-list" is no key; "joe-" is
		{"info.Sales", Entry{"info", 601, 100, "/home/info", "-", "In-Sales"}},
		{"bob", Entry{"bob", 602, 100, "/home/bob", "-", "b"}},       // +bob matches bob itself
		{"bobby", Entry{"bob", 602, 100, "/home/bob", "-", "bby"}},   // 'b' is a wildcard character
		{"CAPS", Entry{"cap", 603, 100, "/home/cap", "-", "S"}},      // "+Cap" is stored as "!cap"
		{"exact-beats-wild", Entry{"exact", 605, 100, "/e", "", ""}}, // = beats +
		{"exact-other", Entry{"wild", 606, 100, "/w", "-", "other"}},
		{"nobody", alias("nobody")}, // "+:" catch-all, ext = whole local part
		{"NoBody.Else", alias("NoBody.Else")},
		{"", alias("")},
	}
	for _, tc := range tests {
		t.Run(tc.local, func(t *testing.T) {
			got, ok, err := Lookup(home, tc.local)
			if err != nil || !ok {
				t.Fatalf("Lookup(%q) = %v, %v", tc.local, ok, err)
			}
			if got != tc.want {
				t.Fatalf("Lookup(%q) = %+v, want %+v", tc.local, got, tc.want)
			}
		})
	}
}

// TestLookupWildcardRule checks that a prefix is tried only when its last
// byte is in the wildcard set (or it is the bare "!").
func TestLookupWildcardRule(t *testing.T) {
	// "+ab" puts 'b' in the set. The record "!a" exists (from a '+a' line
	// whose 'a' is in the set only in the second case).
	tests := []struct {
		name   string
		assign string
		local  string
		found  bool
		ext    string
	}{
		{"prefix ending in a wildcard character", "+a:u:1:1:/h:-:x:\n.\n", "aZZ", true, "xZZ"},
		{"prefix whose last byte is not in the set", "+ab:u:1:1:/h:-:x:\n=dummy:d:1:1:/d:::\n.\n", "acd", false, ""},
		{"uppercase last character never matches (qmail-newu keeps its case)", "+joE:u:1:1:/h:-::\n.\n", "joe", false, ""},
		{"uppercase works when the lowercase letter is in the set", "+joE:u:1:1:/h:-::\n+xe:v:1:1:/v:-::\n.\n", "joey", true, "y"},
		{"no catch-all, no match", "+x-:u:1:1:/h:-::\n.\n", "y", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := newHome(t, tc.assign)
			if err := BuildCDB(home); err != nil {
				t.Fatal(err)
			}
			e, ok, err := Lookup(home, tc.local)
			if err != nil || ok != tc.found || (ok && e.Ext != tc.ext) {
				t.Fatalf("Lookup(%q) = %+v %v %v, want found=%v ext %q", tc.local, e, ok, err, tc.found, tc.ext)
			}
		})
	}
}

// makeCDB writes a users/cdb from raw records.
func makeCDB(t *testing.T, recs ...rec) string {
	t.Helper()
	home := t.TempDir()
	os.Mkdir(filepath.Join(home, "users"), 0o755)
	err := cdb.Make(filepath.Join(home, CDBPath), filepath.Join(home, CDBPath+".tmp"), func(w *cdb.Writer) error {
		for _, r := range recs {
			if err := w.Add([]byte(r.key), []byte(r.data)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return home
}

func TestLookupNotFoundAndErrors(t *testing.T) {
	t.Run("no users/cdb", func(t *testing.T) {
		_, ok, err := Lookup(t.TempDir(), "joe")
		if ok || err != nil {
			t.Fatalf("got %v %v, want not found", ok, err)
		}
	})
	t.Run("no entry", func(t *testing.T) {
		home := makeCDB(t, rec{"", ""}, rec{"!joe\x00", "joe\x001\x001\x00/h\x00\x00"})
		_, ok, err := Lookup(home, "bill")
		if ok || err != nil {
			t.Fatalf("got %v %v, want not found", ok, err)
		}
	})
	errs := []struct {
		name  string
		setup func(t *testing.T) string
		local string
		want  string
	}{
		{"no wildcard record", func(t *testing.T) string {
			return makeCDB(t, rec{"!joe\x00", "joe\x001\x001\x00/h\x00\x00"})
		}, "joe", "no wildcard record"},
		{"bad uid", func(t *testing.T) string {
			return makeCDB(t, rec{"", ""}, rec{"!joe\x00", "joe\x00x\x001\x00/h\x00\x00"})
		}, "joe", `bad record: bad uid "x"`},
		{"too few fields", func(t *testing.T) string {
			return makeCDB(t, rec{"", ""}, rec{"!joe\x00", "joe\x001\x001\x00/h"})
		}, "joe", "bad record: record has 4 fields"},
		{"short file", func(t *testing.T) string {
			home := t.TempDir()
			testutil.MustWrite(t, filepath.Join(home, CDBPath), "short", 0o644)
			return home
		}, "joe", "corrupt"},
		{"table points past the end", func(t *testing.T) string {
			home := makeCDB(t, rec{"", ""})
			p := filepath.Join(home, CDBPath)
			b, _ := os.ReadFile(p)
			h := cdb.Hash([]byte("!joe\x00")) & 255
			b[h*8], b[h*8+1], b[h*8+2], b[h*8+3] = 0xff, 0xff, 0xff, 0x00
			b[h*8+4] = 2
			os.WriteFile(p, b, 0o644)
			return home
		}, "joe", "corrupt"},
		{"users/cdb is a directory", func(t *testing.T) string {
			home := t.TempDir()
			os.MkdirAll(filepath.Join(home, CDBPath), 0o755)
			return home
		}, "joe", "unable to read users/cdb"},
		{"NUL in the local part", func(t *testing.T) string { return t.TempDir() }, "joe\x00x", "contains NUL"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, ok, err := Lookup(tc.setup(t), tc.local)
			if ok || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v %v, want an error containing %q", ok, err, tc.want)
			}
		})
	}
}
