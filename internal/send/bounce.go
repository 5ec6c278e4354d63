package send

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"goqmail/internal/addr"
	"goqmail/internal/datefmt"
	"goqmail/internal/plainfile"
	"goqmail/internal/qq"
)

type bounceConfig struct {
	from, host, dbHost, dbTo string
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// appendBounce records a permanent failure in bounce/N (spec §3.8): the
// recipient line, the report, and one empty line; inside them a line feed
// that follows another becomes '/', so the empty line ends the paragraph.
func (s *sender) appendBounce(m *message, recip, text string) error {
	r := strings.ReplaceAll(s.rw.StripPrepend(recip), "\n", "_")
	para := []byte("<" + r + ">:\n" + text)
	if len(para) == 0 || para[len(para)-1] != '\n' {
		para = append(para, '\n')
	}
	for i := 1; i < len(para); i++ {
		if para[i] == '\n' && para[i-1] == '\n' {
			para[i] = '/'
		}
	}
	para = append(para, '\n')
	f, err := os.OpenFile(s.q.Bounce(m.num), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(para); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// injectBounce queues the bounce of message m, if it has one, and
// removes bounce/N. It reports false if the bounce must be tried again.
func (s *sender) injectBounce(m *message) bool {
	bpath := s.q.Bounce(m.num)
	report, err := os.ReadFile(bpath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return true
		}
		s.logf("warning: unable to open %s\n", s.rel(bpath))
		return false
	}
	// A VERP sender's bounce goes to its owner address.
	sender := strings.TrimSuffix(m.sender, "-@[]")
	if sender == "#@[]" {
		s.logf("triple bounce: discarding %s\n", s.rel(bpath))
		return s.removeBounce(bpath)
	}
	mess, err := os.Open(s.q.Mess(m.num))
	if err != nil {
		s.logf("warning: unable to open %s\n", s.rel(s.q.Mess(m.num)))
		return false
	}
	defer mess.Close()
	q, err := qq.Open(s.ctx.Home, s.ctx.Env, s.ctx.Stderr)
	if err != nil {
		s.logf("warning: unable to start qmail-queue, will try later\n")
		return false
	}
	b := &s.bounce
	var to, envSender, envRecip string
	double := sender == ""
	if double {
		envSender = "#@[]"
		envRecip = b.dbTo + "@" + b.dbHost
		to = envRecip
	} else {
		envSender = ""
		envRecip = sender
		to = sender
	}
	w := bufio.NewWriter(q)
	w.WriteString("Date: " + datefmt.RFC822(s.now()) + "\n")
	w.WriteString("From: " + addr.Quote(b.from) + "@" + b.host + "\n")
	w.WriteString("To: " + addr.Quote2(to) + "\n")
	w.WriteString("Subject: failure notice\n\n")
	w.WriteString("Hi. This is the qmail-send program at " + b.host + ".\n")
	if double {
		w.WriteString("I tried to deliver a bounce message to this address, but the bounce bounced!\n\n")
	} else {
		w.WriteString("I'm afraid I wasn't able to deliver your message to the following addresses.\n")
		w.WriteString("This is a permanent error; I've given up. Sorry it didn't work out.\n\n")
	}
	w.Write(report)
	if double {
		w.WriteString("--- Below this line is the original bounce.\n\n")
	} else {
		w.WriteString("--- Below this line is a copy of the message.\n\n")
	}
	w.WriteString("Return-Path: <" + addr.Quote2(sender) + ">\n")
	if _, err := io.Copy(w, mess); err != nil {
		q.Abort()
		s.logf("warning: trouble injecting bounce message, will try later\n")
		return false
	}
	w.Flush()
	res := q.Close(envSender, []string{envRecip})
	if !res.OK() {
		s.logf("warning: trouble injecting bounce message, will try later\n")
		return false
	}
	s.logf("bounce msg %d qp %d\n", m.num, q.Pid())
	return s.removeBounce(bpath)
}

func (s *sender) removeBounce(p string) bool {
	if err := plainfile.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.logf("warning: unable to unlink %s\n", s.rel(p))
		return false
	}
	return true
}
