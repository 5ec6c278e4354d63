package install

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"goqmail/internal/prog"
	"goqmail/internal/testutil/accounts"
)

// testPrograms stands in for the dispatcher's names: some of each mode.
var testPrograms = []string{
	"config-fast", "instcheck", "qmail-inject", "qmail-local", "qmail-lspawn",
	"qmail-newu", "qmail-queue", "qmail-send", "qmail-smtpd",
}

// fakeBinary is a stand-in for the goqmail binary: run as qmail-newu it
// makes users/cdb from users/assign (a copy, not a real cdb: the real
// qmail-newu is another package's); anything else fails.
const fakeBinary = `#!/bin/sh
case "${0##*/}" in
qmail-newu)
  test -f users/assign || exit 111
  cp users/assign users/cdb.tmp && chmod 644 users/cdb.tmp && mv users/cdb.tmp users/cdb ;;
*) echo "fake qmail: $0" >&2; exit 100 ;;
esac
`

// openBase is a temp folder every account can pass through (t.TempDir's
// parent is 0700).
func openBase(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "goqmail-install-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Getuid() == 0 {
		accounts.Release(t, dir) // a root-mode install may make them here
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeFake writes a stand-in binary (with extra text to tell versions
// apart) in a folder every account can read.
func writeFake(t *testing.T, extra string) string {
	t.Helper()
	p := filepath.Join(openBase(t), "qmail")
	if err := os.WriteFile(p, []byte(fakeBinary+extra), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

type result struct {
	code           int
	stdout, stderr string
}

func runProg(main func(*prog.Context) int, home string, args ...string) result {
	var out, errb bytes.Buffer
	ctx := &prog.Context{Args: args, Home: home, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}
	code := main(ctx)
	return result{code, out.String(), errb.String()}
}

func runInstall(binary string, args ...string) result {
	return runProg(func(c *prog.Context) int { return mainBinary(c, testPrograms, binary) }, "", append([]string{"install"}, args...)...)
}

func runCheck(home string) result {
	return runProg(func(c *prog.Context) int { return Check(c, testPrograms) }, home, "instcheck")
}

func mustInstall(t *testing.T, binary string, args ...string) {
	t.Helper()
	r := runInstall(binary, args...)
	if r.code != 0 {
		t.Fatalf("install %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
}

func mustClean(t *testing.T, home string) {
	t.Helper()
	r := runCheck(home)
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("instcheck %s: exit %d\nstdout: %s\nstderr: %s", home, r.code, r.stdout, r.stderr)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func isRoot() bool { return os.Geteuid() == 0 }
