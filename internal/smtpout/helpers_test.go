package smtpout

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"goqmail/internal/prog"
)

// fakeDNS is a Resolver from tables. A name in Hard does not exist; a
// name in Soft fails temporarily (for every type).
type fakeDNS struct {
	MX   map[string][]MX
	A    map[string][]string
	AAAA map[string][]string
	Hard map[string]bool
	Soft map[string]bool
}

func (f *fakeDNS) fail(name string) error {
	if f.Hard[name] {
		return ErrNoSuchHost
	}
	if f.Soft[name] {
		return fmt.Errorf("SERVFAIL for %s", name)
	}
	return nil
}

func (f *fakeDNS) LookupMX(_ context.Context, name string) ([]MX, error) {
	if err := f.fail(name); err != nil {
		return nil, err
	}
	return append([]MX(nil), f.MX[name]...), nil
}

func addrs(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func (f *fakeDNS) LookupA(_ context.Context, name string) ([]netip.Addr, error) {
	if err := f.fail(name); err != nil {
		return nil, err
	}
	return addrs(f.A[name]), nil
}

func (f *fakeDNS) LookupAAAA(_ context.Context, name string) ([]netip.Addr, error) {
	if err := f.fail(name); err != nil {
		return nil, err
	}
	return addrs(f.AAAA[name]), nil
}

// testHome makes a home with control files (name → content).
func testHome(t *testing.T, files map[string]string) string {
	t.Helper()
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, "control"), 0o755)
	if _, ok := files["me"]; !ok {
		files["me"] = "sender.example\n"
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(home, "control", name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

func noIPMe() (map[netip.Addr]bool, error) { return map[netip.Addr]bool{}, nil }

// run runs qmail-remote in-process and returns its output with NULs
// shown as "|".
func run(t *testing.T, home string, r *Sender, msg string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	ctx := &prog.Context{Args: append([]string{"qmail-remote"}, args...), Home: home,
		Stdin: strings.NewReader(msg), Stdout: &out, Stderr: &errb}
	if r.Resolver == nil {
		r.Resolver = &fakeDNS{}
	}
	if r.IPMe == nil {
		r.IPMe = noIPMe
	}
	if code := r.Run(ctx); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if errb.Len() > 0 {
		t.Errorf("stderr: %q", errb.String())
	}
	return strings.ReplaceAll(out.String(), "\x00", "|")
}

// routeTo is a home whose smtproutes sends example.test to the peer.
func routeTo(t *testing.T, p *fakePeer, extra map[string]string) string {
	files := map[string]string{"smtproutes": fmt.Sprintf("example.test:127.0.0.1:%d\n", p.port())}
	for k, v := range extra {
		files[k] = v
	}
	return testHome(t, files)
}

func itoa(n int) string { return fmt.Sprint(n) }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
