package users

import (
	"goqmail/internal/prog"
	"goqmail/internal/userdb"
)

// GetpwMain is qmail-getpw LOCAL (§7.3): it prints the user who controls
// LOCAL as six NUL-terminated fields and exits 0, or prints nothing and
// exits 100 (no argument, or more than one), 116 (no user and no alias
// user), 118 (the password file or qmail's home cannot be read) or 115 (a
// home directory cannot be checked). Failures also say why on stderr,
// which qmail-lspawn does not read.
//
// In a user-mode install (qmail's home not owned by root, see package ids)
// the only account found is the home's owner, under its own name, and the
// alias user is that owner again with home HOME/alias
// (userdb.UserModeAccounts): qmail never delivers as anybody else there.
// The mode is read from the home's owner directly rather than through
// ids.Load, because a root-mode ids.Load insists on every qmail account
// while qmail-getpw needs only alias.
func GetpwMain(ctx *prog.Context) int {
	return getpw(ctx, userdb.PasswdFile, userdb.StatOwner)
}

func getpw(ctx *prog.Context, passwdFile string, stat userdb.StatFunc) int {
	if len(ctx.Args) != 2 {
		return ctx.Usage("qmail-getpw local")
	}
	read := func() ([]userdb.Passwd, error) { return userdb.ReadPasswd(passwdFile) }
	e, code, err := userdb.GetpwInHome(ctx.Home, ctx.Args[1], read, stat)
	if code != 0 {
		return ctx.Fatal(code, "%v", err)
	}
	if _, err := ctx.Stdout.Write(e.Bytes()); err != nil {
		return ctx.Fatal(userdb.ExitSys, "unable to write output: %v", err)
	}
	return 0
}
