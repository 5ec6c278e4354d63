package localdelivery

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"goqmail/internal/prog"
)

const testMsg = "Subject: hi\nFrom: a@b.org\n\nFrom here\n>From there\nlast line\n"

// fixture is a home directory and a queued message, delivered to as the
// unprivileged account the test runs as.
type fixture struct {
	t    *testing.T
	home string
	msg  string // message file
	env  []string
}

func newFixture(t *testing.T, msg string) *fixture {
	t.Helper()
	base := t.TempDir()
	home := filepath.Join(base, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(base, "msg")
	if err := os.WriteFile(p, []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, home: home, msg: p, env: []string{"PATH=/usr/bin:/bin", "DEFAULT=stale"}}
}

// write puts a file into the home.
func (f *fixture) write(name, content string, mode os.FileMode) {
	f.t.Helper()
	p := filepath.Join(f.home, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) read(name string) string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.home, name))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// run runs qmail-local with args after the options; local defaults are
// filled in by deliver.
func (f *fixture) run(args ...string) (int, string) {
	f.t.Helper()
	m, err := os.Open(f.msg)
	if err != nil {
		f.t.Fatal(err)
	}
	defer m.Close()
	m.Seek(5, 0) // qmail-local must rewind
	var out bytes.Buffer
	ctx := &prog.Context{
		Args:   append([]string{"qmail-local"}, args...),
		Env:    f.env,
		Home:   filepath.Dir(f.home),
		Stdin:  m,
		Stdout: &out,
		Stderr: &out,
		Files:  []*os.File{m, nil, nil},
	}
	code := Run(ctx)
	return code, out.String()
}

// deliver runs "qmail-local [opt] joe HOME LOCAL DASH EXT example.com
// sender@x.org ./Mailbox".
func (f *fixture) deliver(opt, local, dash, ext string) (int, string) {
	args := []string{"joe", f.home, local, dash, ext, "mail.example.com", "sender@x.org", "./Mailbox"}
	if opt != "" {
		args = append([]string{opt}, args...)
	}
	return f.run(args...)
}
