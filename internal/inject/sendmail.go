package inject

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"

	"goqmail/internal/prog"
)

const sendmailUsage = "sendmail [ -t ] [ -fsender ] [ -Fname ] [ -bp ] [ -bs ] [ arg ... ]"

// sendmailArgs are sendmail's options as qmail's wrapper reads them.
type sendmailArgs struct {
	t, haveF, haveName bool
	sender, name       string
	mode               byte // 'm' (default), 'p', 's', 'q' (-q: nothing to do)
	rest               []string
}

// parseSendmail follows qmail's option string vimte:f:p:o:B:F:EJxb: plus
// -q[time] (see the package doc).
func parseSendmail(argv []string) (sendmailArgs, bool) {
	s := sendmailArgs{mode: 'm'}
	i := 1
	for ; i < len(argv); i++ {
		a := argv[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
	letters:
		for j := 1; j < len(a); j++ {
			c := a[j]
			switch c {
			case 'v', 'i', 'm', 'x':
			case 't':
				s.t = true
			case 'E', 'J', 'q':
				if c == 'q' {
					s.mode = 'q'
				}
				break letters // an attached argument is swallowed
			case 'e', 'f', 'p', 'o', 'B', 'F', 'b':
				var val string
				if j+1 < len(a) {
					val = a[j+1:]
				} else if i+1 < len(argv) {
					i++
					val = argv[i]
				} else {
					return s, false
				}
				switch c {
				case 'f':
					s.sender, s.haveF = val, true
				case 'F':
					s.name, s.haveName = val, true
				case 'b':
					switch val {
					case "m", "p", "s":
						s.mode = val[0]
					default:
						return s, false
					}
				}
				break letters
			default:
				return s, false
			}
		}
	}
	s.rest = argv[i:]
	return s, true
}

// Sendmail is qmail's sendmail wrapper; run as mailq it lists the queue,
// as newaliases it points to fastforward.
func Sendmail(ctx *prog.Context) int {
	switch ctx.Name() {
	case "mailq":
		return runChild(ctx, "qmail-qread", nil, ctx.Env)
	case "newaliases":
		return ctx.Fatal(100, "please use fastforward/newaliases instead")
	}
	s, ok := parseSendmail(ctx.Args)
	if !ok {
		return ctx.Usage(sendmailUsage)
	}
	env := ctx.Env
	switch s.mode {
	case 'q':
		return 0
	case 'p':
		return runChild(ctx, "qmail-qread", nil, env)
	case 's':
		if _, ok := prog.Lookup(env, "PROTO"); !ok {
			for _, kv := range [][2]string{{"RELAYCLIENT", ""}, {"DATABYTES", "0"}, {"PROTO", "TCP"},
				{"TCPLOCALIP", "127.0.0.1"}, {"TCPLOCALHOST", "localhost"}, {"TCPREMOTEIP", "127.0.0.1"},
				{"TCPREMOTEHOST", "localhost"}, {"TCPREMOTEINFO", "sendmail-bs"}} {
				env = prog.SetEnv(env, kv[0], kv[1])
			}
		}
		return runChild(ctx, "qmail-smtpd", nil, env)
	}
	if s.haveF {
		if i := strings.LastIndexByte(s.sender, '@'); i >= 0 {
			env = prog.SetEnv(env, "QMAILUSER", s.sender[:i])
			env = prog.SetEnv(env, "QMAILHOST", s.sender[i+1:])
			for _, k := range []string{"QMAILNAME", "MAILNAME", "NAME"} {
				env = prog.UnsetEnv(env, k)
			}
		}
	}
	if s.haveName {
		env = prog.SetEnv(env, "MAILNAME", s.name)
	}
	args := []string{"-a"}
	if s.t {
		args[0] = "-H"
	}
	if s.haveF {
		args = append(args, "-f"+s.sender)
	}
	args = append(args, "--")
	args = append(args, s.rest...)
	return runChild(ctx, "qmail-inject", args, env)
}

// runChild runs HOME/bin/name with the caller's streams and returns its
// exit code, as qmail's wrappers exec it.
func runChild(ctx *prog.Context, name string, args, env []string) int {
	return runProgram(ctx, filepath.Join(ctx.Home, "bin", name), name, args, env, ctx.Stdin)
}

func runProgram(ctx *prog.Context, path, name string, args, env []string, stdin any) int {
	cmd := exec.Command(path, args...)
	cmd.Args[0] = name
	cmd.Env = env
	cmd.Dir = ctx.Home
	if r, ok := stdin.(interface{ Read([]byte) (int, error) }); ok {
		cmd.Stdin = r
	}
	cmd.Stdout = ctx.Stdout
	cmd.Stderr = ctx.Stderr
	err := cmd.Run()
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() >= 0 {
			return ee.ExitCode()
		}
		return ctx.Fatal(111, "%s crashed", name)
	}
	return ctx.Fatal(111, "unable to run %s: %v", path, err)
}
