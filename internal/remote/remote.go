// Package remote holds the programs qmail-remote, qmail-tcpto and
// qmail-tcpok (spec §9, §10). qmail-remote sends one message over SMTP to
// one domain's mail exchanger and reports, on standard output, one
// NUL-terminated record per recipient (r accepted, h refused for good, s
// refused for now) and one for the message (K, Z, D), which qmail-rspawn
// folds into qmail-send's log line. It always exits 0.
//
// The SMTP client itself, and every way goqmail departs from qmail 1.03
// in it, is package smtpout: qmail-rspawn runs the same code in-process
// (with a connection cache) when bin/qmail-remote is goqmail's own, so
// an exec'd qmail-remote and an in-process delivery give the same bytes.
// A run of this program never keeps a connection: it ends with QUIT.
package remote

import (
	"fmt"
	"time"

	"goqmail/internal/prog"
	"goqmail/internal/smtpout"
)

// Main is qmail-remote host sender recip [recip ...].
func Main(ctx *prog.Context) int { return (&smtpout.Sender{}).Run(ctx) }

// TcptoMain is qmail-tcpto: it prints the remote hosts that timed out
// recently.
func TcptoMain(ctx *prog.Context) int {
	es, err := smtpout.TcptoEntries(ctx.Home)
	if err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	now := time.Now().Unix()
	for _, e := range es {
		fmt.Fprintf(ctx.Stdout, "%s timed out %d seconds ago; # recent timeouts: %d\n", e.IP, now-e.When.Unix(), e.Count)
	}
	return 0
}

// TcpokMain is qmail-tcpok: it forgets every remote host's timeouts.
func TcpokMain(ctx *prog.Context) int {
	if err := smtpout.ClearTcpto(ctx.Home); err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	return 0
}
