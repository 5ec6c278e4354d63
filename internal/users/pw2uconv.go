package users

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// Home policies of qmail-pw2u.
const (
	homeIgnore = iota // -H: do not look at home
	homeStop          // -h: stop if home does not exist; skip if not owned
	homeSkip          // -o (default): skip if home does not exist or is not owned
)

type pw2uOptions struct {
	dash    string // "-" or, with -/, "-/"
	home    int    // homeIgnore, homeStop, homeSkip
	noUpper bool   // skip names with uppercase letters (-U, default)
	brk     byte   // the user-extension break character; 0 disables (-C)
}

// pw2uFiles are the users/* files; nil means absent.
type pw2uFiles struct {
	include   map[string]bool // nil when users/include does not exist
	exclude   map[string]bool
	mailnames map[string]string
	subusers  []byte
	appendix  []byte
}

// pw2u converts one password file.
type pw2u struct {
	opts  pw2uOptions
	files *pw2uFiles
	stat  func(path string) (uid uint64, err error)

	out      bytes.Buffer
	users    map[string]string // lowercased name ⇒ ":user:uid:gid:home:" of kept accounts
	sawAlias bool
}

// run reads the password file from in and returns users/assign.
func (c *pw2u) run(in io.Reader) ([]byte, error) {
	c.users = map[string]string{}
	if err := eachLine(in, c.account); err != nil {
		return nil, err
	}
	if !c.sawAlias {
		return nil, errors.New("unable to find alias user")
	}
	if c.files.subusers != nil {
		if err := eachLine(bytes.NewReader(c.files.subusers), c.subuser); err != nil {
			return nil, err
		}
	}
	c.out.Write(c.files.appendix)
	if n := len(c.files.appendix); n > 0 && c.files.appendix[n-1] != '\n' {
		// qmail glued "." to an unterminated last line of users/append,
		// leaving an assign file qmail-newu refuses; end the line instead.
		c.out.WriteByte('\n')
	}
	c.out.WriteString(".\n")
	return c.out.Bytes(), nil
}

// eachLine calls fn for every line of in (with its newline, if any),
// including a last line without one.
func eachLine(in io.Reader, fn func(line string) error) error {
	br := bufio.NewReader(in)
	for {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("unable to read input: %v", err)
		}
		if line != "" {
			if ferr := fn(line); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// fields returns the first n colon-terminated fields of line, or false if
// the line has fewer than n colons.
func fields(line string, n int) ([]string, bool) {
	f := strings.SplitN(line, ":", n+1)
	if len(f) < n+1 {
		return nil, false
	}
	return f[:n], true
}

// account handles one password-file line (qmail-pw2u's rules, §7.4).
func (c *pw2u) account(line string) error {
	if strings.IndexByte(line, 0) >= 0 {
		return nil
	}
	f, ok := fields(line, 6) // user pw uid gid gecos home
	if !ok {
		return nil
	}
	user, uidStr, gidStr, home := f[0], f[2], f[3], f[5]
	uid := scanUint(uidStr)
	if uid == 0 {
		return nil
	}
	if c.opts.noUpper && strings.ContainsAny(user, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		return nil
	}
	if c.files.include != nil && !c.files.include[lowerASCII(user)] {
		return nil
	}
	if c.files.exclude[lowerASCII(user)] {
		return nil
	}
	if c.opts.home != homeIgnore {
		owner, err := c.stat(home)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) || c.opts.home == homeStop {
				return fmt.Errorf("unable to stat %s: %v", home, sysReason(err))
			}
			return nil
		}
		if owner != uid {
			return nil
		}
	}
	ids := ":" + user + ":" + uidStr + ":" + gidStr + ":" + home + ":"
	c.users[lowerASCII(user)] = ids
	if user == "alias" {
		fmt.Fprintf(&c.out, "+%s%s::\n", ids, c.opts.dash)
		c.sawAlias = true
	}
	names := user
	if v, ok := c.files.mailnames[lowerASCII(user)]; ok {
		names = v
	}
	for _, name := range strings.Split(names, ":") {
		if name == "" {
			continue
		}
		fmt.Fprintf(&c.out, "=%s%s::\n", name, ids)
		if c.opts.brk != 0 {
			fmt.Fprintf(&c.out, "+%s%c%s%s::\n", name, c.opts.brk, ids, c.opts.dash)
		}
	}
	return nil
}

// subuser handles one line of users/subusers: sub:user:pre:.
func (c *pw2u) subuser(line string) error {
	f := strings.SplitN(line, ":", 3)
	if len(f) < 3 {
		return nil
	}
	sub, user := f[0], f[1]
	ids, ok := c.users[lowerASCII(user)]
	if !ok {
		return fmt.Errorf("unable to find %s user for subuser", user)
	}
	pre, ok := fields(f[2], 1)
	if !ok {
		return nil
	}
	fmt.Fprintf(&c.out, "=%s%s%s:%s:\n", sub, ids, c.opts.dash, pre[0])
	if c.opts.brk != 0 {
		fmt.Fprintf(&c.out, "+%s%c%s%s:%s-:\n", sub, c.opts.brk, ids, c.opts.dash, pre[0])
	}
	return nil
}

// scanUint reads the decimal digits at the start of s, as qmail's
// scan_ulong: "" and "x" are 0, "12x" is 12. Huge values saturate.
func scanUint(s string) uint64 {
	var n uint64
	for i := 0; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		if n > (1<<64-1)/10-1 {
			return 1<<64 - 1
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n
}
