// Package local is the program qmail-local (spec §8): qmail-local
// [-nN] -- user homedir local dash ext domain sender defaultdelivery,
// run by qmail-lspawn as the recipient, with the message on standard
// input. Its work is package localdelivery, which qmail-lspawn also runs
// in-process; this program is what qmail-lspawn execs when told to
// (GOQMAIL_FORCE_EXEC=1) and what an administrator or a test may run by
// hand.
package local

import (
	"goqmail/internal/localdelivery"
	"goqmail/internal/prog"
)

// Main is qmail-local.
func Main(ctx *prog.Context) int { return localdelivery.Run(ctx) }
