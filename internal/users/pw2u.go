package users

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"goqmail/internal/control"
	"goqmail/internal/prog"
)

const pw2uUsage = "qmail-pw2u [ -/ohHuUC ] [ -cchar ] < passwd"

// Pw2uMain is qmail-pw2u [-/ohHuUC] [-cCHAR] (§7.4): a V7 password file on
// stdin ⇒ users/assign on stdout, steered by HOME/users/include, exclude,
// mailnames, subusers and append. A bad option, a missing -c argument or
// any argument after the options is a usage error (exit 100: qmail
// ignored extra arguments, but "qmail-pw2u /etc/passwd" then waits on
// stdin, which helps nobody). Other failures exit 111 with qmail's texts.
//
// The output is written only when it is complete, so a fatal error leaves
// stdout empty rather than holding a truncated users/assign.
func Pw2uMain(ctx *prog.Context) int {
	return pw2uMain(ctx, statUID)
}

func pw2uMain(ctx *prog.Context, stat func(string) (uint64, error)) int {
	opts, ok := parsePw2uArgs(ctx.Args)
	if !ok {
		return ctx.Usage(pw2uUsage)
	}
	if fi, err := os.Stat(ctx.Home); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return ctx.Fatal(111, "unable to chdir: %v", sysReason(err))
	}
	files, err := readPw2uFiles(ctx.Home)
	if err != nil {
		return ctx.Fatal(111, "unable to read controls: %v", err)
	}
	c := &pw2u{opts: opts, files: files, stat: stat}
	out, err := c.run(ctx.Stdin)
	if err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	if _, err := ctx.Stdout.Write(out); err != nil {
		return ctx.Fatal(111, "unable to write output: %v", err)
	}
	return 0
}

// parsePw2uArgs reads the options the way getopt("/ohHuUc:C") does: flags
// may be grouped, -c takes the rest of its word or the next word (only its
// first character counts; an empty one disables the break like -C), "--"
// ends the options.
func parsePw2uArgs(args []string) (pw2uOptions, bool) {
	o := pw2uOptions{dash: "-", home: homeSkip, noUpper: true, brk: '-'}
	i := 1
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		for j := 1; j < len(a); j++ {
			switch a[j] {
			case '/':
				o.dash = "-/"
			case 'o':
				o.home = homeSkip
			case 'h':
				o.home = homeStop
			case 'H':
				o.home = homeIgnore
			case 'u':
				o.noUpper = false
			case 'U':
				o.noUpper = true
			case 'C':
				o.brk = 0
			case 'c':
				v := a[j+1:]
				if v == "" {
					if i+1 >= len(args) {
						return o, false
					}
					i++
					v = args[i]
				}
				o.brk = 0
				if v != "" {
					o.brk = v[0]
				}
				j = len(a)
			default:
				return o, false
			}
		}
	}
	return o, i == len(args)
}

// readPw2uFiles reads the users/* files qmail-pw2u obeys. include,
// exclude and mailnames are read as qmail's list files (trailing blanks
// dropped, empty and # lines skipped); subusers and append are used line
// by line as they are. A missing file is absent; any other failure to
// read one is an error.
func readPw2uFiles(home string) (*pw2uFiles, error) {
	f := &pw2uFiles{}
	read := func(name string) ([]byte, bool, error) {
		data, err := os.ReadFile(filepath.Join(home, "users", name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("users/%s: %v", name, sysReason(err))
		}
		return data, true, nil
	}
	data, ok, err := read("include")
	if err != nil {
		return nil, err
	}
	if ok {
		f.include = toSet(control.ParseList(data))
	}
	if data, _, err = read("exclude"); err != nil {
		return nil, err
	}
	f.exclude = toSet(control.ParseList(data))
	if data, _, err = read("mailnames"); err != nil {
		return nil, err
	}
	f.mailnames = toMap(control.ParseList(data))
	if f.subusers, _, err = read("subusers"); err != nil {
		return nil, err
	}
	if f.appendix, _, err = read("append"); err != nil {
		return nil, err
	}
	return f, nil
}

// toSet makes a case-insensitive set, as qmail's constmap.
func toSet(lines []string) map[string]bool {
	m := map[string]bool{}
	for _, l := range lines {
		m[lowerASCII(l)] = true
	}
	return m
}

// toMap splits each line at its first colon into a case-insensitive key
// and a value; lines without a colon are ignored and a repeated key's last
// line wins, as with qmail's constmap.
func toMap(lines []string) map[string]string {
	m := map[string]string{}
	for _, l := range lines {
		if i := bytes.IndexByte([]byte(l), ':'); i >= 0 {
			m[lowerASCII(l[:i])] = l[i+1:]
		}
	}
	return m
}

// statUID is the real stat for home checks.
func statUID(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return uint64(st.Uid), nil
}

// sysReason strips the path from a *fs.PathError.
func sysReason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// lowerASCII lowercases A-Z only.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
