package install

import (
	"context"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"syscall"

	"goqmail/internal/prog"
)

// derivedDomains gives defaultdomain and plusdomain for an FQDN as qmail's
// config scripts do: defaultdomain drops the first label when the name has
// at least two dots (a.b.c -> b.c; a.b stays a.b); plusdomain keeps the
// last two labels of a name with at least two dots (x.a.b.c -> b.c).
func derivedDomains(fqdn string) (ddom, pdom string) {
	ddom, pdom = fqdn, fqdn
	if i := strings.IndexByte(fqdn, '.'); i >= 0 {
		if j := strings.IndexByte(fqdn[i+1:], '.'); j >= 0 {
			ddom = fqdn[i+1:]
		}
	}
	if strings.Count(fqdn, ".") >= 2 {
		last := strings.LastIndexByte(fqdn, '.')
		prev := strings.LastIndexByte(fqdn[:last], '.')
		pdom = fqdn[prev+1:]
	}
	return ddom, pdom
}

// hostName reports whether s is usable as a host name in control files:
// non-empty, letters, digits, '-', '_' and '.' only. (qmail's scripts
// took anything, and a space or newline would silently break control/me.)
func hostName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// controlOwner is who new control files belong to: the owner and group
// of control/ (root:qmail in root mode, the user in user mode), so that
// config run by root on a user-mode install leaves files the user owns.
func controlOwner(f *fsys) (int, int, error) {
	fi, err := f.root.Stat("control")
	if err != nil {
		return 0, 0, fmt.Errorf("unable to stat %s: %w", f.abs("control"), err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid), nil
}

// writeControl replaces control/NAME (0644) atomically.
func writeControl(f *fsys, name, content string, uid, gid int) error {
	return f.writeAtomic("control/"+name, strings.NewReader(content), uid, gid, 0o644)
}

// appendControl adds a line to control/NAME (0644), creating it.
func appendControl(f *fsys, name, line string, uid, gid int) error {
	rel := "control/" + name
	fl, err := f.root.OpenFile(rel, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("unable to open %s: %w", f.abs(rel), err)
	}
	// a new file gets control/'s owner; every file gets 0644
	fi, err := fl.Stat()
	if err == nil && fi.Size() == 0 {
		err = fl.Chown(uid, gid)
	}
	if err == nil {
		err = fl.Chmod(0o644)
	}
	if err == nil {
		_, err = fl.WriteString(line + "\n")
	}
	if err == nil {
		err = fl.Sync()
	}
	if cerr := fl.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("unable to write %s: %w", f.abs(rel), err)
	}
	return nil
}

// openControl opens the home for config and config-fast.
func openControl(ctx *prog.Context) (*fsys, int, int, error) {
	f, err := openFsys(ctx.Home)
	if err != nil {
		return nil, 0, 0, err
	}
	uid, gid, err := controlOwner(f)
	if err != nil {
		f.close()
		return nil, 0, 0, err
	}
	return f, uid, gid, nil
}

// ConfigFast is `config-fast FQDN`: control/me, defaultdomain and
// plusdomain get FQDN and the domains derived from it; FQDN is appended to
// control/locals and control/rcpthosts.
func ConfigFast(ctx *prog.Context) int {
	if len(ctx.Args) != 2 {
		return ctx.Usage("config-fast FQDN")
	}
	fqdn := ctx.Args[1]
	if !hostName(fqdn) {
		return ctx.Fatal(100, "%q is not a host name", fqdn)
	}
	out := ctx.Stdout
	f, uid, gid, err := openControl(ctx)
	if err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	defer f.close()
	fmt.Fprintf(out, "Your fully qualified host name is %s.\n", fqdn)
	if err := writeMeDomains(ctx, f, fqdn, uid, gid); err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	for _, name := range []string{"locals", "rcpthosts"} {
		fmt.Fprintf(out, "Putting %s into control/%s...\n", fqdn, name)
		if err := appendControl(f, name, fqdn, uid, gid); err != nil {
			return ctx.Fatal(111, "%v", err)
		}
	}
	fmt.Fprintf(out, "SMTP now accepts mail only for %s; when you add a name to locals or virtualdomains, add it to rcpthosts too.\n", fqdn)
	return 0
}

