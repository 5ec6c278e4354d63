package smtpd

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"goqmail/internal/prog"
)

// Replies of SMTP AUTH: the texts of the qmail smtp-auth patch, which
// administrators' log watchers know.
const (
	msgAuthOK        = "ok, go ahead (#2.0.0)"
	msgAuthFailed    = "authentication failed (#5.7.1)"
	msgAuthNoTLS     = "auth not available without TLS (#5.3.3)"
	msgAuthAgain     = "you're already authenticated (#5.5.0)"
	msgAuthInMail    = "no auth during mail transaction (#5.5.0)"
	msgAuthType      = "auth type unimplemented (#5.5.1)"
	msgAuthMalformed = "malformed auth input (#5.5.4)"
	msgAuthCancelled = "auth exchange cancelled (#5.0.0)"
	msgAuthTemporary = "temporary authentication failure (#4.3.0)"
	msgAuthTooMany   = "too many authentication failures (#4.7.0)"
)

// MaxAuthFailures is how many failed AUTH commands a session may make;
// the last one is answered with a 421 and the session ends.
const MaxAuthFailures = 5

// maxAuthField bounds a user name or password.
const maxAuthField = 512

// authOffered says whether EHLO announces AUTH: checkpassword is
// configured and the session is under TLS, or $FORCETLS is "0".
func (c *Conn) authOffered() bool {
	return c.cfg.ext.auth != nil && (c.tlsConn != nil || c.cfg.ext.authNoTLS)
}

// authCmd runs AUTH PLAIN or AUTH LOGIN (RFC 4954, 4616).
func (c *Conn) authCmd(arg string) (int, bool) {
	switch {
	case c.cfg.ext.auth == nil:
		c.reply(502, "unimplemented (#5.5.1)") // qmail 1.03's answer
		return 1, c.flushFailed()
	case !c.authOffered():
		c.reply(538, msgAuthNoTLS)
		return 1, c.flushFailed()
	case c.authUser != "":
		c.reply(503, msgAuthAgain)
		return 1, c.flushFailed()
	case c.seenMail:
		c.reply(503, msgAuthInMail)
		return 1, c.flushFailed()
	}
	mech, initial, hasInitial := strings.Cut(arg, " ")
	initial = strings.TrimLeft(initial, " ")
	var user, pass string
	var code int
	var msg string
	var err error
	switch asciiLower(mech) {
	case "plain":
		user, pass, code, msg, err = c.authPlain(initial, hasInitial)
	case "login":
		user, pass, code, msg, err = c.authLogin(initial, hasInitial)
	default:
		code, msg = 504, msgAuthType
	}
	if err != nil {
		return c.fail(err), true
	}
	if code == 0 {
		code, msg = c.verify(user, pass)
	}
	if code == 535 {
		c.authFails++
		if c.opt.authDelay > 0 {
			c.out.Flush()
			time.Sleep(c.opt.authDelay)
		}
		if c.authFails >= MaxAuthFailures {
			c.reply(421, msgAuthTooMany)
			c.out.Flush()
			return 1, true
		}
	}
	c.reply(code, msg)
	return 1, c.flushFailed()
}

// authLine asks with a 334 and reads the answer, decoded. code is not
// 0 when the exchange ends with that reply.
func (c *Conn) authLine(prompt string) (string, int, string, error) {
	c.reply(334, prompt)
	line, err := c.readCommand()
	if err == errLineTooLong {
		return "", 501, msgAuthMalformed, nil
	}
	if err != nil {
		return "", 0, "", err
	}
	return decodeAuth(string(line))
}

// decodeAuth decodes one base64 SASL answer; "*" cancels.
func decodeAuth(s string) (string, int, string, error) {
	s = strings.TrimRight(s, " ")
	if s == "*" {
		return "", 501, msgAuthCancelled, nil
	}
	if s == "=" {
		return "", 0, "", nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", 501, msgAuthMalformed, nil
	}
	return string(b), 0, "", nil
}

