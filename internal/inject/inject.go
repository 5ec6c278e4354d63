package inject

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"goqmail/internal/addr"
	"goqmail/internal/control"
	"goqmail/internal/prog"
	"goqmail/internal/qq"
	"goqmail/internal/rfc822"
)

// Main is qmail-inject.
func Main(ctx *prog.Context) int {
	return Run(ctx, Options{Now: time.Now, Pid: os.Getpid()})
}

// config is what qmail-inject reads from control/ and the environment.
type config struct {
	hosts   rfc822.Hosts
	idHost  string
	letters injectLetters
	mft     []string // QMAILMFTFILE's addresses
}

// setting is a control file overridden by a variable; default me, else
// the file's own name (spec §13.2).
func setting(ctx *prog.Context, d *control.Dir, env, file string) (string, error) {
	if v, ok := ctx.Getenv(env); ok {
		return v, nil
	}
	return d.LineMe(file, file)
}

func loadConfig(ctx *prog.Context) (*config, error) {
	d := control.New(ctx.Home)
	c := &config{letters: parseLetters(ctx.Env0("QMAILINJECT"))}
	var err error
	for _, s := range []struct {
		dst       *string
		env, file string
	}{
		{&c.hosts.DefaultDomain, "QMAILDEFAULTDOMAIN", "defaultdomain"},
		{&c.hosts.DefaultHost, "QMAILDEFAULTHOST", "defaulthost"},
		{&c.hosts.PlusDomain, "QMAILPLUSDOMAIN", "plusdomain"},
		{&c.idHost, "QMAILIDHOST", "idhost"},
	} {
		if *s.dst, err = setting(ctx, d, s.env, s.file); err != nil {
			return nil, err
		}
	}
	if f, ok := ctx.Getenv("QMAILMFTFILE"); ok && f != "" {
		data, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("unable to read %s: %w", f, err)
		}
		c.mft = control.ParseList(data)
	}
	return c, nil
}

// firstEnv is the first of keys that is set.
func firstEnv(ctx *prog.Context, keys ...string) (string, bool) {
	for _, k := range keys {
		if v, ok := ctx.Getenv(k); ok {
			return v, true
		}
	}
	return "", false
}

// Run is qmail-inject with a fixed clock and pid.
func Run(ctx *prog.Context, opt Options) int {
	p, code := prepare(ctx, opt)
	if p == nil {
		return code
	}
	a, m, br := p.args, p.msg, p.body
	top := p.top
	if a.print {
		w := bufio.NewWriter(ctx.Stdout)
		w.WriteString("Return-Path: <" + addr.Quote2(m.sender) + ">\n")
		w.WriteString(top)
		if err := copyBody(w, br); err != nil {
			return ctx.Fatal(111, "read error: %v", err)
		}
		if err := w.Flush(); err != nil {
			return ctx.Fatal(111, "unable to write output: %v", err)
		}
		return 0
	}
	q, err := qq.Open(ctx.Home, ctx.Env, ctx.Stderr)
	if err != nil {
		return ctx.Fatal(111, "unable to run qmail-queue: %v", err)
	}
	q.WriteString(top)
	if err := copyBody(q, br); err != nil {
		q.Abort()
		return ctx.Fatal(111, "read error: %v", err)
	}
	res := q.Close(m.sender, m.rcpts)
	if res.OK() {
		return 0
	}
	if res.Permanent() {
		return ctx.Fatal(100, "%s", res.Text[1:])
	}
	return ctx.Fatal(111, "%s", res.Text[1:])
}

// prepared is a message whose header is read and rewritten.
type prepared struct {
	args args
	msg  *message
	top  string // added fields, rewritten header, separator
	body *bufio.Reader
}

// prepare reads the options, controls and header; nil means exit with code.
func prepare(ctx *prog.Context, opt Options) (*prepared, int) {
	a, ok := parseArgs(ctx.Args)
	if !ok {
		return nil, ctx.Usage(injectUsage)
	}
	cfg, err := loadConfig(ctx)
	if err != nil {
		return nil, ctx.Fatal(111, "unable to read controls: %v", err)
	}
	br := bufio.NewReaderSize(ctx.Stdin, 64<<10)
	h, err := readHeader(br)
	if err != nil {
		if errors.Is(err, errHeaderTooLong) || errors.Is(err, errHeaderNUL) {
			return nil, ctx.Fatal(100, "%v", err)
		}
		return nil, ctx.Fatal(111, "read error: %v", err)
	}
	m := &message{ctx: ctx, cfg: cfg, opt: opt, now: opt.Now()}
	if code := m.process(h, a); code != 0 {
		return nil, code
	}
	return &prepared{args: a, msg: m, top: m.added.String() + m.out.String() + h.sep + h.first, body: br}, 0
}

// copyBody copies the body, ending a final partial line.
func copyBody(w io.Writer, br *bufio.Reader) error {
	var last byte = '\n'
	buf := make([]byte, 32<<10)
	for {
		n, err := br.Read(buf)
		if n > 0 {
			last = buf[n-1]
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if last != '\n' {
		_, err := w.Write([]byte{'\n'})
		return err
	}
	return nil
}

// message is one run's state.
type message struct {
	ctx   *prog.Context
	cfg   *config
	opt   Options
	now   time.Time
	added strings.Builder // fields qmail-inject adds, printed first
	out   strings.Builder // the rewritten header

	sender string
	rcpts  []string
}

func (m *message) rewrite(toks []rfc822.Token) []rfc822.Token { return m.cfg.hosts.Rewrite(toks) }

// rewriteAddr completes one address given as a string (an argument, -f,
// the default sender): quoted with quote2, tokenised, rewritten.
func (m *message) rewriteAddr(s string) (string, error) {
	l, err := rfc822.ParseList(addr.Quote2(s), nil)
	if err != nil {
		return "", err
	}
	var toks []rfc822.Token
	for _, a := range l.Addrs {
		toks = append(toks, a.Tokens...)
	}
	return rfc822.Envelope(m.rewrite(toks)), nil
}

func (m *message) parseError(line string) int {
	if !strings.HasSuffix(line, "\n") {
		line += "\n"
	}
	fmt.Fprintf(m.ctx.Stderr, "%s: fatal: unable to parse this line:\n%s", m.ctx.Name(), line)
	return 100
}
