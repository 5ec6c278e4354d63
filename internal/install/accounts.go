package install

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"goqmail/internal/ids"
)

// account is a resolved account.
type account struct {
	name     string
	uid, gid int
	groups   map[int]bool // every group it is in, the primary one included
}

func lookupAccount(name string) (*account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	return toAccount(u)
}

func toAccount(u *user.User) (*account, error) {
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("user %s has a bad uid %q", u.Username, u.Uid)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("user %s has a bad gid %q", u.Username, u.Gid)
	}
	a := &account{name: u.Username, uid: uid, gid: gid, groups: map[int]bool{gid: true}}
	if gs, err := u.GroupIds(); err == nil {
		for _, g := range gs {
			if n, err := strconv.Atoi(g); err == nil {
				a.groups[n] = true
			}
		}
	}
	return a, nil
}

// canSearch reports whether a may pass through the folder fi (the x bit
// of its class: owner, group, or other).
func canSearch(a *account, fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	switch {
	case int(st.Uid) == a.uid:
		return st.Mode&0o100 != 0
	case a.groups[int(st.Gid)]:
		return st.Mode&0o010 != 0
	}
	return st.Mode&0o001 != 0
}

// checkReach fails unless a can search every existing folder above home:
// in user mode every daemon runs as a, and must reach its home.
func checkReach(a *account, home string) error {
	for p := filepath.Dir(home); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err == nil && !canSearch(a, fi) {
			st := fi.Sys().(*syscall.Stat_t)
			return fmt.Errorf("%s cannot reach %s: %s is mode %04o owned by uid %d; make it searchable (chmod o+x) or choose another --home",
				a.name, home, p, st.Mode&0o7777, st.Uid)
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("unable to stat %s: %w", p, err)
		}
		if p == "/" {
			return nil
		}
	}
}

// qmailAccounts are qmail's users as they are now; one that does not
// exist yet stands for a new system account, which owns nothing and is in
// no group, so only the "other" permission bits let it through.
func qmailAccounts() []*account {
	var out []*account
	for _, name := range ids.Users {
		a, err := lookupAccount(name)
		if err != nil {
			a = &account{name: name, uid: -1, gid: -1, groups: map[int]bool{}}
		}
		out = append(out, a)
	}
	return out
}

// sysTool finds an account tool (groupadd, useradd) in the system folders;
// the caller's PATH is not trusted for a program run as root.
func sysTool(name string) string {
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		if fi, err := os.Stat(d + "/" + name); err == nil && fi.Mode().IsRegular() {
			return d + "/" + name
		}
	}
	return name
}

func runTool(stderr io.Writer, name string, args ...string) error {
	cmd := exec.Command(sysTool(name), args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %v failed: %w", name, args, err)
	}
	return nil
}

// nologin is the shell qmail's accounts get.
func nologin() string {
	for _, p := range []string{"/usr/sbin/nologin", "/sbin/nologin"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/bin/false"
}

// ensureAccounts creates qmail's groups and users that are missing; an
// existing account is never changed. It writes one line per account made
// to out and returns warnings about existing accounts that differ.
func ensureAccounts(home string, out, stderr io.Writer) ([]string, error) {
	for _, g := range ids.Groups {
		if _, err := user.LookupGroup(g); err == nil {
			continue
		}
		if err := runTool(stderr, "groupadd", "--system", g); err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "install: created group %s\n", g)
	}
	var warn []string
	for _, name := range ids.Users {
		grp, h := ids.QmailGroup, home
		switch name {
		case ids.AliasUser:
			grp, h = ids.NofilesGroup, home+"/alias"
		case ids.DaemonUser, ids.LogUser, ids.PasswdUser:
			grp = ids.NofilesGroup
		}
		if u, err := user.Lookup(name); err == nil {
			if name == ids.AliasUser && filepath.Clean(u.HomeDir) != h {
				warn = append(warn, fmt.Sprintf("user alias exists with home %s, not %s: mail for aliases goes to %s/.qmail-*",
					u.HomeDir, h, u.HomeDir))
			}
			continue
		}
		if err := runTool(stderr, "useradd", "--system", "--no-create-home", "--home-dir", h,
			"--gid", grp, "--shell", nologin(), name); err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "install: created user %s (home %s, group %s)\n", name, h, grp)
	}
	return warn, nil
}
