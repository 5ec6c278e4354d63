package prog

import (
	"os"
	"path/filepath"
	"testing"
)

// TestIsSelf: this executable, a link to it and a copy of it are "self";
// a script, a file of another size or content, and a missing file are not.
func TestIsSelf(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
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
