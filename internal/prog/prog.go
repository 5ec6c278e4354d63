// Package prog defines how every goqmail program is called.
//
// A qmail program is a function of its arguments, environment, standard
// streams and home folder that returns its exit code. It never calls
// os.Exit, never reads os.Args or the process environment, and keeps no
// global state, because the same code runs both as an exec'd program (from
// cmd/qmail) and in-process inside long-lived workers and tests.
package prog

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// Main is the entry point of one program.
type Main func(ctx *Context) int

// Context is everything a program may look at.
type Context struct {
	// Args is argv; Args[0] is the name the program runs as.
	Args []string
	// Env is the environment as KEY=VALUE strings. Programs read it with
	// Getenv and pass it (possibly modified) to the programs they start.
	Env []string
	// Home is qmail's home (conf-qmail, /var/qmail in qmail 1.03).
	Home string

	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	// Files holds raw descriptors by number, for programs whose interface
	// is a descriptor rather than a stream: qmail-queue reads its envelope
	// from fd 1, qmail-send talks to its spawners on fds 1-6, qmail-local
	// seeks on fd 0. Files[i] is descriptor i, or nil if the caller gave
	// none.
	Files []*os.File

	// InProcess gives the entry point of a program that a long-lived
	// program may run as a goroutine instead of exec'ing it: tcpserver
	// runs qmail-smtpd this way for each connection when qmail-smtpd is
	// its program. It knows only programs that serve one connection on
	// Stdin/Stdout and keep no process-wide state. The multi-call binary
	// sets it; nil means none.
	InProcess func(name string) (Main, bool)

	// Cred, if set, is who the processes this program starts must be
	// (uid, gid, groups): qmail-lspawn's in-process deliveries run on a
	// thread whose file-system ids are the recipient's while its real
	// ids stay root's, so a |program or a forward's qmail-queue must be
	// given the recipient's ids when it is started.
	Cred *syscall.Credential

	// Queue is what a long-lived program gives the programs it runs
	// in-process to queue their messages with: tcpserver's pool of
	// qmail-queue workers (a *qq.Workers; package qq's OpenCtx uses it).
	// nil means one qmail-queue per message, as in qmail.
	Queue any
}

// Name is the program's name (the base of Args[0]).
func (c *Context) Name() string {
	if len(c.Args) == 0 {
		return ""
	}
	n := c.Args[0]
	if i := strings.LastIndexByte(n, '/'); i >= 0 {
		n = n[i+1:]
	}
	return n
}

// File returns descriptor n, or nil if the caller did not provide it.
func (c *Context) File(n int) *os.File {
	if n < 0 || n >= len(c.Files) {
		return nil
	}
	return c.Files[n]
}

// Getenv returns the value of key and whether it is set (even if empty).
// When a key occurs twice, the last occurrence wins, as with execve.
func (c *Context) Getenv(key string) (string, bool) {
	return Lookup(c.Env, key)
}

// Env0 returns the value of key, or "" if it is unset.
func (c *Context) Env0(key string) string {
	v, _ := c.Getenv(key)
	return v
}

// Lookup finds key in an environment list; the last occurrence wins.
func Lookup(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		kv := env[i]
		if len(kv) > len(key) && kv[len(key)] == '=' && kv[:len(key)] == key {
			return kv[len(key)+1:], true
		}
	}
	return "", false
}

// SetEnv returns a copy of env with key set to value (replacing every
// earlier occurrence).
func SetEnv(env []string, key, value string) []string {
	out := UnsetEnv(env, key)
	return append(out, key+"="+value)
}

// UnsetEnv returns a copy of env without key.
func UnsetEnv(env []string, key string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if len(kv) > len(key) && kv[len(key)] == '=' && kv[:len(key)] == key {
			continue
		}
		if kv == key {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Fatal writes "NAME: fatal: MSG\n" to stderr and returns code, the way
// qmail's programs report their fatal errors.
func (c *Context) Fatal(code int, format string, a ...any) int {
	fmt.Fprintf(c.Stderr, "%s: fatal: %s\n", c.Name(), fmt.Sprintf(format, a...))
	return code
}

// Warn writes "NAME: warning: MSG\n" to stderr.
func (c *Context) Warn(format string, a ...any) {
	fmt.Fprintf(c.Stderr, "%s: warning: %s\n", c.Name(), fmt.Sprintf(format, a...))
}

// Usage writes "NAME: usage: TEXT\n" to stderr and returns 100, qmail's
// exit code for a usage error.
func (c *Context) Usage(text string) int {
	fmt.Fprintf(c.Stderr, "%s: usage: %s\n", c.Name(), text)
	return 100
}
