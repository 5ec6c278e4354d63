// Package users holds qmail's programs for users/assign: qmail-newu
// (users/assign ⇒ users/cdb), qmail-getpw (the password-file fall-back of
// qmail-lspawn) and qmail-pw2u (a password file ⇒ users/assign). The
// algorithms live in the vocabulary package userdb, which qmail-lspawn
// uses too.
package users

import (
	"goqmail/internal/prog"
	"goqmail/internal/userdb"
)

// NewuMain is qmail-newu: HOME/users/assign ⇒ HOME/users/cdb. It takes no
// arguments (qmail's ignored any; so does this one). Every failure is
// "qmail-newu: fatal: TEXT: REASON" and exit 111, TEXT being qmail's.
func NewuMain(ctx *prog.Context) int {
	if err := userdb.BuildCDB(ctx.Home); err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	return 0
}
