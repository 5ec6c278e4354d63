// Package localdelivery is qmail-local's work (spec §8), a vocabulary
// package so that two programs can run it: qmail-local (package local),
// exec'd per delivery as in qmail, and qmail-lspawn, which runs it
// in-process on a thread that has become the recipient (spec §6.1; see
// package spawn). It delivers one message to one
// local address by following the user's .qmail file (or the default
// delivery), appending to mbox files, writing into Maildirs, running
// |programs and forwarding, and reports the result as qmail-local does:
// text on standard output, exit 0 (delivered), 100 (bounce) or 111
// (try again later).
//
// Where goqmail departs from qmail 1.03, and why:
//
//   - It never changes the process's working directory or umask (the same
//     code runs in long-lived processes): paths in .qmail lines are taken
//     relative to the home directory, and programs run with the home as
//     their working directory under umask 077, set by the shell that runs
//     them (see runProgram).
//   - The message is read with positioned reads (pread), so a program
//     that leaves a background process reading the shared descriptor
//     cannot move what later deliveries read.
//   - Maildir names are unique per delivery and new/ is fsynced (package
//     maildir); mbox files are locked with both flock and fcntl and a
//     previous partial message is fenced off (package mbox).
//   - A .qmail file is read up to 16 MiB; an open or stat error that does
//     not clearly mean "no such file" defers instead of being skipped.
//   - control/timeoutlocal (goqmail's own; missing or 0 means wait for
//     ever, as qmail does) bounds how long a |program line may run: then
//     its whole process group is killed and the delivery deferred.
//   - A NUL byte ends a file or program line, as it ended the C string in
//     qmail; a NUL in a forwarding address makes qmail-queue refuse it
//     (permanent), where qmail would have split the address in two.
package localdelivery

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"goqmail/internal/durable"
	"goqmail/internal/prog"
)

const usageText = "qmail-local [ -nN ] user homedir local dash ext domain sender defaultdelivery"

// exit is how a delivery ends early: the text qmail-local prints (with a
// final newline; none if empty, as after a program's own exit code) and
// its exit code.
type exit struct {
	code int
	text string
}

func temp(text string) *exit { return &exit{111, text} }
func perm(text string) *exit { return &exit{100, text} }
func tempf(format string, a ...any) *exit {
	return &exit{111, fmt.Sprintf(format, a...)}
}

// delivery is one run of qmail-local.
type delivery struct {
	ctx                                                    *prog.Context
	out                                                    io.Writer
	doit                                                   bool
	user, home, local, dash, ext, domain, sender, fallback string

	msg         *os.File // the message, seekable (fd 0)
	dirs        *durable.Group
	lines       lines
	newsender   string
	defaultPart string
	hasDefault  bool
	env         []string

	forwardOnly       bool
	recips            []string
	nFile, nFwd, nPrg int
}

// Run is qmail-local with ctx: its arguments, environment, standard
// streams (the message on Stdin, which must be an *os.File for pread)
// and exit code. It assumes it already runs as the recipient.
func Run(ctx *prog.Context) int { return RunDirs(ctx, nil) }

// RunDirs is Run for a long-lived caller that delivers many messages at
// once as the same user (qmail-lspawn in-process): their Maildirs' new/
// fsyncs are shared through dirs (maildir.DeliverGroup). Run is
// RunDirs(ctx, nil), one fsync per delivery, as the exec'd qmail-local.
func RunDirs(ctx *prog.Context, dirs *durable.Group) int {
	d := &delivery{ctx: ctx, out: ctx.Stdout, doit: true, dirs: dirs}
	args, ok := d.options(ctx.Args[1:])
	if !ok || len(args) != 8 || !strings.HasPrefix(args[1], "/") {
		return ctx.Usage(usageText)
	}
	d.user, d.home, d.local, d.dash = args[0], args[1], args[2], args[3]
	d.ext, d.domain, d.sender, d.fallback = args[4], args[5], args[6], args[7]
	if ex := d.run(); ex != nil {
		if ex.text != "" {
			io.WriteString(d.out, ex.text+"\n")
		}
		return ex.code
	}
	return 0
}

// options parses -n and -N (getopt style, "--" ends them).
func (d *delivery) options(args []string) ([]string, bool) {
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		a := args[0]
		args = args[1:]
		if a == "--" {
			break
		}
		for _, c := range a[1:] {
			switch c {
			case 'n':
				d.doit = false
			case 'N':
				d.doit = true
			default:
				return nil, false
			}
		}
	}
	return args, true
}

// run is qmail-local's order of operations (spec §8.2).
func (d *delivery) run() *exit {
	// "chdir": resolving HOME/. needs search permission, as chdir does.
	st, err := os.Stat(d.home + "/.")
	if err != nil {
		return tempf("Unable to switch to %s: %s. (#4.3.0)", d.home, errText(err))
	}
	if st.Mode().Perm()&0o002 != 0 {
		return temp("Uh-oh: home directory is writable. (#4.7.0)")
	}
	if st.Mode()&os.ModeSticky != 0 {
		if d.doit {
			return temp("Home directory is sticky: user is editing his .qmail file. (#4.2.1)")
		}
		io.WriteString(d.out, "Warning: home directory is sticky.\n")
	}
	d.lines = headerLines(d.local, d.domain, d.sender, time.Now())
	if d.doit {
		if ex := d.openMessage(); ex != nil {
			return ex
		}
		if ex := d.loopCheck(); ex != nil {
			return ex
		}
	}
	q, ex := d.findQmail()
	if ex != nil {
		return ex
	}
	if q == nil && d.dash != "" {
		return perm("Sorry, no mailbox here by that name. (#5.1.1)")
	}
	if d.newsender, ex = d.newSender(); ex != nil {
		return ex
	}
	text := d.fallback
	if q != nil && len(q.data) > 0 {
		text = string(q.data)
		d.forwardOnly = q.forwardOnly
	}
	if q != nil {
		d.defaultPart, d.hasDefault = q.def, q.hasDefault
	}
	d.env = d.environment(d.ctx.Env)
	if ex := d.execute(text); ex != nil {
		return ex
	}
	qp := 0
	if d.doit && len(d.recips) > 0 {
		if qp, ex = d.forward(); ex != nil {
			return ex
		}
	}
	fmt.Fprintf(d.out, "did %d+%d+%d\n", d.nFile, d.nFwd, d.nPrg)
	if qp != 0 {
		fmt.Fprintf(d.out, "qp %d\n", qp)
	}
	return nil
}

// openMessage finds the message (descriptor 0) and checks that it can be
// rewound; qmail-lspawn passes the queue file itself.
func (d *delivery) openMessage() *exit {
	f := d.ctx.File(0)
	if f == nil {
		f, _ = d.ctx.Stdin.(*os.File)
	}
	if f == nil {
		return temp("Unable to rewind message. (#4.3.0)")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return temp("Unable to rewind message. (#4.3.0)")
	}
	d.msg = f
	return nil
}

// message returns a reader of the whole message that does not use (or
// move) the descriptor's shared offset.
func (d *delivery) message() io.Reader {
	return io.NewSectionReader(d.msg, 0, 1<<62)
}
