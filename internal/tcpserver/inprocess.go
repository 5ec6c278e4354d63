package tcpserver

import (
	"net"
	"path/filepath"

	"goqmail/internal/prog"
	"goqmail/internal/qq"
)

// inProcessMain decides, once at start, whether each connection's
// program runs as a goroutine of this process instead of a process of
// its own (DESIGN.md, "Processes per role"). It does when the program is
// goqmail's own qmail-smtpd, qmail-qmtpd or qmail-qmqpd — argv[0], looked
// up in PATH, is this very executable (or a copy: prog.IsSelf) under one
// of those names — so nothing wraps it: rblsmtpd, a shell, a filter or
// another MTA's binary named first is exec'd per connection as ucspi-tcp
// does. So is ours
// when the environment holds GOQMAIL_FORCE_EXEC=1 (for tests that run
// both ways and compare).
//
// The program then sees what the exec'd one would: argv, the TCP* and
// rule environment, the connection as standard input and output, and
// this process's uid and gid, which -u and -g have already set, since
// tcpserver drops them before it accepts. What differs is invisible to
// the client: no fork and exec per connection, and the "pid" of the -v
// lines is a session number (sessionNumbers), as for a denied connection.
func (s *server) inProcessMain() prog.Main {
	if s.ctx.InProcess == nil {
		return nil
	}
	if s.ctx.ForceExec() {
		return nil
	}
	main, ok := s.ctx.InProcess(filepath.Base(s.o.argv[0]))
	if !ok {
		return nil
	}
	path, err := lookPath(s.o.argv[0], s.ctx.Env)
	if err != nil || !prog.IsSelf(path) {
		return nil
	}
	return main
}

// runHere serves c with s.here and writes the -v lines an exec'd program
// would get. A panic in the program ends its session only, as a crash
// of its process would, and is reported like one.
//
// The program gets the connection through a session (stop.go), which
// lets SIGTERM end it at once except while it commits a message.
func (s *server) runHere(c *net.TCPConn, env []string, num int, rip string, ci *connInfo) {
	sess := &session{TCPConn: c}
	if !s.enter(sess) {
		s.dropped(num, rip, "tcpserver is stopping")
		return
	}
	defer s.leave(sess)
	var queue any
	if s.queue != nil {
		queue = s.queue.With(sess)
	}
	s.status("pid %d from %s", num, rip)
	s.status("ok %d %s", num, s.okFields(ci))
	code := func() (code int) {
		defer func() {
			if r := recover(); r != nil {
				s.warn("warning: %s crashed: %v", s.o.argv[0], r)
				code = 111
			}
		}()
		ctx := &prog.Context{
			Args:   append([]string{filepath.Base(s.o.argv[0])}, s.o.argv[1:]...),
			Env:    env,
			Home:   s.ctx.Home,
			Stdin:  sess,
			Stdout: sess,
			Stderr: s.ctx.Stderr,
			Queue:  queue,
		}
		return s.here(ctx)
	}()
	sess.drainAfterStop()
	s.status("end %d status %d", num, code<<8)
}

// queueWorkers gives the in-process sessions their qmail-queue: a
// long-lived worker (qq.Workers) while bin/qmail-queue is goqmail's own
// (the setuid copy of a root-mode install has the same bytes); a
// wrapper installed there, as qmail-scanner setups do, is exec'd per
// message as before, and so is one installed while tcpserver runs:
// the pool looks at bin/qmail-queue again before each message and never
// starts anything but goqmail's own as a worker. It is made before -u
// drops the right to read a root-mode install's bin/qmail-queue (mode
// 04711 qmailq). The worker starts as the -u user, so qmail-queue
// records the same uid (qmaild: "invoked from network") as when
// qmail-smtpd ran it. The pool also carries each session's qq.Gate
// (stop.go).
func (s *server) queueWorkers() *qq.Workers {
	if s.here == nil {
		return nil
	}
	return qq.NewWorkers(s.ctx.Home, s.ctx.Env, s.ctx.Stderr)
}
