package inject

import (
	"errors"
	"fmt"
	"strings"

	"goqmail/internal/addr"
	"goqmail/internal/datefmt"
	"goqmail/internal/rfc822"
)

// process rewrites the header into m.out, decides the fields to add
// (m.added) and the envelope (m.sender, m.rcpts). It returns 0 or an
// exit code.
func (m *message) process(h *header, a args) int {
	resent := false
	for _, f := range h.fields {
		resent = resent || resentFields[strings.ToLower(f.name)]
	}
	letters := m.cfg.letters
	have := map[string]bool{}
	var headerRcpts []string
	var toCc []string // To and Cc addresses, each field right to left
	haveRP := false
	var rpSender string
	for _, f := range h.fields {
		lname := strings.ToLower(f.name)
		switch {
		case lname == "content-length":
			continue
		case lname == "from" && letters.deleteFrom, lname == "message-id" && letters.deleteMID:
			continue
		case lname == "return-path" && letters.ignoreRP:
			continue
		}
		have[lname] = true
		if !addressFields[lname] {
			m.out.WriteString(f.text)
			continue
		}
		l, err := rfc822.ParseList(f.value, m.rewrite)
		var se *rfc822.SyntaxError
		if errors.As(err, &se) {
			return m.parseError(f.text)
		}
		envs := reversed(l.Addrs)
		switch lname {
		case "return-path":
			if !haveRP && len(envs) > 0 {
				haveRP, rpSender = true, envs[0]
			}
			continue
		case "to", "cc", "bcc", "apparently-to":
			if !resent {
				headerRcpts = append(headerRcpts, nonEmpty(envs)...)
			}
		case "resent-to", "resent-cc", "resent-bcc":
			if resent {
				headerRcpts = append(headerRcpts, nonEmpty(envs)...)
			}
		}
		if lname == "to" || lname == "cc" {
			toCc = append(toCc, nonEmpty(envs)...)
		}
		if lname == "bcc" || lname == "resent-bcc" {
			continue
		}
		m.out.WriteString(l.Format(f.name))
	}
	if code := m.envelope(a, headerRcpts, haveRP, rpSender); code != 0 {
		return code
	}
	return m.addFields(resent, have, toCc)
}

// reversed gives the envelope addresses of a field right to left, the
// order qmail-inject collects them in.
func reversed(as []rfc822.Address) []string {
	out := make([]string, 0, len(as))
	for i := len(as) - 1; i >= 0; i-- {
		out = append(out, as[i].Envelope)
	}
	return out
}

