package install

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"goqmail/internal/ids"
	"goqmail/internal/prog"
)

const usage = "install --home DIR [--user-mode [--user NAME]] [--config-localhost]"

// options are install's command line plus what a test may replace.
type options struct {
	home            string
	userMode        bool
	user            string
	configLocalhost bool
	binary          string // the binary to install; "" is the running one
}

// Main is `qmail install`. programs are the names the running binary
// answers to; each gets a link in bin/.
func Main(ctx *prog.Context, programs []string) int {
	return mainBinary(ctx, programs, "")
}

// mainBinary is Main installing binary instead of the running executable
// when binary is not "" (tests install a small stand-in).
func mainBinary(ctx *prog.Context, programs []string, binary string) int {
	fl := flag.NewFlagSet("install", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	o := options{binary: binary}
	fl.StringVar(&o.home, "home", "", "")
	fl.BoolVar(&o.userMode, "user-mode", false, "")
	fl.StringVar(&o.user, "user", "", "")
	fl.BoolVar(&o.configLocalhost, "config-localhost", false, "")
	if len(ctx.Args) > 0 {
		if err := fl.Parse(ctx.Args[1:]); err != nil {
			return ctx.Usage(usage)
		}
	}
	if o.home == "" || fl.NArg() != 0 || (o.user != "" && !o.userMode) {
		return ctx.Usage(usage)
	}
	return run(ctx, o, programs)
}

// safeHome reports whether home can be written unquoted into boot
// scripts, systemd units and users/assign (whose fields are separated by
// colons): letters, digits and / . _ - + , = @ only.
func safeHome(home string) bool {
	for i := 0; i < len(home); i++ {
		c := home[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '/' || c == '.' || c == '_' || c == '-' || c == '+' || c == ',' || c == '=' || c == '@':
		default:
			return false
		}
	}
	return true
}

// run installs. Decisions where qmail is silent:
//   - DIR must be absolute: it is written into boot scripts, units and
//     users/assign, and a path relative to wherever install happened to run
//     would be wrong everywhere else, so it is refused rather than guessed.
//   - An existing install is upgraded only in its own mode (and, in user
//     mode, for its own owner): switching would mean chowning a live queue.
func run(ctx *prog.Context, o options, programs []string) int {
	if !filepath.IsAbs(o.home) {
		return ctx.Fatal(100, "--home must be an absolute path, not %s", o.home)
	}
	home := filepath.Clean(o.home)
	if home == "/" || !safeHome(home) {
		return ctx.Fatal(100, "--home %s: use only letters, digits and / . _ - + , = @ in qmail's home", o.home)
	}
	root := os.Geteuid() == 0
	if !o.userMode && !root {
		return ctx.Fatal(100, "a root-mode install must be run as root; use --user-mode to install as yourself")
	}
	var acct *account
	if o.userMode {
		a, code := userModeAccount(ctx, o, root)
		if a == nil {
			return code
		}
		acct = a
	}
	existing, err := inspectHome(home)
	if err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	if existing != nil {
		if msg := modeMismatch(home, existing, acct); msg != "" {
			return ctx.Fatal(100, "%s", msg)
		}
	}
	if acct != nil && root {
		if err := checkReach(acct, home); err != nil {
			return ctx.Fatal(100, "%v", err)
		}
	}
	if acct == nil {
		for _, a := range qmailAccounts() {
			if err := checkReach(a, home); err != nil {
				return ctx.Fatal(100, "%v", err)
			}
		}
	}
	bin := o.binary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return ctx.Fatal(111, "unable to find the running binary: %v", err)
		}
		if r, err := filepath.EvalSymlinks(bin); err == nil {
			bin = r
		}
	}
	if fi, err := os.Stat(bin); err != nil || !fi.Mode().IsRegular() {
		return ctx.Fatal(111, "unable to read the binary to install, %s: %v", bin, err)
	}
	if err := os.MkdirAll(filepath.Dir(home), 0o755); err != nil {
		return ctx.Fatal(111, "unable to create %s: %v", filepath.Dir(home), err)
	}
	p := params{home: home, userMode: o.userMode, programs: programs}
	var id *ids.IDs
	if o.userMode {
		p.user, p.uid, p.gid = acct.name, acct.uid, acct.gid
		id = ids.UserMode(home, acct.uid, acct.gid)
	} else {
		warns, err := ensureAccounts(home, ctx.Stdout, ctx.Stderr)
		if err != nil {
			return ctx.Fatal(111, "%v", err)
		}
		for _, w := range warns {
			ctx.Warn("%s", w)
		}
		if id, err = ids.RootMode(home); err != nil {
			return ctx.Fatal(111, "%v", err)
		}
	}
	if err := os.Mkdir(home, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return ctx.Fatal(111, "unable to create %s: %v", home, err)
	}
	tree, err := openFsys(home)
	if err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	defer tree.close()
	m := &maker{fs: tree, id: id, binary: bin}
	want := map[string]bool{}
	for _, n := range layout(p) {
		if err := m.make(n); err != nil {
			return ctx.Fatal(111, "%v", err)
		}
		if n.kind == kLink || n.kind == kCopy {
			want[filepath.Base(n.path)] = true
		}
	}
	if err := m.removeStaleLinks(want); err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	if o.configLocalhost {
		if err := configLocalhost(ctx.Stdout, tree, id.Root, id.GidQmail); err != nil {
			return ctx.Fatal(111, "%v", err)
		}
	}
	if o.userMode {
		if code := buildUsersCdb(ctx, home, acct, root); code != 0 {
			return code
		}
		fmt.Fprintf(ctx.Stdout, "install: user-mode install at %s owned by %s (uid %d); every local address is delivered to %s/alias/Maildir/\n",
			home, acct.name, acct.uid, home)
	} else {
		fmt.Fprintf(ctx.Stdout, "install: root-mode install at %s\n", home)
	}
	return 0
}

