package prog

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestIsSelf: this executable, a link to it and a copy of it are "self";
// a script, a file of another size or content, and a missing file are not.
func TestIsSelf(t *testing.T) {
	self, data := selfBytes(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := filepath.Join(dir, "link")
	os.Symlink(self, link)
	changed := append([]byte(nil), data...)
	changed[len(changed)/2] ^= 0xff
	cases := []struct {
		path string
		want bool
	}{
		{self, true},
		{link, true},
		{write("copy", data), true},
		{write("script", []byte("#!/bin/sh\nexec true\n")), false},
		{write("changed", changed), false},
		{filepath.Join(dir, "missing"), false},
		{dir, false},
	}
	for _, c := range cases {
		if got := IsSelf(c.path); got != c.want {
			t.Errorf("IsSelf(%s) = %v, want %v", filepath.Base(c.path), got, c.want)
		}
	}
}

// TestIsSelfAfterUpgrade: a program started from bin/qmail whose file is
// then replaced (a new version renamed over it) is not that new file:
// "self" is the running image.
func TestIsSelfAfterUpgrade(t *testing.T) {
	_, data := selfBytes(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "qmail")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestIsSelfHelper$")
	cmd.Env = append(os.Environ(), "GOQMAIL_ISSELF_HELPER="+bin)
	in, _ := cmd.StdinPipe()
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	changed := append([]byte(nil), data...)
	changed[len(changed)/2] ^= 0xff
	if err := os.WriteFile(bin+".new", changed, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bin+".new", bin); err != nil {
		t.Fatal(err)
	}
	in.Write([]byte("go\n"))
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "isself=false") {
		t.Errorf("after the upgrade the helper said %q, want isself=false", out.String())
	}
}

// TestIsSelfHelper is the program TestIsSelfAfterUpgrade starts: it
// waits for its binary to be replaced, then says whether that path is
// itself.
func TestIsSelfHelper(t *testing.T) {
	path := os.Getenv("GOQMAIL_ISSELF_HELPER")
	if path == "" {
		t.Skip("run by TestIsSelfAfterUpgrade")
	}
	bufio.NewReader(os.Stdin).ReadString('\n')
	fmt.Printf("isself=%v\n", IsSelf(path))
}

// selfBytes is the test binary's path and contents.
func selfBytes(t *testing.T) (string, []byte) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	return self, data
}
