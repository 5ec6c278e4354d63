package install

import "strings"

// bootDeliveries are the default deliveries of qmail's boot scripts (§5):
// the argument qmail-start gives qmail-lspawn for a user without .qmail.
var bootDeliveries = []struct{ name, delivery string }{
	{"home", "./Mailbox"},
	{"proc", "|preline procmail"},
	{"binm1", `|preline -f /usr/libexec/mail.local -r "${SENDER:-MAILER-DAEMON}" -d "$USER"`},
	{"binm2", `|preline -f /bin/mail -r "${SENDER:-MAILER-DAEMON}" -d "$USER"`},
	{"binm3", `|preline -df /bin/mail -f "${SENDER:-MAILER-DAEMON}" -d "$USER"`},
}

// dotForward is the first line of a +df delivery: a user's .forward wins.
const dotForward = "|dot-forward .forward\n"

// bootScript is one boot/NAME file: qmail-start with a clean environment,
// logging through splogger.
func bootScript(home, delivery string) string {
	return "#!/bin/sh\n\n" +
		"# Start qmail: qmail-start runs qmail-send and its helpers with an empty\n" +
		"# environment apart from PATH; the log goes to syslog through splogger.\n" +
		"# Users without a .qmail file get the default delivery below.\n\n" +
		"exec env - PATH=\"" + home + "/bin:$PATH\" \\\n" +
		"qmail-start '" + delivery + "' splogger qmail\n"
}

const softlimitNote = "# No \"softlimit -m\" here: a Go program cannot start under qmail's usual\n" +
	"# memory limit. See HOME/doc/MIGRATING.\n"

// sendRun is the daemontools run script of qmail-send.
func sendRun(p params) string {
	return "#!/bin/sh\n" + strings.ReplaceAll(softlimitNote, "HOME", p.home) +
		"# The default delivery is control/defaultdelivery if present, else ./Mailbox.\n" +
		"exec 2>&1\n" +
		"delivery=./Mailbox\n" +
		"if [ -r " + p.home + "/control/defaultdelivery ]; then\n" +
		"  delivery=\"`cat " + p.home + "/control/defaultdelivery`\"\n" +
		"fi\n" +
		"exec env - PATH=\"" + p.home + "/bin:/usr/local/bin:/usr/bin:/bin\" \\\n" +
		"qmail-start \"$delivery\"\n"
}

// smtpdRun is the daemontools run script of qmail-smtpd under tcpserver.
// In user mode it listens on port 2525 (an ordinary account cannot bind
// port 25) and does not change user.
func smtpdRun(p params) string {
	return listenerRun(p, "qmail-smtpd", "25", "2525", "tcp.smtp", "")
}

// submissionRun is the run script of the submission listener (RFC 6409,
// port 587; 2587 in user mode): qmail-smtpd with the smtp-auth patch's
// arguments, so clients that log in (only after STARTTLS) may relay. The
// checkpassword program is named in control/checkpassword, the way the
// other run-script settings live in control/; -X lets it run without a
// rules file, since who may relay is decided by AUTH.
func submissionRun(p params) string {
	var auth strings.Builder
	auth.WriteString("CHECKPASSWORD=`head -n 1 " + p.home + "/control/checkpassword 2>/dev/null`\n")
	auth.WriteString("if [ -z \"$CHECKPASSWORD\" ]; then\n" +
		"  echo 'qmail-submission run: put the path of your checkpassword program in " + p.home +
		"/control/checkpassword'; sleep 5; exit 111\nfi\n")
	return listenerRun(p, "qmail-submission", "587", "2587", "tcp.submission",
		auth.String())
}

func listenerRun(p params, name, port, userPort, rules, pre string) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n" + strings.ReplaceAll(softlimitNote, "HOME", p.home))
	b.WriteString("# tcpserver reads its access rules from control/" + rules + ".cdb: write\n" +
		"# control/" + rules + " and run tcprules (see " + p.home + "/doc/MIGRATING).\n" +
		"exec 2>&1\n")
	b.WriteString("LOCAL=`head -n 1 " + p.home + "/control/me`\n")
	b.WriteString("MAXSMTPD=`head -n 1 " + p.home + "/control/concurrencyincoming 2>/dev/null`\n")
	b.WriteString("[ -n \"$MAXSMTPD\" ] || MAXSMTPD=20\n")
	ids := ""
	if p.userMode {
		port = userPort
	} else {
		b.WriteString("QMAILDUID=`id -u qmaild`\nNOFILESGID=`id -g qmaild`\n")
		b.WriteString("if [ -z \"$QMAILDUID\" ] || [ -z \"$NOFILESGID\" ]; then\n" +
			"  echo '" + name + " run: no user qmaild'; sleep 5; exit 111\nfi\n")
		ids = "-u \"$QMAILDUID\" -g \"$NOFILESGID\" "
	}
	b.WriteString("if [ -z \"$LOCAL\" ]; then\n" +
		"  echo '" + name + " run: " + p.home + "/control/me is missing or empty'; sleep 5; exit 111\nfi\n")
	b.WriteString(pre)
	x, args := "-x "+p.home+"/control/"+rules+".cdb", "qmail-smtpd"
	if pre != "" {
		x += " -X"
		args = "qmail-smtpd \"$LOCAL\" \"$CHECKPASSWORD\" true"
	}
	b.WriteString("exec env - PATH=\"" + p.home + "/bin:/usr/local/bin:/usr/bin:/bin\" \\\n" +
		"tcpserver -v -R -l \"$LOCAL\" " + x + " -c \"$MAXSMTPD\" \\\n" +
		ids + "0 " + port + " " + args + "\n")
	return b.String()
}

