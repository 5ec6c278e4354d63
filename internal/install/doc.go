// Package install makes, checks and configures goqmail's installed tree:
// the programs install, instcheck, config and config-fast.
//
// # The tree
//
// install makes qmail's tree (alias bin boot control doc man queue users)
// at --home DIR, with the owners and modes of qmail 1.03's hier.c, in one
// of two modes (see internal/ids for how every program tells them apart:
// by who owns DIR):
//
//   - root mode (the default; must be run as root): qmail's groups qmail
//     and nofiles and users alias qmaild qmaill qmailp qmailq qmailr qmails
//     are created with groupadd/useradd --system if missing (an existing
//     account is never changed), and each folder belongs to the role
//     qmail gives it;
//   - user mode (--user-mode): the same tree belongs to one account, the
//     caller, or --user NAME (default nobody) when the caller is root,
//     because qmail never delivers as root. Nothing outside DIR is
//     touched. Every local address is delivered into DIR/alias/Maildir/
//     through a catch-all users/assign line.
//
// # bin/: one binary, several modes
//
// goqmail is one multi-call binary, but qmail gives its programs different
// modes (qmail-queue setuid qmailq 04711; qmail-lspawn, qmail-start,
// qmail-newu and qmail-newmrh root-only 0700; the daemons 0711; the rest
// 0755). A symbolic link has no mode of its own, so in root mode bin/ holds
// one copy of the binary per mode:
//
//	bin/qmail        0755  root:qmail   (the programs anyone may run)
//	bin/qmail.0711   0711  root:qmail   (execute-only daemons)
//	bin/qmail.0700   0700  root:qmail   (root-only programs)
//	bin/qmail-queue  04711 qmailq:qmail (a real copy, setuid)
//
// and every program name is a relative symbolic link to the copy with its
// mode (bin/qmail-send -> qmail.0711, bin/qmail-smtpd -> qmail). A copy
// that finds itself running setuid runs qmail-queue and nothing else. In
// user mode nothing is setuid and every name, qmail-queue included, links
// to bin/qmail. The modes say who may start a program; once started, the
// long-lived daemons run from bin/qmail itself (qmail-start execs it for
// a name that leads to a copy of it; tcpserver's setuid qmail-queue
// worker execs itself from it, keeping qmailq's effective uid), so their
// pages are in memory once, not once per copy (see prog.SharedImage).
//
// Copies are written to a temporary name, fsynced and renamed, so an
// upgrade over a running install replaces each file at once; links are
// replaced the same way.
//
// # Upgrades
//
// Installing over an existing install of the same mode rewrites bin/,
// boot/, doc/ and man/ files and puts owners and modes of qmail's folders
// right again, but keeps the contents of control/, queue/, users/ and
// alias/: no control file, queued message or mailbox is ever truncated.
// Installing into a folder that is not empty and not a qmail home (no bin/,
// control/ and queue/) is refused, as is switching an install between the
// two modes.
package install
