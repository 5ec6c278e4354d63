package deliverhelp

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"goqmail/internal/datefmt"
	"goqmail/internal/mbox"
	"goqmail/internal/prog"
)

// tmpMaxAge is how old a file in a Maildir's tmp/ must be before it is
// taken for debris of a dead delivery and removed (maildir(5): 36 hours).
const tmpMaxAge = 36 * time.Hour

// Maildir2mbox is maildir2mbox: it moves every message of the Maildir
// $MAILDIR into the mbox $MAIL, through $MAILTMP. With $MAIL locked it
// copies the mbox to $MAILTMP, appends the messages (oldest first, by
// modification time) with a From_ line, ">From " quoting and a blank
// line after each, fsyncs, renames $MAILTMP over $MAIL, and only then
// removes the messages from the Maildir: a crash at any point loses
// nothing (at worst a message is in both places). It first removes files
// older than 36 hours from tmp/. Nothing to move: exit 0, $MAIL
// untouched. Every failure is 111, as in qmail (an unset variable too:
// it is the environment, not the command line, that is wrong).
//
// The From_ line is "From SENDER DATE": SENDER from the message's first
// line when that is "Return-Path: <SENDER>" (MAILER-DAEMON if empty),
// else "XXX"; DATE is the file's modification time. The message is
// copied whole, its Return-Path line included.
//
// Locking: $MAIL is locked with flock and an fcntl lock (what mutt and
// procmail take), waiting for as long as it takes, as qmail's does.
func Maildir2mbox(ctx *prog.Context) int {
	if len(ctx.Args) > 1 {
		return ctx.Usage("maildir2mbox")
	}
	var vars [3]string
	for i, name := range []string{"MAILDIR", "MAIL", "MAILTMP"} {
		v, ok := ctx.Getenv(name)
		if !ok || v == "" {
			return ctx.Fatal(111, "%s not set", name)
		}
		vars[i] = v
	}
	maildir, mail, mailtmp := vars[0], vars[1], vars[2]
	if err := cleanTmp(filepath.Join(maildir, "tmp"), time.Now()); err != nil {
		return ctx.Fatal(111, "unable to clean %s/tmp: %s", maildir, errText(err))
	}
	msgs, err := scanMaildir(maildir)
	if err != nil {
		return ctx.Fatal(111, "unable to scan %s: %s", maildir, errText(err))
	}
	if len(msgs) == 0 {
		return 0
	}
	mf, err := os.OpenFile(mail, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return ctx.Fatal(111, "unable to open %s: %s", mail, errText(err))
	}
	defer mf.Close()
	if err := lockWait(mf); err != nil {
		return ctx.Fatal(111, "unable to lock %s: %s", mail, errText(err))
	}
	if err := copyFile(mf, mailtmp); err != nil {
		os.Remove(mailtmp)
		return ctx.Fatal(111, "unable to copy %s to %s: %s", mail, mailtmp, errText(err))
	}
	for _, m := range msgs {
		if err := appendMessage(mailtmp, m); err != nil {
			os.Remove(mailtmp)
			return ctx.Fatal(111, "unable to move %s to %s: %s", m.path, mailtmp, errText(err))
		}
	}
	if err := os.Rename(mailtmp, mail); err != nil {
		os.Remove(mailtmp)
		return ctx.Fatal(111, "unable to move %s to %s: %s", mailtmp, mail, errText(err))
	}
	for _, m := range msgs {
		if err := os.Remove(m.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return ctx.Fatal(111, "unable to unlink %s: %s", m.path, errText(err))
		}
	}
	return 0
}

// maildirMessage is one message file found in new/ or cur/.
type maildirMessage struct {
	path  string
	mtime time.Time
}

// scanMaildir lists the messages of new/ and cur/, oldest first (ties
// by name, so the order is stable).
func scanMaildir(dir string) ([]maildirMessage, error) {
	var out []maildirMessage
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue
				}
				return nil, err
			}
			if fi.Mode().IsRegular() {
				out = append(out, maildirMessage{filepath.Join(dir, sub, e.Name()), fi.ModTime()})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].mtime.Equal(out[j].mtime) {
			return out[i].mtime.Before(out[j].mtime)
		}
		return filepath.Base(out[i].path) < filepath.Base(out[j].path)
	})
	return out, nil
}

// cleanTmp removes files in tmp/ last touched before now-tmpMaxAge.
func cleanTmp(tmp string, now time.Time) error {
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		at := fi.ModTime()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			at = time.Unix(st.Atim.Unix())
		}
		if at.Before(now.Add(-tmpMaxAge)) {
			os.Remove(filepath.Join(tmp, e.Name()))
		}
	}
	return nil
}

// copyFile writes the whole of src to a new file at dst (mode 0600) and
// fsyncs it.
func copyFile(src *os.File, dst string) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, io.NewSectionReader(src, 0, 1<<62)); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// appendMessage appends the message file m to the mbox at path.
func appendMessage(path string, m maildirMessage) error {
	f, err := os.Open(m.path)
	if err != nil {
		return err
	}
	defer f.Close()
	first, err := bufio.NewReader(io.LimitReader(f, 64<<10)).ReadString('\n')
	if err != nil && err != io.EOF {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	from := "From " + fromSender(first) + " " + datefmt.Mbox(m.mtime) + "\n"
	return mbox.Append(path, []byte(from), nil, f, mbox.Options{})
}

// fromSender is the sender for the From_ line of a message whose first
// line is first: the Return-Path address, MAILER-DAEMON for <>, XXX
// without a Return-Path. Blanks in it become '-' (a From_ line is split
// at blanks).
func fromSender(first string) string {
	const rp = "Return-Path: <"
	first = strings.TrimRight(first, "\r\n")
	if !strings.HasPrefix(first, rp) {
		return "XXX"
	}
	s := first[len(rp):]
	if i := strings.LastIndexByte(s, '>'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return "MAILER-DAEMON"
	}
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' {
			return '-'
		}
		return r
	}, s)
}

// lockWait takes an exclusive flock lock and an exclusive fcntl lock on
// the whole of f, waiting as long as they are held. A file system that
// supports neither lock is not an error (the copy goes on unlocked, as
// qmail's does).
func lockWait(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err == nil || !errors.Is(err, syscall.EINTR) {
			if err != nil && !unsupportedLock(err) {
				return err
			}
			break
		}
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK}
	for {
		err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLKW, &lk)
		if err == nil || unsupportedLock(err) {
			return nil
		}
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func unsupportedLock(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOLCK) || errors.Is(err, syscall.EOPNOTSUPP)
}
