package tcpserver

import (
	"errors"
	"io/fs"
	"net"
	"strconv"
	"syscall"

	"goqmail/internal/cdb"
)

// handle serves one connection, as ucspi-tcp's child process does.
//
// The "P" of the -v lines ("pid P from IP", "ok P ...", "end P status
// S") is the pid of the program exec'd for the connection, so an
// administrator can still kill a session by the number in the log. A
// connection that has no such process (run in-process, denied, or
// dropped on an error) gets a session number instead (sessionNumbers:
// unique among live sessions, and never a process's pid). Because the
// pid is known only once the program is started, "pid P from IP" is
// written after the name and ident lookups rather than before them.
func (s *server) handle(c *net.TCPConn) {
	defer c.Close()
	num := s.nums.get()
	defer s.nums.put(num)
	o := s.o

	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	remote := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	ci := newConnInfo(local, remote)
	rip := ci.remote.Addr().String()

	s.socketOptions(c, ci)
	if o.banner != "" {
		if _, err := c.Write([]byte(o.banner)); err != nil {
			s.dropped(num, rip, "unable to print banner: "+errText(err))
			return
		}
	}
	s.gather(ci)

	rule := Rule{}
	if o.rules != "" {
		r, err := readRule(o.rules, ci.client())
		switch {
		case err == nil:
			rule = r
		case errors.Is(err, fs.ErrNotExist) && o.rulesOpt:
		default:
			// Missing, unreadable or corrupt: drop (fail closed).
			s.dropped(num, rip, "unable to read "+o.rules+": "+errText(err))
			return
		}
	}
	if rule.Deny {
		s.status("pid %d from %s", num, rip)
		s.status("deny %d %s", num, s.okFields(ci))
		s.status("end %d status %d", num, 100<<8)
		return
	}
	edits := append(ci.envEdits(), rule.Env...)
	env := applyEnv(s.ctx.Env, edits)
	if s.here != nil {
		s.runHere(c, env, num, rip, ci)
		return
	}

	f, err := c.File()
	if err != nil {
		s.status("pid %d from %s", num, rip)
		s.status("ok %d %s", num, s.okFields(ci))
		s.warn("warning: dropping connection, unable to run %s: %s", o.argv[0], errText(err))
		s.status("end %d status %d", num, 111<<8)
		return
	}
	cmd, err := startProgram(o.argv, env, f, f, s.ctx.Stderr)
	f.Close()
	c.Close()
	if err != nil {
		s.status("pid %d from %s", num, rip)
		s.status("ok %d %s", num, s.okFields(ci))
		s.warn("warning: dropping connection, unable to run %s: %s", o.argv[0], errText(err))
		s.status("end %d status %d", num, 111<<8)
		return
	}
	pid := cmd.Process.Pid
	s.status("pid %d from %s", pid, rip)
	s.status("ok %d %s", pid, s.okFields(ci))
	werr := cmd.Wait()
	s.status("end %d status %d", pid, waitStatus(cmd, werr))
}

// dropped reports a connection given up before its program ran.
func (s *server) dropped(num int, rip, why string) {
	s.status("pid %d from %s", num, rip)
	s.warn("warning: dropping connection, %s", why)
	s.status("end %d status %d", num, 111<<8)
}

// okFields is "LOCALHOST:LOCALIP:LOCALPORT REMOTEHOST:REMOTEIP:REMOTEINFO:REMOTEPORT".
func (s *server) okFields(ci *connInfo) string {
	return safeField(ci.localHost) + ":" + safeField(ci.local.Addr().String()) + ":" +
		safeField(strconv.Itoa(int(ci.local.Port()))) + " " +
		safeField(ci.remoteHost) + ":" + safeField(ci.remote.Addr().String()) + ":" +
		safeField(ci.remoteInfo) + ":" + safeField(strconv.Itoa(int(ci.remote.Port())))
}

// socketOptions: -O (default) clears IP options on IPv4 connections so
// replies never follow a client's source route; -d (default) leaves
// Nagle on, which Go turns off for every connection unless told.
func (s *server) socketOptions(c *net.TCPConn, ci *connInfo) {
	c.SetNoDelay(s.o.noDelay)
	if s.o.keepIPOpts || ci.v6() {
		return
	}
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			syscall.SetsockoptString(int(fd), syscall.IPPROTO_IP, syscall.IP_OPTIONS, "")
		})
	}
}

// gather fills in the names and the ident answer the options ask for.
func (s *server) gather(ci *connInfo) {
	o := s.o
	if o.hasLocal {
		ci.localHost, ci.hasLocalHost = o.localName, true
	} else {
		ci.localHost, ci.hasLocalHost, _ = reverseName(ci.local.Addr())
	}
	if o.remoteHost {
		ci.remoteHost, ci.hasRemoteHost, _ = reverseName(ci.remote.Addr())
		if ci.hasRemoteHost && o.paranoid && !forwardConfirms(ci.remoteHost, ci.remote.Addr()) {
			ci.remoteHost, ci.hasRemoteHost = "", false
		}
	}
	if o.remoteInfo {
		ci.remoteInfo, ci.hasRemoteInfo = ident(ci.local, ci.remote, o.infoTimeout)
	}
}

// readRule opens the rules cdb afresh (so a new tcprules takes effect at
// once) and looks the client up.
func readRule(path string, c Client) (Rule, error) {
	r, err := cdb.Open(path)
	if err != nil {
		return Rule{}, err
	}
	defer r.Close()
	_, data, found, err := LookupRule(r, c)
	if err != nil || !found {
		return Rule{}, err
	}
	return DecodeRule(data), nil
}