func (c *Conn) authPlain(initial string, hasInitial bool) (user, pass string, code int, msg string, err error) {
	var resp string
	if hasInitial && initial != "" {
		resp, code, msg, _ = decodeAuth(initial)
	} else {
		resp, code, msg, err = c.authLine("")
	}
	if code != 0 || err != nil {
		return "", "", code, msg, err
	}
	parts := strings.Split(resp, "\x00")
	if len(parts) != 3 {
		return "", "", 501, msgAuthMalformed, nil
	}
	authz, user, pass := parts[0], parts[1], parts[2]
	if authz != "" && authz != user {
		// Acting for another user is not offered: a plain failure.
		return "", "", 535, msgAuthFailed, nil
	}
	return user, pass, 0, "", nil
}

func (c *Conn) authLogin(initial string, hasInitial bool) (user, pass string, code int, msg string, err error) {
	if hasInitial && initial != "" {
		user, code, msg, _ = decodeAuth(initial)
	} else {
		user, code, msg, err = c.authLine("VXNlcm5hbWU6") // "Username:"
	}
	if code != 0 || err != nil {
		return "", "", code, msg, err
	}
	pass, code, msg, err = c.authLine("UGFzc3dvcmQ6") // "Password:"
	if code != 0 || err != nil {
		return "", "", code, msg, err
	}
	return user, pass, 0, "", nil
}

// verify checks a user name and password through checkpassword. The
// user name may not hold control bytes (it goes into the Received line
// and the environment) and neither may hold a NUL (fd 3 is
// NUL-separated).
func (c *Conn) verify(user, pass string) (int, string) {
	if user == "" || len(user) > maxAuthField || len(pass) > maxAuthField ||
		strings.ContainsRune(pass, 0) || hasControl(user) {
		return 501, msgAuthMalformed
	}
	if pass == "" {
		return 535, msgAuthFailed
	}
	ok, err := c.checkPassword(user, pass)
	if err != nil {
		c.ctx.Warn("AUTH: checkpassword: %v", err)
		return 454, msgAuthTemporary
	}
	if !ok {
		return 535, msgAuthFailed
	}
	c.authUser = user
	if !c.peer.relay {
		c.peer.relay, c.peer.relayClient = true, ""
	}
	c.peer.remoteInfo, c.peer.haveInfo = user, true
	return 235, msgAuthOK
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// errCheckpassword is a checkpassword run that neither accepted nor
// refused (exit 111, 2, a signal, a timeout).
var errCheckpassword = errors.New("temporary failure")

// checkPassword runs the checkpassword program named by qmail-smtpd's
// arguments with "user\0password\0\0" on descriptor 3, as the smtp-auth
// patch does for PLAIN and LOGIN: the third field (a challenge for
// CRAM-MD5) stays empty so that a CRAM-aware checker never mistakes a
// password for a digest. Exit 0 accepts, 1 refuses, anything else is a
// temporary failure. It runs at most timeoutsmtpd.
func (c *Conn) checkPassword(user, pass string) (bool, error) {
	path, err := lookPath(c.cfg.ext.auth[0], c.ctx.Env0("PATH"))
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, c.cfg.ext.auth[1:]...)
	cmd.Args[0] = c.cfg.ext.auth[0]
	cmd.Env = c.ctx.Env
	cmd.Stderr = c.ctx.Stderr
	pr, pw, err := os.Pipe()
	if err != nil {
		return false, err
	}
	defer pw.Close()
	cmd.ExtraFiles = []*os.File{pr}
	err = cmd.Start()
	pr.Close()
	if err != nil {
		return false, err
	}
	pw.Write([]byte(user + "\x00" + pass + "\x00\x00"))
	pw.Close()
	err = cmd.Wait()
	if err == nil {
		return true, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 && ctx.Err() == nil {
		return false, nil
	}
	return false, errCheckpassword
}

// lookPath finds a program as execvp would, in the session's $PATH.
func lookPath(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	if path == "" {
		path = "/bin:/usr/bin"
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New(name + ": not found in $PATH")
}

// queueEnv is the environment qmail-queue (and a $QMAILQUEUE filter)
// runs with: after AUTH, TCPREMOTEINFO is the authenticated user.
func (c *Conn) queueEnv() []string {
	if c.authUser == "" {
		return c.ctx.Env
	}
	return prog.SetEnv(c.ctx.Env, "TCPREMOTEINFO", c.authUser)
}
