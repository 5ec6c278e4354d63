package prog

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSharedImage: a daemon whose name leads to a copy of bin/qmail is
// exec'd from bin/qmail; one whose name is bin/qmail's own file, a
// wrapper script, another program or nothing keeps its own path.
func TestSharedImage(t *testing.T) {
	bin := t.TempDir()
	write := func(name, data string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("qmail", "the binary", 0o755)
	write("qmail.0711", "the binary", 0o711)
	write("qmail-wrapped", "#!/bin/sh\nexec qmail\n", 0o755)
	write("qmail-other", "the binarY", 0o711)
	os.Symlink("qmail.0711", filepath.Join(bin, "qmail-send"))
	os.Symlink("qmail", filepath.Join(bin, "qmail-smtpd"))
	shared := filepath.Join(bin, "qmail")
	for name, want := range map[string]string{
		"qmail-send":    shared,
		"qmail.0711":    shared,
		"qmail-smtpd":   filepath.Join(bin, "qmail-smtpd"),
		"qmail-wrapped": filepath.Join(bin, "qmail-wrapped"),
		"qmail-other":   filepath.Join(bin, "qmail-other"),
		"qmail-missing": filepath.Join(bin, "qmail-missing"),
	} {
		if got := SharedImage(bin, name); got != want {
			t.Errorf("SharedImage(%s) = %s, want %s", name, got, want)
		}
	}
	if os.Getuid() == 0 {
		// Run as root, only a bin/qmail nobody else can change is exec'd.
		os.Chmod(shared, 0o775)
		if got := SharedImage(bin, "qmail-send"); got != filepath.Join(bin, "qmail-send") {
			t.Errorf("group-writable bin/qmail: SharedImage(qmail-send) = %s", got)
		}
		os.Chmod(shared, 0o755|os.ModeSetuid)
		if got := SharedImage(bin, "qmail-send"); got != filepath.Join(bin, "qmail-send") {
			t.Errorf("setuid bin/qmail: SharedImage(qmail-send) = %s", got)
		}
	}
	os.Remove(shared)
	if got := SharedImage(bin, "qmail-send"); got != filepath.Join(bin, "qmail-send") {
		t.Errorf("without bin/qmail: SharedImage(qmail-send) = %s", got)
	}
}

// TestSharedQueueImage: a setuid copy may run on from bin/qmail beside
// it only when the folder and bin/qmail belong to root, are writable by
// nobody else, and bin/qmail has the copy's bytes; never when the copy
// is not setuid (the exec'd worker itself), and never through a link.
func TestSharedQueueImage(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("the checks are of root's ownership: run as root (CI does)")
	}
	const data = "the binary"
	setup := func(t *testing.T) (dir, self string) {
		dir = filepath.Join(t.TempDir(), "bin")
		os.Mkdir(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "qmail"), []byte(data), 0o755)
		q := filepath.Join(dir, "qmail-queue")
		os.WriteFile(q, []byte(data), 0o711)
		if err := os.Chmod(q, 0o711|os.ModeSetuid); err != nil {
			t.Fatal(err)
		}
		self = filepath.Join(t.TempDir(), "exe") // stands for /proc/self/exe
		os.Symlink(q, self)
		return dir, self
	}
	cases := []struct {
		name   string
		change func(dir string)
		ok     bool
	}{
		{"as installed", func(string) {}, true},
		{"copy not setuid", func(d string) { os.Chmod(filepath.Join(d, "qmail-queue"), 0o711) }, false},
		{"folder not root's", func(d string) { os.Chown(d, 65534, 65534) }, false},
		{"folder group-writable", func(d string) { os.Chmod(d, 0o775) }, false},
		{"qmail not root's", func(d string) { os.Chown(filepath.Join(d, "qmail"), 65534, 65534) }, false},
		{"qmail writable by others", func(d string) { os.Chmod(filepath.Join(d, "qmail"), 0o757) }, false},
		{"qmail other bytes", func(d string) { os.WriteFile(filepath.Join(d, "qmail"), []byte("the binarY"), 0o755) }, false},
		{"qmail a link", func(d string) {
			os.Remove(filepath.Join(d, "qmail"))
			os.Symlink("qmail-queue", filepath.Join(d, "qmail"))
		}, false},
		{"no qmail", func(d string) { os.Remove(filepath.Join(d, "qmail")) }, false},
		// Either would make the exec'd worker exec itself for ever.
		{"qmail setgid", func(d string) { os.Chmod(filepath.Join(d, "qmail"), 0o755|os.ModeSetgid) }, false},
		{"qmail the copy itself", func(d string) {
			os.Remove(filepath.Join(d, "qmail"))
			os.Link(filepath.Join(d, "qmail-queue"), filepath.Join(d, "qmail"))
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, self := setup(t)
			c.change(dir)
			f, err := sharedQueueImage(self)
			if c.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if f.Name() != filepath.Join(dir, "qmail") {
					t.Errorf("opened %s", f.Name())
				}
				f.Close()
			} else if err == nil {
				f.Close()
				t.Errorf("accepted %s", f.Name())
			}
		})
	}
}

// TestIsInstalledSelf: a daemon run from bin/qmail takes bin/NAME for its
// own when it is the very file its own name leads to (a copy it may not
// be able to read), but not a wrapper, and not when bin/qmail is not this
// program.
func TestIsInstalledSelf(t *testing.T) {
	_, data := selfBytes(t)
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "qmail"), data, 0o755)
	// Other bytes of the same size, so that only the same-file rule can
	// say yes (a copy the daemon could not read would not compare either).
	other := append([]byte(nil), data...)
	other[len(other)/2] ^= 0xff
	os.WriteFile(filepath.Join(bin, "qmail.0711"), other, 0o711)
	os.Symlink("qmail.0711", filepath.Join(bin, "qmail-rspawn"))
	os.Symlink("qmail.0711", filepath.Join(bin, "qmail-remote"))
	os.WriteFile(filepath.Join(bin, "qmail-wrapped"), []byte("#!/bin/sh\n"), 0o755)
	// One dispatcher script that two names lead to is not the program.
	os.WriteFile(filepath.Join(bin, "dispatch"), []byte("#!/bin/sh\nexec -a \"$0\" qmail \"$@\"\n"), 0o755)
	os.Symlink("dispatch", filepath.Join(bin, "qmail-lspawn"))
	os.Symlink("dispatch", filepath.Join(bin, "qmail-local"))
	os.Symlink("qmail", filepath.Join(bin, "qmail-smtpd"))
	for _, c := range []struct {
		own, name string
		want      bool
	}{
		{"qmail-rspawn", "qmail-remote", true},
		{"qmail-rspawn", "qmail-wrapped", false},
		{"qmail-rspawn", "qmail-smtpd", true}, // bin/qmail itself: IsSelf
		{"qmail-remote", "qmail-remote", false},
		{"qmail-lspawn", "qmail-remote", false}, // other files
		{"qmail-lspawn", "qmail-local", false},  // one wrapper, not the program
	} {
		if got := IsInstalledSelf(bin, c.own, c.name); got != c.want {
			t.Errorf("IsInstalledSelf(%s, %s) = %v, want %v", c.own, c.name, got, c.want)
		}
	}
	os.WriteFile(filepath.Join(bin, "qmail"), []byte("not this program"), 0o755)
	if IsInstalledSelf(bin, "qmail-rspawn", "qmail-remote") {
		t.Error("bin/qmail is another program, yet qmail-remote was taken for this one")
	}
}