func writeMeDomains(ctx *prog.Context, fs *fsys, fqdn string, uid, gid int) error {
	ddom, pdom := derivedDomains(fqdn)
	for _, f := range []struct{ file, value string }{
		{"me", fqdn}, {"defaultdomain", ddom}, {"plusdomain", pdom},
	} {
		fmt.Fprintf(ctx.Stdout, "Putting %s into control/%s...\n", f.value, f.file)
		if err := writeControl(fs, f.file, f.value+"\n", uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// resolver is what config asks of the system; tests replace it.
type resolver struct {
	hostname   func() (string, error)
	lookupHost func(string) ([]string, error)
	lookupAddr func(string) ([]string, error)
	localAddrs func() ([]string, error)
}

func systemResolver() resolver {
	r := net.DefaultResolver
	return resolver{
		hostname:   os.Hostname,
		lookupHost: func(h string) ([]string, error) { return r.LookupHost(context.Background(), h) },
		lookupAddr: func(a string) ([]string, error) { return r.LookupAddr(context.Background(), a) },
		localAddrs: func() ([]string, error) {
			as, err := net.InterfaceAddrs()
			var out []string
			for _, a := range as {
				if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
					out = append(out, n.IP.String())
				}
			}
			return out, err
		},
	}
}

// Config is `config`: config-fast with the name found from the host name
// and DNS, and locals made of the DNS names of every local address.
func Config(ctx *prog.Context) int {
	if len(ctx.Args) != 1 {
		return ctx.Usage("config")
	}
	return config(ctx, systemResolver())
}

func canonical(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// findFQDN is the host's name in DNS: the name of its first address, or
// the host name itself when that has a dot and DNS names nothing better.
func findFQDN(r resolver, host string) string {
	if ips, err := r.lookupHost(host); err == nil {
		for _, ip := range ips {
			if names, err := r.lookupAddr(ip); err == nil {
				for _, n := range names {
					if n = canonical(n); strings.Contains(n, ".") && hostName(n) {
						return n
					}
				}
			}
		}
	}
	if strings.Contains(host, ".") {
		return host
	}
	return ""
}

func config(ctx *prog.Context, r resolver) int {
	out := ctx.Stdout
	h, err := r.hostname()
	host := canonical(h)
	if err != nil || !hostName(host) {
		return ctx.Fatal(111, "unable to find this host's name; set up control/me yourself with: config-fast FQDN")
	}
	fmt.Fprintf(out, "Your hostname is %s.\n", host)
	fqdn := findFQDN(r, host)
	if fqdn == "" {
		return ctx.Fatal(111, "unable to find the fully qualified name of %s in DNS; set up control/me yourself with: config-fast FQDN", host)
	}
	fmt.Fprintf(out, "Your host's fully qualified name in DNS is %s.\n", fqdn)
	f, uid, gid, err := openControl(ctx)
	if err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	defer f.close()
	if err := writeMeDomains(ctx, f, fqdn, uid, gid); err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	fmt.Fprintf(out, "Checking local IP addresses:\n")
	addrs := map[string]bool{}
	if ips, err := r.lookupHost(fqdn); err == nil {
		for _, ip := range ips {
			addrs[ip] = true
		}
	}
	if ips, err := r.localAddrs(); err == nil {
		for _, ip := range ips {
			addrs[ip] = true
		}
	}
	sorted := make([]string, 0, len(addrs))
	for ip := range addrs {
		sorted = append(sorted, ip)
	}
	sort.Strings(sorted)
	var locals []string
	seen := map[string]bool{}
	for _, ip := range sorted {
		names, err := r.lookupAddr(ip)
		name := ""
		if err == nil && len(names) > 0 {
			name = canonical(names[0])
		}
		if !hostName(name) {
			fmt.Fprintf(out, "No DNS name for %s; add one to control/locals yourself if mail comes to it.\n", ip)
			continue
		}
		if !seen[name] {
			seen[name] = true
			locals = append(locals, name)
			fmt.Fprintf(out, "Adding %s to control/locals...\n", name)
		}
	}
	content := strings.Join(locals, "\n")
	if content != "" {
		content += "\n"
	}
	if err := writeControl(f, "locals", content, uid, gid); err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	fmt.Fprintf(out, "If other names point to this host, add them to control/locals.\n")
	fmt.Fprintf(out, "Copying control/locals to control/rcpthosts...\n")
	if err := writeControl(f, "rcpthosts", content, uid, gid); err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	fmt.Fprintf(out, "SMTP now accepts mail only for the names in control/rcpthosts; when you add a name to locals or virtualdomains, add it to rcpthosts too.\n")
	return 0
}
