package install

import (
	"errors"
	"os"
	"strings"
	"testing"

	"goqmail/internal/prog"
)

func TestDerivedDomains(t *testing.T) {
	for _, tc := range []struct{ fqdn, ddom, pdom string }{
		{"localhost", "localhost", "localhost"},
		{"a.b", "a.b", "a.b"},
		{"a.b.c", "b.c", "b.c"},
		{"x.a.b.c", "a.b.c", "b.c"},
		{"mail.example.co.uk", "example.co.uk", "co.uk"},
		{"a..b", ".b", ".b"},
	} {
		d, p := derivedDomains(tc.fqdn)
		if d != tc.ddom || p != tc.pdom {
			t.Errorf("%s: defaultdomain %q plusdomain %q; want %q %q", tc.fqdn, d, p, tc.ddom, tc.pdom)
		}
	}
}

// controlHome is a home with an empty control folder.
func controlHome(t *testing.T) string {
	h := t.TempDir()
	if err := os.Mkdir(h+"/control", 0o755); err != nil {
		t.Fatal(err)
	}
	return h
}

func readControl(t *testing.T, home string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(home + "/control")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		out[e.Name()] = readFile(t, home+"/control/"+e.Name())
		fi, _ := e.Info()
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("control/%s has mode %v, want 0644", e.Name(), fi.Mode())
		}
	}
	return out
}

func TestConfigFast(t *testing.T) {
	for _, tc := range []struct {
		fqdn   string
		before map[string]string
		want   map[string]string
	}{
		{"mail.example.com", nil, map[string]string{
			"me": "mail.example.com\n", "defaultdomain": "example.com\n", "plusdomain": "example.com\n",
			"locals": "mail.example.com\n", "rcpthosts": "mail.example.com\n"}},
		{"Host.Sub.Example.ORG", map[string]string{"locals": "localhost\n", "rcpthosts": "localhost\n", "me": "old\n"},
			map[string]string{
				"me": "Host.Sub.Example.ORG\n", "defaultdomain": "Sub.Example.ORG\n", "plusdomain": "Example.ORG\n",
				"locals": "localhost\nHost.Sub.Example.ORG\n", "rcpthosts": "localhost\nHost.Sub.Example.ORG\n"}},
		{"example", nil, map[string]string{
			"me": "example\n", "defaultdomain": "example\n", "plusdomain": "example\n",
			"locals": "example\n", "rcpthosts": "example\n"}},
	} {
		home := controlHome(t)
		for f, c := range tc.before {
			os.WriteFile(home+"/control/"+f, []byte(c), 0o644)
		}
		r := runProg(ConfigFast, home, "config-fast", tc.fqdn)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%s: exit %d, %q", tc.fqdn, r.code, r.stderr)
		}
		if !strings.HasPrefix(r.stdout, "Your fully qualified host name is "+tc.fqdn+".\nPutting "+tc.fqdn+" into control/me...\n") {
			t.Errorf("%s: stdout %q", tc.fqdn, r.stdout)
		}
		got := readControl(t, home)
		for f, want := range tc.want {
			if got[f] != want {
				t.Errorf("%s: control/%s = %q, want %q", tc.fqdn, f, got[f], want)
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: control has %v", tc.fqdn, got)
		}
	}
}

func TestConfigFastBadInputs(t *testing.T) {
	home := controlHome(t)
	for _, tc := range []struct {
		name string
		home string
		args []string
		code int
		want string
	}{
		{"no argument", home, []string{"config-fast"}, 100, "config-fast: usage: config-fast FQDN\n"},
		{"two arguments", home, []string{"config-fast", "a.b", "c.d"}, 100, "config-fast: usage: config-fast FQDN\n"},
		{"empty name", home, []string{"config-fast", ""}, 100, "config-fast: fatal: \"\" is not a host name\n"},
		{"space", home, []string{"config-fast", "a b"}, 100, "config-fast: fatal: \"a b\" is not a host name\n"},
		{"newline", home, []string{"config-fast", "a\nb"}, 100, "config-fast: fatal: \"a\\nb\" is not a host name\n"},
		{"slash", home, []string{"config-fast", "../x"}, 100, "config-fast: fatal: \"../x\" is not a host name\n"},
		{"no control folder", t.TempDir(), []string{"config-fast", "a.b"}, 111, ""},
	} {
		r := runProg(ConfigFast, tc.home, tc.args...)
		if r.code != tc.code || strings.Count(r.stderr, "\n") != 1 || (tc.want != "" && r.stderr != tc.want) {
			t.Errorf("%s: exit %d, %q; want %d %q", tc.name, r.code, r.stderr, tc.code, tc.want)
		}
	}
	if entries, _ := os.ReadDir(home + "/control"); len(entries) != 0 {
		t.Errorf("refused runs wrote %d control files", len(entries))
	}
}

