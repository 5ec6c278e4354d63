// Package deliverhelp holds qmail's small delivery helpers (spec §17),
// the programs users put in their .qmail files: preline, forward,
// condredirect, bouncesaying, except, qreceipt, and the Maildir tools
// maildirmake, maildir2mbox and maildirwatch.
// Each exits 100 on a usage error and 111 on a temporary failure, like
// the rest of qmail's delivery programs.
package deliverhelp

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"

	"goqmail/internal/errtext"
	"goqmail/internal/prog"
)

// result is how a child program ended.
type result struct {
	code    int  // exit code when it exited
	crashed bool // killed by a signal
}

// runChild runs argv (looked up in PATH, as execvp does) with the
// caller's environment and output streams and the given standard input.
// An error means it could not be started.
func runChild(ctx *prog.Context, argv []string, stdin io.Reader) (result, error) {
	path, err := lookPath(ctx, argv[0])
	if err != nil {
		return result{}, err
	}
	c := &exec.Cmd{Path: path, Args: argv, Env: ctx.Env, Stdin: stdin, Stdout: ctx.Stdout, Stderr: ctx.Stderr}
	if err := c.Start(); err != nil {
		return result{}, err
	}
	err = c.Wait()
	if err == nil {
		return result{}, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return result{}, err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return result{crashed: true}, nil
	}
	return result{code: ee.ExitCode()}, nil
}

// lookPath finds name in the PATH of the caller's environment (not the
// process's), as execvp in the exec'd program would.
func lookPath(ctx *prog.Context, name string) (string, error) {
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			return name, nil
		}
	}
	path, ok := ctx.Getenv("PATH")
	if !ok {
		path = "/bin:/usr/bin"
	}
	var first error
	start := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != ':' {
			continue
		}
		dir := path[start:i]
		start = i + 1
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		fi, err := os.Stat(p)
		if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
		if err == nil {
			err = syscall.EACCES
		}
		if first == nil || errors.Is(first, syscall.ENOENT) {
			first = err
		}
	}
	if first == nil {
		first = syscall.ENOENT
	}
	return "", first
}

// permanent says whether a failure to start a program will not go away
// by itself (the program is missing or not executable): qmail's helpers
// then exit 100, else 111.
func permanent(err error) bool {
	for _, e := range []error{syscall.ENOENT, syscall.EACCES, syscall.EPERM, syscall.ENOEXEC, syscall.ENOTDIR, syscall.ELOOP, syscall.ENAMETOOLONG} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// errText is the reason in an error message, in djb's wording.
func errText(err error) string { return errtext.Text(err) }

// cantRun reports a program that could not be started.
func cantRun(ctx *prog.Context, name string, err error) int {
	code := 111
	if permanent(err) {
		code = 100
	}
	return ctx.Fatal(code, "unable to run %s: %s", name, errText(err))
}