func nonEmpty(s []string) []string {
	out := s[:0:0]
	for _, a := range s {
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}

// envelope decides the sender and recipients (spec §13.4).
func (m *message) envelope(a args, headerRcpts []string, haveRP bool, rpSender string) int {
	var err error
	switch {
	case a.haveF:
		if m.sender, err = m.rewriteAddr(a.sender); err != nil {
			return m.parseError(a.sender)
		}
	case haveRP:
		m.sender = rpSender
	default:
		if m.sender, err = m.defaultSender(); err != nil {
			return m.parseError(m.sender)
		}
	}
	var argRcpts []string
	for _, r := range a.rcpts {
		e, err := m.rewriteAddr(r)
		if err != nil {
			return m.parseError(r)
		}
		argRcpts = append(argRcpts, e)
	}
	switch a.mode {
	case modea:
		m.rcpts = argRcpts
	case modeh:
		m.rcpts = headerRcpts
	case modeH:
		m.rcpts = append(argRcpts, headerRcpts...)
	default:
		m.rcpts = argRcpts
		if len(argRcpts) == 0 {
			m.rcpts = headerRcpts
		}
	}
	if len(m.rcpts) > MaxRecipients {
		return m.ctx.Fatal(100, "too many recipients (more than %d)", MaxRecipients)
	}
	return 0
}

// fromUser is the From user (QMAILUSER, MAILUSER, USER, LOGNAME, else
// anonymous) and host (QMAILHOST, MAILHOST, else none).
func (m *message) fromUser() (user, host string, haveHost bool) {
	user, ok := firstEnv(m.ctx, "QMAILUSER", "MAILUSER", "USER", "LOGNAME")
	if !ok {
		user = "anonymous"
	}
	host, haveHost = firstEnv(m.ctx, "QMAILHOST", "MAILHOST")
	return user, host, haveHost
}

// defaultSender is QMAILSUSER@QMAILSHOST (else the From user and host),
// rewritten, with the VERP letters applied.
func (m *message) defaultSender() (string, error) {
	user, host, haveHost := m.fromUser()
	if v, ok := m.ctx.Getenv("QMAILSUSER"); ok {
		user = v
	}
	if v, ok := m.ctx.Getenv("QMAILSHOST"); ok {
		host, haveHost = v, true
	}
	if m.cfg.letters.verpMsg {
		user += fmt.Sprintf("-%d.%d", m.now.Unix(), m.opt.Pid)
	}
	if m.cfg.letters.verpRcpt {
		user += "-"
	}
	s := user
	if haveHost {
		s += "@" + host
	}
	e, err := m.rewriteAddr(s)
	if err != nil {
		return s, err
	}
	if m.cfg.letters.verpRcpt {
		e += "-@[]"
	}
	return e, nil
}

// addFields writes the fields qmail-inject adds, in qmail's order.
func (m *message) addFields(resent bool, have map[string]bool, toCc []string) int {
	prefix := ""
	if resent {
		prefix = "Resent-"
	}
	lp := strings.ToLower(prefix)
	if !have[lp+"date"] {
		m.added.WriteString(prefix + "Date: " + datefmt.RFC822(m.now) + "\n")
	}
	if !have[lp+"message-id"] {
		u := m.now.UTC()
		fmt.Fprintf(&m.added, "%sMessage-ID: <%04d%02d%02d%02d%02d%02d.%d.qmail@%s>\n", prefix,
			u.Year(), int(u.Month()), u.Day(), u.Hour(), u.Minute(), u.Second(), m.opt.Pid, m.cfg.idHost)
	}
	if !have[lp+"from"] {
		l, err := rfc822.ParseList(m.defaultFrom(), m.rewrite)
		if err != nil {
			return m.parseError(prefix + "From: " + m.defaultFrom())
		}
		m.added.WriteString(l.Format(prefix + "From"))
	}
	if !have[lp+"to"] && !have[lp+"cc"] {
		m.added.WriteString(prefix + "Cc: recipient list not shown: ;\n")
	}
	if !resent && len(m.cfg.mft) > 0 && !have["mail-followup-to"] && m.mftMatch(toCc) {
		items := make([]string, 0, len(toCc))
		for i := len(toCc) - 1; i >= 0; i-- {
			items = append(items, addr.Quote2(toCc[i]))
		}
		m.added.WriteString("Mail-Followup-To: " + strings.Join(items, ",\n  ") + "\n")
	}
	return 0
}

func (m *message) mftMatch(toCc []string) bool {
	for _, a := range toCc {
		for _, l := range m.cfg.mft {
			if strings.EqualFold(a, l) {
				return true
			}
		}
	}
	return false
}

// defaultFrom is the text of the From field qmail-inject adds, before
// rewriting: "Name" <user@host>, user@host (Name) with QMAILINJECT=c, or
// user@host without a name.
func (m *message) defaultFrom() string {
	user, host, haveHost := m.fromUser()
	a := addr.Quote(user)
	if haveHost {
		a += "@" + host
	}
	name, ok := firstEnv(m.ctx, "QMAILNAME", "MAILNAME", "NAME")
	if !ok {
		return a
	}
	if m.cfg.letters.comment {
		return a + " (" + escape(name, "()\\") + ")"
	}
	return `"` + escape(name, "\"\\") + `" <` + a + ">"
}

// escape puts a backslash before every byte of special and before
// newlines.
func escape(s, special string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(special, s[i]) >= 0 || s[i] == '\n' || s[i] == '\r' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
