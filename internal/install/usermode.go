package install

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"goqmail/internal/prog"
)

// buildUsersCdb runs DIR/bin/qmail-newu in DIR to compile users/assign,
// as the owning account when install runs as root. If this binary has no
// qmail-newu yet, it says so and goes on: the rest of the tree is usable
// and qmail-newu can be run later.
func buildUsersCdb(ctx *prog.Context, home string, a *account, root bool) int {
	newu := home + "/bin/qmail-newu"
	if _, err := os.Stat(newu); errors.Is(err, fs.ErrNotExist) {
		ctx.Warn("%s is not in this build: users/cdb not made; run it in %s once it is, or local deliveries will not reach %s/alias/Maildir/",
			newu, home, home)
		return 0
	}
	cmd := exec.Command(newu)
	cmd.Dir = home
	cmd.Env = []string{"PATH=" + home + "/bin:/usr/bin:/bin"}
	cmd.Stdout, cmd.Stderr = ctx.Stderr, ctx.Stderr
	if root {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
			Uid: uint32(a.uid), Gid: uint32(a.gid), Groups: []uint32{},
		}}
	}
	if err := cmd.Run(); err != nil {
		return ctx.Fatal(111, "%s failed: %v", newu, err)
	}
	return 0
}

// configLocalhost writes a configuration for the name localhost, for the
// quick-start demo: me and plusdomain are localhost, locals and rcpthosts
// localhost and localhost.localdomain, defaultdomain localdomain. A file that exists is
// left alone: install never overwrites an administrator's control file.
func configLocalhost(out io.Writer, f *fsys, uid, gid int) error {
	// defaultdomain is "localdomain", not what config-fast would derive
	// ("localhost"): qmail-inject appends .defaultdomain to every host
	// without a dot, so someone@localhost would become
	// someone@localhost.localhost, which is not local. With localdomain it
	// becomes someone@localhost.localdomain, the name Debian gives
	// 127.0.0.1, which locals and rcpthosts list beside localhost.
	for _, c := range []struct{ file, value string }{
		{"me", "localhost"}, {"defaultdomain", "localdomain"}, {"plusdomain", "localhost"},
		{"locals", "localhost\nlocalhost.localdomain"}, {"rcpthosts", "localhost\nlocalhost.localdomain"},
	} {
		if _, err := f.root.Lstat("control/" + c.file); err == nil {
			fmt.Fprintf(out, "install: keeping control/%s\n", c.file)
			continue
		}
		fmt.Fprintf(out, "install: putting %s into control/%s\n", strings.ReplaceAll(c.value, "\n", ", "), c.file)
		if err := writeControl(f, c.file, c.value+"\n", uid, gid); err != nil {
			return err
		}
	}
	return nil
}
