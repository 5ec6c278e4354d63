package install

import "strings"

const readmeDoc = `goqmail
=======

This is a goqmail install at HOME.

goqmail is qmail 1.03 (with ucspi-tcp and qmailanalog) written again in Go:
one multi-call binary, HOME/bin/qmail, with a link in HOME/bin for every
program ("HOME/bin/qmail help" lists them).

  HOME/bin/instcheck          checks owners, modes and links of this tree
  HOME/bin/config-fast FQDN   writes control/me, locals, rcpthosts, ...
  HOME/bin/config             the same, finding the name in DNS
  HOME/boot/                  boot scripts (home, proc, binm1.. and +df),
                              daemontools run scripts (boot/supervise) and
                              systemd units (boot/systemd)

See MIGRATING before replacing qmail 1.03 with it.
`

const migratingDoc = `Moving from qmail 1.03 to goqmail
=================================

goqmail keeps qmail's tree, control files, .qmail files, users/assign,
queue format, log lines and program names, so an existing HOME can be
taken over in place. One thing in your run scripts must change.

Remove "softlimit -m" (and "ulimit -v") from run scripts
---------------------------------------------------------
qmail's run scripts usually start qmail-smtpd and qmail-send under
daemontools' softlimit with an address-space limit such as
"softlimit -m 2000000" (djb's answer to the 64-bit qmail overflows).
A Go program reserves about a gigabyte of address space when it starts,
without using it; under such a limit it dies at once ("failed to reserve
page summary memory") and no mail flows. Delete the softlimit -m part of
every run script that starts a goqmail program; keep the rest of the line.

What bounds input instead:
  - control/databytes (or DATABYTES from tcprules) limits message size;
  - control/maxrcpt (100000 without the file; 0 is qmail's no limit)
    limits the recipients of one SMTP message;
  - every program reads lines and fields with fixed limits of its own, so
    an endless command line or header cannot grow memory without bound;
  - control/timeoutsmtpd, timeoutremote and timeoutconnect bound time;
  - tcpserver -c bounds concurrent SMTP sessions.
If you want a memory ceiling on top, give the service one that counts
memory actually used, not address space: systemd's MemoryMax= or a
cgroup, not LimitAS= or softlimit -m.

SMTP access rules
-----------------
boot/supervise/qmail-smtpd/run and boot/systemd/qmail-smtpd.service run
tcpserver -x HOME/control/tcp.smtp.cdb, as qmail's run scripts do. Keep
your control/tcp.smtp, or write one, for example

  127.:allow,RELAYCLIENT=""
  :allow

and build the cdb with
  HOME/bin/tcprules HOME/control/tcp.smtp.cdb HOME/control/tcp.smtp.tmp < HOME/control/tcp.smtp

Logs
----
qmail-send's log lines are unchanged, so qmailanalog and your own scripts
keep working on multilog or splogger output.
`

const manReadme = `Manual pages are not installed yet. The behaviour of every program is
qmail 1.03's; its manual pages (qmail-send(8), qmail-control(5), ...)
describe it. See HOME/doc/README.
`

func docFile(path, text, home string) node {
	return node{path: path, kind: kFile, owner: roleRoot, mode: 0o644,
		content: strings.ReplaceAll(text, "HOME", home)}
}

// docNodes lists doc/ and man/ files.
func docNodes(p params) []node {
	return []node{
		docFile("doc/README", readmeDoc, p.home),
		docFile("doc/MIGRATING", migratingDoc, p.home),
		docFile("man/README", manReadme, p.home),
	}
}
