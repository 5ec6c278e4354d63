package install

import (
	"os"
	"testing"
)

// TestQueueFoldersSpread: where the file system has the +T flag (ext4),
// install sets it on queue/ and on the four hashed folders, and on
// nothing else; elsewhere install succeeds without it.
func TestQueueFoldersSpread(t *testing.T) {
	if !isRoot() {
		t.Skip("installs for nobody as root")
	}
	home := openBase(t) + "/qmail"
	mustInstall(t, writeFake(t, "# v\n"), "--home", home, "--user-mode")
	probe, err := os.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	var flags int32
	err = ioctl(probe, fsIocGetflags, &flags)
	probe.Close()
	if err != nil {
		t.Skipf("no inode flags on this file system: %v", err)
	}
	for dir, want := range map[string]bool{
		"queue": true, "queue/mess": true, "queue/info": true, "queue/local": true, "queue/remote": true,
		"queue/pid": false, "queue/mess/0": false, "control": false, "": false,
	} {
		f, err := os.Open(home + "/" + dir)
		if err != nil {
			t.Fatal(err)
		}
		var fl int32
		err = ioctl(f, fsIocGetflags, &fl)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if got := fl&fsTopdirFl != 0; got != want {
			t.Errorf("%q: +T %v, want %v", dir, got, want)
		}
	}
}