// userModeAccount decides who owns a user-mode install: the caller, or
// --user (default nobody) when the caller is root, since qmail never
// delivers as root. It returns nil and an exit code on error.
func userModeAccount(ctx *prog.Context, o options, root bool) (*account, int) {
	if !root {
		u, err := user.LookupId(strconv.Itoa(os.Getuid()))
		if err != nil {
			return nil, ctx.Fatal(111, "unable to find your own account (uid %d): %v", os.Getuid(), err)
		}
		a, err := toAccount(u)
		if err != nil {
			return nil, ctx.Fatal(111, "%v", err)
		}
		if o.user != "" && o.user != a.name {
			return nil, ctx.Fatal(100, "only root can install for another account (--user %s)", o.user)
		}
		return a, 0
	}
	name := o.user
	if name == "" {
		name = "nobody"
	}
	a, err := lookupAccount(name)
	if err != nil {
		var unk user.UnknownUserError
		if errors.As(err, &unk) {
			return nil, ctx.Fatal(100, "no account named %s (--user)", name)
		}
		return nil, ctx.Fatal(111, "unable to look up account %s: %v", name, err)
	}
	if a.uid == 0 {
		return nil, ctx.Fatal(100, "--user %s is root: qmail never delivers as root; name an ordinary account", name)
	}
	fmt.Fprintf(ctx.Stdout, "install: running as root: the user-mode install will belong to %s (uid %d, gid %d)\n",
		a.name, a.uid, a.gid)
	return a, 0
}

// inspectHome returns the stat of an existing qmail home, nil if home is
// missing or an empty folder, and an error for anything else.
func inspectHome(home string) (*syscall.Stat_t, error) {
	fi, err := os.Stat(home)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("unable to stat %s: %w", home, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s exists and is not a folder", home)
	}
	for _, d := range []string{"bin", "control", "queue"} {
		if fi, err := os.Stat(home + "/" + d); err != nil || !fi.IsDir() {
			entries, err := os.ReadDir(home)
			if err != nil {
				return nil, fmt.Errorf("unable to read %s: %w", home, err)
			}
			if len(entries) == 0 {
				return nil, nil
			}
			return nil, fmt.Errorf("%s is not empty and is not a qmail home (no %s/ folder); refusing to install into it", home, d)
		}
	}
	return fi.Sys().(*syscall.Stat_t), nil
}

// modeMismatch explains why an existing install cannot be upgraded by
// this one, or returns "".
func modeMismatch(home string, st *syscall.Stat_t, acct *account) string {
	switch {
	case acct == nil && st.Uid != 0:
		return fmt.Sprintf("%s is a user-mode install (owned by uid %d); upgrade it with --user-mode", home, st.Uid)
	case acct != nil && st.Uid == 0:
		return fmt.Sprintf("%s is a root-mode install; upgrade it without --user-mode", home)
	case acct != nil && int(st.Uid) != acct.uid:
		return fmt.Sprintf("%s is a user-mode install owned by uid %d, not %s (uid %d)", home, st.Uid, acct.name, acct.uid)
	}
	return ""
}
