package tcpserver

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"goqmail/internal/prog"
)

// lookPath finds a program as execvp does, with PATH taken from env (not
// from this process): a name with '/' is used as it is; otherwise each
// PATH element is tried in turn (an empty element is the current
// folder), and with PATH unset "/bin:/usr/bin" is searched, as djb's
// pathexec does. When nothing runs, the error is "access denied" if some
// candidate was not executable, else "file does not exist".
func lookPath(name string, env []string) (string, error) {
	if strings.IndexByte(name, '/') >= 0 {
		return name, nil
	}
	path, ok := prog.Lookup(env, "PATH")
	if !ok {
		path = "/bin:/usr/bin"
	}
	var denied bool
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
		denied = true
	}
	if denied {
		return "", &os.PathError{Op: "exec", Path: name, Err: syscall.EACCES}
	}
	return "", &os.PathError{Op: "exec", Path: name, Err: syscall.ENOENT}
}

// startProgram starts argv with env, reading from in and writing to out
// (for tcpserver both are the connection), stderr inherited.
func startProgram(argv, env []string, in, out *os.File, stderr io.Writer) (*exec.Cmd, error) {
	p, err := lookPath(argv[0], env)
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{Path: p, Args: argv, Env: env, Stdin: in, Stdout: out, Stderr: stderr}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

// waitStatus is the raw wait status ucspi-tcp prints in "end P status S"
// (exit code 100 is 25600).
func waitStatus(cmd *exec.Cmd, err error) int {
	if cmd.ProcessState != nil {
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
			return int(ws)
		}
	}
	if err != nil {
		return 111 << 8
	}
	return 0
}

// startProgramStreams starts argv with the caller's descriptors: in and
// out if given, else its stdin and stdout streams.
func startProgramStreams(argv, env []string, ctx *prog.Context, in, out *os.File) (*exec.Cmd, error) {
	p, err := lookPath(argv[0], env)
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{Path: p, Args: argv, Env: env, Stdin: ctx.Stdin, Stdout: ctx.Stdout, Stderr: ctx.Stderr}
	if in != nil {
		cmd.Stdin = in
	}
	if out != nil {
		cmd.Stdout = out
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}
