package admin

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"goqmail/internal/cdb"
	"goqmail/internal/testutil"
)

// cdbRecords lists a cdb's records in file order as "key=data".
func cdbRecords(t *testing.T, path string) []string {
	t.Helper()
	r, err := cdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	if err := r.ForEach(func(k, v []byte) error {
		out = append(out, string(k)+"="+string(v))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNewmrh(t *testing.T) {
	for _, c := range []struct {
		label string
		input string
		want  []string
	}{
		{"rules", "Example.COM \t\r\n#comment\n\n  Lead.example\nexample.com\nUPPER.example\n \t\n# x\nÉ.example",
			[]string{"example.com=", "  lead.example=", "example.com=", "upper.example=", "É.example="}},
		{"empty", "", nil},
		{"only comments", "# none\n\n", nil},
	} {
		t.Run(c.label, func(t *testing.T) {
			home := t.TempDir()
			writeControl(t, home, map[string]string{"morercpthosts": c.input})
			out, errs, code := run(t, Newmrh, home, "qmail-newmrh")
			if code != 0 || out != "" || errs != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
			}
			path := filepath.Join(home, "control", "morercpthosts.cdb")
			if got := cdbRecords(t, path); !reflect.DeepEqual(got, c.want) {
				t.Errorf("records %q, want %q", got, c.want)
			}
			if _, err := os.Stat(path[:len(path)-4] + ".tmp"); !os.IsNotExist(err) {
				t.Errorf("morercpthosts.tmp left behind: %v", err)
			}
			r, err := cdb.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for _, k := range c.want {
				if _, ok, err := r.Get([]byte(k[:len(k)-1])); !ok || err != nil {
					t.Errorf("Get(%q): %v %v", k, ok, err)
				}
			}
		})
	}
}

func TestNewmrhErrors(t *testing.T) {
	t.Run("missing morercpthosts", func(t *testing.T) {
		home := t.TempDir()
		writeControl(t, home, nil)
		_, errs, code := run(t, Newmrh, home, "qmail-newmrh")
		want := "qmail-newmrh: fatal: unable to read control/morercpthosts: no such file or directory\n"
		if code != 111 || errs != want {
			t.Errorf("exit %d stderr %q; want 111 %q", code, errs, want)
		}
		if _, err := os.Stat(filepath.Join(home, "control", "morercpthosts.cdb")); !os.IsNotExist(err) {
			t.Errorf("a cdb was made: %v", err)
		}
	})
	t.Run("cdb is a folder", func(t *testing.T) {
		home := t.TempDir()
		writeControl(t, home, map[string]string{"morercpthosts": "a.example\n", "morercpthosts.cdb/x": "x"})
		_, errs, code := run(t, Newmrh, home, "qmail-newmrh")
		want := "qmail-newmrh: fatal: unable to move control/morercpthosts.tmp to control/morercpthosts.cdb: "
		if code != 111 || len(errs) < len(want) || errs[:len(want)] != want {
			t.Errorf("exit %d stderr %q; want 111 %q...", code, errs, want)
		}
		if _, err := os.Stat(filepath.Join(home, "control", "morercpthosts.tmp")); !os.IsNotExist(err) {
			t.Errorf("morercpthosts.tmp left behind: %v", err)
		}
	})
}

func TestNewmrhUnprivileged(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	t.Run("unreadable morercpthosts", func(t *testing.T) {
		home := t.TempDir()
		writeControl(t, home, nil)
		testutil.MustWrite(t, filepath.Join(home, "control", "morercpthosts"), "a.example\n", 0)
		_, errs, code := run(t, Newmrh, home, "qmail-newmrh")
		want := "qmail-newmrh: fatal: unable to read control/morercpthosts: permission denied\n"
		if code != 111 || errs != want {
			t.Errorf("exit %d stderr %q; want 111 %q", code, errs, want)
		}
	})
	t.Run("control not writable", func(t *testing.T) {
		home := t.TempDir()
		writeControl(t, home, map[string]string{"morercpthosts": "a.example\n"})
		ctl := filepath.Join(home, "control")
		if err := os.Chmod(ctl, 0o555); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(ctl, 0o755)
		_, errs, code := run(t, Newmrh, home, "qmail-newmrh")
		want := "qmail-newmrh: fatal: unable to write control/morercpthosts.tmp: permission denied\n"
		if code != 111 || errs != want {
			t.Errorf("exit %d stderr %q; want 111 %q", code, errs, want)
		}
	})
}

// TestNewmrhMatchesTinycdb compares qmail-newmrh's cdb byte for byte with
// the one tinycdb's "cdb -c" makes from the same records (Debian package
// tinycdb; the test is skipped without it).
func TestNewmrhMatchesTinycdb(t *testing.T) {
	tool, err := exec.LookPath("cdb")
	if err != nil {
		t.Skip("tinycdb's cdb is not installed")
	}
	home := t.TempDir()
	writeControl(t, home, map[string]string{"morercpthosts": "A.example\n#x\n\nb.EXAMPLE \t\na.example\n"})
	if _, errs, code := run(t, Newmrh, home, "qmail-newmrh"); code != 0 {
		t.Fatal(errs)
	}
	ref := filepath.Join(home, "ref.cdb")
	cmd := exec.Command(tool, "-c", ref)
	cmd.Stdin = strings.NewReader("+9,0:a.example->\n+9,0:b.example->\n+9,0:a.example->\n\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cdb -c: %v %s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(home, "control", "morercpthosts.cdb"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("qmail-newmrh's cdb (%d bytes) differs from tinycdb's (%d bytes)", len(got), len(want))
	}
}
