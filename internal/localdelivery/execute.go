package localdelivery

import (
	"fmt"
	"io"
	"strings"
)

// execute follows the .qmail text line by line (spec §8.4). Forwarding
// addresses are only collected here; run queues them at the end.
func (d *delivery) execute(text string) *exit {
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	first := true
	for len(text) > 0 {
		i := strings.IndexByte(text, '\n')
		line := strings.TrimRight(text[:i], " \t")
		text = text[i+1:]
		isFirst := first
		first = false
		if line == "" {
			if isFirst {
				return temp("Uh-oh: first line of .qmail file is blank. (#4.2.1)")
			}
			continue
		}
		stop, ex := d.line(line)
		if ex != nil {
			return ex
		}
		if stop {
			return nil
		}
	}
	return nil
}

// cString cuts s at its first NUL byte, where qmail's C string ended.
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// line carries out one non-empty line; stop means a program exited 99.
func (d *delivery) line(line string) (stop bool, ex *exit) {
	switch line[0] {
	case '#':
		return false, nil
	case '+':
		if line == "+list" {
			d.forwardOnly = true
		}
		return false, nil
	case '.', '/':
		d.nFile++
		if d.forwardOnly {
			return false, temp("Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)")
		}
		path := cString(line)
		if strings.HasSuffix(line, "/") {
			if !d.doit {
				d.say("maildir", path)
				return false, nil
			}
			return false, d.maildir(path)
		}
		if !d.doit {
			d.say("mbox", path)
			return false, nil
		}
		return false, d.mbox(path)
	case '|':
		d.nPrg++
		if d.forwardOnly {
			return false, temp("Uh-oh: .qmail has prog delivery but has x bit set. (#4.7.0)")
		}
		cmd := cString(line[1:])
		if !d.doit {
			d.say("program", cmd)
			return false, nil
		}
		return d.program(cmd)
	case '&':
		line = line[1:]
	}
	d.nFwd++
	if !d.doit {
		d.say("forward", line)
		return false, nil
	}
	d.recips = append(d.recips, line)
	return false, nil
}

// say prints one line of -n output (spec §8.7).
func (d *delivery) say(kind, what string) {
	fmt.Fprintf(d.out, "%s %s\n", kind, what)
}

// path makes a .qmail path absolute: relative paths are relative to the
// home, where qmail-local would have chdir'd.
func (d *delivery) path(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return d.home + "/" + p
}

// forward queues the message once for every collected address, with the
// Delivered-To line on top and NEWSENDER as the envelope sender.
func (d *delivery) forward() (int, *exit) {
	q, err := openQueue(d)
	if err != nil {
		return 0, tempf("Unable to fork: %s. (#4.3.0)", errText(err))
	}
	q.WriteString(d.lines.dt)
	if _, err := io.Copy(q, d.message()); err != nil {
		q.Abort()
		return 0, tempf("Unable to read message: %s. (#4.3.0)", errText(err))
	}
	res := q.Close(d.newsender, d.recips)
	if !res.OK() {
		ex := tempf("Unable to forward message: %s.", res.Text[1:])
		if res.Permanent() {
			ex.code = 100
		}
		return 0, ex
	}
	return q.Pid(), nil
}
