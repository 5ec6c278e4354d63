package admin

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"goqmail/internal/errtext"
	"goqmail/internal/queuefs"
)

// checkMessage checks the files of one message against qmail's states
// (spec §1.1): S2 mess only, S3 mess and intd, S4 queued (todo, maybe
// intd and stale info/local/remote), S5 preprocessed (info, maybe
// local, remote, bounce).
func (f *fsck) checkMessage(n uint64, m *fsckMsg) {
	mess, todo, intd := m[kMess], m[kTodo], m[kIntd]
	if intd != nil && todo != nil && intd.ino != todo.ino {
		// qmail-clean would remove intd/N with todo/N; it may hold
		// another envelope, so keep it.
		if f.report(intd.path, fmt.Sprintf("not a hard link of todo/%d (another envelope)", n), f.quarantineAction(intd.path)) || !f.fix {
			m[kIntd] = nil
		}
	}
	if mess == nil {
		for _, k := range []int{kTodo, kInfo, kIntd, kLocal, kRemote, kBounce} {
			if m[k] != nil {
				f.report(m[k].path, fmt.Sprintf("mess/%s is missing: the message text is lost", queuefs.Sub(n)), f.quarantineMessage(n, m))
				return
			}
		}
		return
	}
	if mess.ino != n {
		f.report(mess.path, fmt.Sprintf("inode %d is not the message number (a queue copied file by file?): a new message given inode %d would fail", mess.ino, n),
			action{would: "-f cannot repair this: deliver the queue with the old qmail or renumber it by hand", human: true})
	}
	switch {
	case todo != nil:
		f.checkTodo(n, m)
	case m[kInfo] != nil:
		f.checkInfo(n, m)
	case m[kLocal] != nil || m[kRemote] != nil || m[kBounce] != nil:
		for _, k := range []int{kLocal, kRemote, kBounce} {
			if m[k] != nil {
				f.report(m[k].path, fmt.Sprintf("neither info/%s nor todo/%d: qmail-send never delivers it", queuefs.Sub(n), n), f.quarantineMessage(n, m))
				return
			}
		}
	default:
		f.checkAbandoned(n, m)
	}
}

// read reads a message file; a failure is reported and makes the run
// fail, since qmail-send could not read it either.
func (f *fsck) read(file *fsckFile) ([]byte, bool) {
	data, err := os.ReadFile(file.path)
	if err != nil {
		f.report(file.path, "unreadable ("+errtext.Text(err)+"): qmail-send cannot read it either", action{would: "-f cannot repair this", human: true})
		if !f.fix {
			f.failed = true
		}
		return nil, false
	}
	return data, true
}

// checkTodo: a queued message. qmail-send rebuilds info, local and
// remote from todo/N, so only todo/N and the text matter.
func (f *fsck) checkTodo(n uint64, m *fsckMsg) {
	data, ok := f.read(m[kTodo])
	if !ok {
		return
	}
	if _, err := queuefs.ParseTodo(data); err != nil {
		f.report(m[kTodo].path, "unparsable ("+err.Error()+"): qmail-send retries it forever", f.quarantineMessage(n, m))
		return
	}
	f.checkEmpty(n, m)
}

// checkEmpty quarantines a message whose text is empty: qmail-queue
// always writes its Received line, so an empty mess file lost its data
// (a power cut before its fsync), and delivering it would send nothing.
func (f *fsck) checkEmpty(n uint64, m *fsckMsg) bool {
	if m[kMess] != nil && m[kMess].size == 0 {
		f.report(m[kMess].path, "empty: the message text is lost", f.quarantineMessage(n, m))
		return true
	}
	return false
}

// checkInfo: a preprocessed message.
func (f *fsck) checkInfo(n uint64, m *fsckMsg) {
	data, ok := f.read(m[kInfo])
	if !ok {
		return
	}
	if len(data) < 2 || data[0] != 'F' || bytes.IndexByte(data, 0) != len(data)-1 {
		f.report(m[kInfo].path, "unparsable (not F, the sender and a NUL): the sender of bounces is unknown", f.quarantineMessage(n, m))
		return
	}
	for _, k := range []int{kLocal, kRemote} {
		if m[k] == nil {
			continue
		}
		data, ok := f.read(m[k])
		if !ok {
			return
		}
		if what := chanProblem(data); what != "" {
			f.report(m[k].path, what, f.quarantineMessage(n, m))
			return
		}
	}
	if f.checkEmpty(n, m) || m[kLocal] != nil || m[kRemote] != nil {
		return
	}
	f.report(m[kInfo].path, fmt.Sprintf("neither local nor remote file nor todo/%d: delivered but not cleaned up", n),
		action{would: "left for qmail-send, which finishes it when it starts"})
}

// chanProblem says what is wrong with a local or remote file, "" if
// nothing is.
func chanProblem(data []byte) string {
	recs, err := queuefs.ParseChan(data)
	if err != nil {
		off := int64(0)
		if len(recs) > 0 {
			last := recs[len(recs)-1]
			off = last.Offset + int64(len(last.Addr)) + 2
		}
		what := "a record that is neither T nor D"
		if !errors.Is(err, queuefs.ErrBadRecord) {
			what = err.Error()
		}
		return fmt.Sprintf("unparsable (%s at byte %d): recipients may be lost or delivered twice", what, off)
	}
	if len(data) > 0 && data[len(data)-1] != 0 {
		return "truncated (the last record has no NUL): that recipient would never be delivered"
	}
	return ""
}

// checkAbandoned: a mess file (maybe with intd) and neither todo nor
// info: an injection in progress, or one qmail-queue abandoned.
// qmail-send removes it (and intd/N) when its atime is 36 hours old.
func (f *fsck) checkAbandoned(n uint64, m *fsckMsg) {
	mess := m[kMess]
	age := f.now.Sub(mess.atime)
	what := fmt.Sprintf("neither todo/%d nor info/%s: an injection abandoned %s ago", n, queuefs.Sub(n), ageText(age))
	if age <= staleAge {
		f.report(mess.path, what+" (or still in progress)",
			action{would: "left for qmail-send, which removes it when it is 36 hours old"})
		return
	}
	if queuefs.BeingWritten(mess.path) {
		// Old by the clock, yet a qmail-queue holds it: the clock jumped.
		f.report(mess.path, fmt.Sprintf("neither todo/%d nor info/%s, %s old by the clock, but a qmail-queue is still writing it",
			n, queuefs.Sub(n), ageText(age)), action{would: "left alone"})
		return
	}
	f.report(mess.path, what, action{would: "-f would remove it, as qmail-send does after 36 hours", fn: func() (string, error) {
		// Looked at again at the moment of removal, lock first: a
		// qmail-queue that finished since the scan (it was not writing at
		// this check) has made todo/N by then if it committed.
		if queuefs.BeingWritten(mess.path) || fileExists(f.q.Todo(n)) || fileExists(f.q.Info(n)) {
			return "left alone: it is being written or was committed since the check", nil
		}
		if m[kIntd] != nil {
			if err := f.remove(m[kIntd].path); err != nil {
				return "", err
			}
		}
		if err := f.remove(mess.path); err != nil {
			return "", err
		}
		return "removed", nil
	}})
}

// fileExists says whether p names anything (a dangling name included).
func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