// fakeDNS is a resolver for config's tests.
func fakeDNS(host string, a, ptr map[string][]string, local []string) resolver {
	return resolver{
		hostname: func() (string, error) {
			if host == "" {
				return "", errors.New("no name")
			}
			return host, nil
		},
		lookupHost: func(h string) ([]string, error) {
			if v, ok := a[h]; ok {
				return v, nil
			}
			return nil, errors.New("no such host")
		},
		lookupAddr: func(ip string) ([]string, error) {
			if v, ok := ptr[ip]; ok {
				return v, nil
			}
			return nil, errors.New("no PTR")
		},
		localAddrs: func() ([]string, error) { return local, nil },
	}
}

func TestConfig(t *testing.T) {
	dns := fakeDNS("Mail",
		map[string][]string{"mail": {"192.0.2.1"}, "mail.example.com": {"192.0.2.1", "192.0.2.9"}},
		map[string][]string{
			"192.0.2.1": {"Mail.Example.COM."}, "127.0.0.1": {"localhost"},
			"192.0.2.9": {"mx.example.com."},
		},
		[]string{"127.0.0.1", "192.0.2.1", "::1"})
	home := controlHome(t)
	os.WriteFile(home+"/control/locals", []byte("stale.example\n"), 0o644)
	r := runProg(func(c *prog.Context) int { return config(c, dns) }, home, "config")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, %q", r.code, r.stderr)
	}
	want := map[string]string{
		"me": "mail.example.com\n", "defaultdomain": "example.com\n", "plusdomain": "example.com\n",
		"locals":    "localhost\nmail.example.com\nmx.example.com\n",
		"rcpthosts": "localhost\nmail.example.com\nmx.example.com\n",
	}
	got := readControl(t, home)
	for f, w := range want {
		if got[f] != w {
			t.Errorf("control/%s = %q, want %q", f, got[f], w)
		}
	}
	for _, line := range []string{"Your hostname is mail.\n", "No DNS name for ::1;", "Adding mx.example.com to control/locals...\n"} {
		if !strings.Contains(r.stdout, line) {
			t.Errorf("stdout lacks %q:\n%s", line, r.stdout)
		}
	}
}

func TestConfigFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		dns  resolver
		args []string
		code int
		want string
	}{
		{"no host name", fakeDNS("", nil, nil, nil), []string{"config"}, 111,
			"config: fatal: unable to find this host's name; set up control/me yourself with: config-fast FQDN\n"},
		{"no dot and no DNS", fakeDNS("box", nil, nil, nil), []string{"config"}, 111,
			"config: fatal: unable to find the fully qualified name of box in DNS; set up control/me yourself with: config-fast FQDN\n"},
		{"PTR without a dot", fakeDNS("box", map[string][]string{"box": {"10.0.0.1"}}, map[string][]string{"10.0.0.1": {"box"}}, nil),
			[]string{"config"}, 111,
			"config: fatal: unable to find the fully qualified name of box in DNS; set up control/me yourself with: config-fast FQDN\n"},
		{"argument", fakeDNS("box.example", nil, nil, nil), []string{"config", "x"}, 100, "config: usage: config\n"},
	} {
		home := controlHome(t)
		r := runProg(func(c *prog.Context) int {
			if len(c.Args) != 1 {
				return Config(c)
			}
			return config(c, tc.dns)
		}, home, tc.args...)
		if r.code != tc.code || r.stderr != tc.want {
			t.Errorf("%s: exit %d, %q; want %d %q", tc.name, r.code, r.stderr, tc.code, tc.want)
		}
		if entries, _ := os.ReadDir(home + "/control"); len(entries) != 0 {
			t.Errorf("%s: wrote %d control files", tc.name, len(entries))
		}
	}
	// a dotted host name without DNS is used as it is
	home := controlHome(t)
	r := runProg(func(c *prog.Context) int { return config(c, fakeDNS("box.example.org", nil, nil, nil)) }, home, "config")
	if r.code != 0 || readFile(t, home+"/control/me") != "box.example.org\n" {
		t.Errorf("dotted host name: exit %d %q", r.code, r.stderr)
	}
}