// logRun is the daemontools log script: multilog into ./main, as qmaill
// in root mode.
func logRun(p params) string {
	as := "setuidgid qmaill "
	if p.userMode {
		as = ""
	}
	return "#!/bin/sh\nexec " + as + "multilog t ./main\n"
}

func unitUser(p params) string {
	if p.userMode {
		return "User=" + p.user + "\n"
	}
	return ""
}

// sendUnit is the systemd service of qmail-send; the log goes to the
// journal. systemd would expand $ itself, hence $$.
func sendUnit(p params) string {
	return "[Unit]\nDescription=goqmail qmail-send: queue manager and deliveries\nAfter=network.target\n\n" +
		"[Service]\n" + unitUser(p) +
		"# No LimitAS: see " + p.home + "/doc/MIGRATING.\n" +
		"ExecStart=/bin/sh -c 'exec env - PATH=\"" + p.home + "/bin:/usr/local/bin:/usr/bin:/bin\" " +
		"qmail-start \"$$(cat " + p.home + "/control/defaultdelivery 2>/dev/null || echo ./Mailbox)\"'\n" +
		"Restart=always\nRestartSec=2\n\n[Install]\nWantedBy=multi-user.target\n"
}

// smtpdUnit is the systemd service of qmail-smtpd under tcpserver.
func smtpdUnit(p params) string {
	ids, port := "", "2525"
	if !p.userMode {
		ids, port = "-u \"$$(id -u qmaild)\" -g \"$$(id -g qmaild)\" ", "25"
	}
	return "[Unit]\nDescription=goqmail qmail-smtpd under tcpserver\nAfter=network.target\n\n" +
		"[Service]\n" + unitUser(p) +
		"# No LimitAS: see " + p.home + "/doc/MIGRATING.\n" +
		"ExecStart=/bin/sh -c 'exec env - PATH=\"" + p.home + "/bin:/usr/local/bin:/usr/bin:/bin\" " +
		"tcpserver -v -R -l \"$$(head -n 1 " + p.home + "/control/me)\" -x " + p.home + "/control/tcp.smtp.cdb " +
		"-c 20 " + ids + "0 " + port + " qmail-smtpd'\n" +
		"Restart=always\nRestartSec=2\n\n[Install]\nWantedBy=multi-user.target\n"
}

func script(path, content string) node {
	return node{path: path, kind: kFile, owner: roleRoot, mode: 0o755, content: content}
}

// bootNodes lists boot/: qmail's boot scripts, daemontools run scripts
// and systemd units. qmail 1.03 shipped only the boot scripts; the run
// scripts follow the layout administrators know from Life with qmail
// (boot/supervise/SERVICE/run and log/run, logs by multilog in log/main,
// owned by qmaill), kept inside the home so that nothing outside DIR is
// touched: link or copy them into /service or /etc/systemd/system.
// They read control/defaultdelivery and control/concurrencyincoming, the
// files those scripts made customary, when present.
func bootNodes(p params) []node {
	var n []node
	for _, d := range bootDeliveries {
		n = append(n,
			script("boot/"+d.name, bootScript(p.home, d.delivery)),
			script("boot/"+d.name+"+df", bootScript(p.home, dotForward+d.delivery)))
	}
	logMain := dir("", roleQmaill, 0o755)
	logMain.group = groupNofiles
	for _, svc := range []struct{ name, run string }{
		{"qmail-send", sendRun(p)}, {"qmail-smtpd", smtpdRun(p)}, {"qmail-submission", submissionRun(p)},
	} {
		d := "boot/supervise/" + svc.name
		m := logMain
		m.path = d + "/log/main"
		n = append(n,
			dir(d, roleRoot, 0o755), dir(d+"/log", roleRoot, 0o755), m,
			script(d+"/run", svc.run), script(d+"/log/run", logRun(p)))
	}
	n = append(n, dir("boot/systemd", roleRoot, 0o755),
		node{path: "boot/systemd/qmail-send.service", kind: kFile, owner: roleRoot, mode: 0o644, content: sendUnit(p)},
		node{path: "boot/systemd/qmail-smtpd.service", kind: kFile, owner: roleRoot, mode: 0o644, content: smtpdUnit(p)})
	// boot/supervise sorts before its contents only if made first.
	return append([]node{dir("boot/supervise", roleRoot, 0o755)}, n...)
}
