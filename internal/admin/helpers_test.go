package admin

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"goqmail/internal/prog"
	"goqmail/internal/testutil"
)

// run calls a program in-process the way cmd/qmail does.
func run(t *testing.T, main prog.Main, home string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx := &prog.Context{
		Args:   args,
		Env:    []string{"PATH=/bin:/usr/bin"},
		Home:   home,
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		Stderr: &errb,
	}
	code = main(ctx)
	return out.String(), errb.String(), code
}

// writeControl writes control files into home/control.
func writeControl(t *testing.T, home string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(home, "control"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		testutil.MustWrite(t, filepath.Join(home, "control", name), content, 0o644)
	}
}
