package tcpserver

import (
	"net"
	"os"
	"strconv"
	"time"

	"goqmail/internal/prog"
)

// TcpEnv is qmail's "tcp-env [-rR] [-t timeout] prog [args]" (spec §17):
// unless PROTO is already TCP, it sets PROTO, TCPLOCALIP, TCPLOCALPORT,
// TCPLOCALHOST, TCPREMOTEIP, TCPREMOTEPORT, TCPREMOTEHOST and (unless -R)
// TCPREMOTEINFO from the socket on descriptor 0, then runs prog.
//
// Where qmail's tcp-env execs prog, we run it with the same descriptors
// 0, 1 and 2 and exit with its exit code (111 if it was killed), since a
// program here is a function that returns. Where qmail's tcp-env dies
// silently with 111, we also say why on stderr; a bad option is a usage
// error (100).
func TcpEnv(ctx *prog.Context) int {
	const usage = "tcp-env [ -rR ] [ -t timeout ] program [ arg ... ]"
	doInfo, timeout := true, 30*time.Second
	args := ctx.Args[1:]
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		a := args[0]
		args = args[1:]
		if a == "--" {
			break
		}
		for i := 1; i < len(a); i++ {
			switch a[i] {
			case 'r':
				doInfo = true
			case 'R':
				doInfo = false
			case 't':
				v := a[i+1:]
				if v == "" {
					if len(args) == 0 {
						return ctx.Usage(usage)
					}
					v, args = args[0], args[1:]
				}
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return ctx.Usage(usage)
				}
				timeout = time.Duration(n) * time.Second
				i = len(a)
			default:
				return ctx.Usage(usage)
			}
		}
	}
	if len(args) == 0 {
		return ctx.Usage(usage)
	}
	env := ctx.Env
	if ctx.Env0("PROTO") != "TCP" {
		ci, err := socketInfo(ctx.File(0))
		if err != nil {
			return ctx.Fatal(111, "unable to read the socket on descriptor 0: %s", errText(err))
		}
		var soft bool
		ci.localHost, ci.hasLocalHost, soft = reverseName(ci.local.Addr())
		if soft {
			ci.localHost, ci.hasLocalHost = "softdnserror", true
		}
		ci.remoteHost, ci.hasRemoteHost, soft = reverseName(ci.remote.Addr())
		if soft {
			ci.remoteHost, ci.hasRemoteHost = "softdnserror", true
		}
		if doInfo {
			ci.remoteInfo, ci.hasRemoteInfo = ident(ci.local, ci.remote, timeout)
		}
		env = applyEnv(env, ci.envEdits())
	}
	in, out := ctx.File(0), ctx.File(1)
	cmd, err := startProgramStreams(args, env, ctx, in, out)
	if err != nil {
		return ctx.Fatal(111, "unable to run %s: %s", args[0], errText(err))
	}
	cmd.Wait() // the exit status is in ProcessState
	if cmd.ProcessState != nil && cmd.ProcessState.Exited() {
		return cmd.ProcessState.ExitCode()
	}
	return 111
}

// socketInfo reads both ends of the TCP socket f.
func socketInfo(f *os.File) (*connInfo, error) {
	if f == nil {
		return nil, os.ErrInvalid
	}
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	la, ok1 := c.LocalAddr().(*net.TCPAddr)
	ra, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return nil, os.ErrInvalid
	}
	return newConnInfo(la.AddrPort(), ra.AddrPort()), nil
}
