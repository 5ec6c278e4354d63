package send

import (
	"encoding/binary"
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"goqmail/internal/plainfile"
	"goqmail/internal/queuefs"
)

// The D marks of direct messages (direct.go) live in lock/directdone,
// where a killed qmail-send cannot lose them.
//
// qmail marks a finished delivery by writing a D over the T of its
// record in local/N or remote/N. The write goes to the page cache: a
// SIGKILL of qmail-send right after it loses nothing, only a crash of the
// machine may (hardening.md I3). A direct message has no such file, and
// its durable record, todo/N, can only be removed by qmail-clean, a pipe
// round trip later; with the mark only in memory, every kill of
// qmail-send, qmail-clean or a spawner in that window had the next
// qmail-send deliver the message again, beyond the deliveries in flight
// that qmail itself repeats (the CI crash test caught it: 61 duplicates
// for 57 deliveries in flight). So qmail-send writes the mark here, one
// pwrite of one record, where qmail would write the D, and clears it once
// todo/N is gone.
//
// The file is a table of 32-byte records, like lock/tcpto a record file
// that its writer rewrites in place: the message number, then todo/N's
// inode and modification time and mess/N's modification time
// (nanoseconds), little-endian; all zero is a free slot. A record is one
// write within one page, so a kill leaves it whole or not there.
// The message number alone would not do: the number is mess/N's inode,
// which the file system gives to a new message once the old one is
// removed, and a stale record taken for a new message would lose it. A
// new message matching all three would need both inodes back and both
// files written within the same clock tick as the old ones.
//
// A qmail-send that starts reads the table, keeps the records whose
// todo/N and mess/N are still those files, and clears the others; such a
// message is then finished without a new delivery (its bounce, if it
// failed, is in bounce/N, written before its mark).
//
// qmail-send runs as qmails, and lock/ is qmailq's: the install creates
// the file (qmails, 0600); a user-mode qmail-send creates it if missing.
// Without it, every message is preprocessed as qmail does.
const doneMarksName = "directdone"

const markSize = 32

// markSlots is the table's least size, one page of 128 records: a mark
// lives from its delivery's report until qmail-clean has removed todo/N,
// a pipe round trip later, so a page holds more marks than are usually
// alive at once even with concurrencies of 100; past it the file grows
// a record at a time. The install writes the page full of zeros, as
// qmail's writes lock/tcpto.
const markSlots = queuefs.DoneMarksSize / markSize

// doneIdent is what identifies a direct message's files beside its number.
type doneIdent struct {
	todoIno   uint64
	todoMtime int64 // ns
	messMtime int64 // ns
}

// doneMarks is the open table: slot of each marked message, free slots.
type doneMarks struct {
	f     *os.File
	slots map[uint64]int
	free  []int
	size  int // slots in the file
	// found are the marks a previous qmail-send left whose files are
	// still there: those messages were delivered.
	found map[uint64]doneIdent
}

// openDoneMarks opens lock/directdone (creating it if it may) and takes
// in what an earlier qmail-send left there.
func openDoneMarks(q queuefs.Queue) (*doneMarks, error) {
	f, err := plainfile.Open(q.Path("lock", doneMarksName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	d := &doneMarks{f: f, slots: map[uint64]int{}, found: map[uint64]doneIdent{}}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, errors.New("not a regular file")
	}
	data := make([]byte, fi.Size()/markSize*markSize)
	if _, err := f.ReadAt(data, 0); err != nil {
		f.Close()
		return nil, err
	}
	d.size = len(data) / markSize
	if d.size < markSlots {
		// The table's first page is written out, never left sparse, so
		// that a mark finds its block even when the disk is full.
		if _, err := f.WriteAt(make([]byte, (markSlots-d.size)*markSize), int64(d.size)*markSize); err == nil {
			data = append(data, make([]byte, (markSlots-d.size)*markSize)...)
			d.size = markSlots
		}
	}
	for i := d.size - 1; i >= 0; i-- {
		rec := data[i*markSize : (i+1)*markSize]
		n := binary.LittleEndian.Uint64(rec)
		id := doneIdent{binary.LittleEndian.Uint64(rec[8:]),
			int64(binary.LittleEndian.Uint64(rec[16:])), int64(binary.LittleEndian.Uint64(rec[24:]))}
		if n != 0 {
			if _, dup := d.slots[n]; !dup {
				if cur, ok := currentIdent(q, n); ok && cur == id {
					d.slots[n] = i
					d.found[n] = id
					continue
				}
			}
			if d.write(i, 0, doneIdent{}) != nil {
				f.Close()
				return nil, errors.New("unable to clear a stale record")
			}
		}
		d.free = append(d.free, i)
	}
	if len(d.slots) == 0 && d.size > markSlots {
		// Nothing left of the last run: back to one page.
		if err := f.Truncate(markSlots * markSize); err == nil {
			d.size, d.free = markSlots, d.free[len(d.free)-markSlots:]
		}
	}
	return d, nil
}

// currentIdent is the identity of message n's files as they are now.
func currentIdent(q queuefs.Queue, n uint64) (doneIdent, bool) {
	var todo unix.Stat_t
	if unix.Stat(q.Todo(n), &todo) != nil {
		return doneIdent{}, false
	}
	mess, err := os.Stat(q.Mess(n))
	if err != nil {
		return doneIdent{}, false
	}
	return identOf(&todo, mess), true
}

// identOf is the identity of a message's files from the stat of todo/N
// and of mess/N: the one way it is made, when a mark is written
// (prepareTodo) and when it is checked (currentIdent).
func identOf(todo *unix.Stat_t, mess os.FileInfo) doneIdent {
	return doneIdent{todo.Ino, todo.Mtim.Nano(), mess.ModTime().UnixNano()}
}

// write puts one record in slot i.
func (d *doneMarks) write(i int, n uint64, id doneIdent) error {
	var rec [markSize]byte
	binary.LittleEndian.PutUint64(rec[0:], n)
	binary.LittleEndian.PutUint64(rec[8:], id.todoIno)
	binary.LittleEndian.PutUint64(rec[16:], uint64(id.todoMtime))
	binary.LittleEndian.PutUint64(rec[24:], uint64(id.messMtime))
	_, err := d.f.WriteAt(rec[:], int64(i)*markSize)
	return err
}

// mark records that direct message n is done.
func (d *doneMarks) mark(n uint64, id doneIdent) error {
	if d == nil {
		return errors.New("no lock/" + doneMarksName)
	}
	if i, ok := d.slots[n]; ok {
		// A record left for n whose files did not match: this one does.
		return d.write(i, n, id)
	}
	i := d.size
	if k := len(d.free); k > 0 {
		i = d.free[k-1]
		d.free = d.free[:k-1]
	} else {
		d.size++
	}
	if err := d.write(i, n, id); err != nil {
		d.free = append(d.free, i)
		return err
	}
	d.slots[n] = i
	return nil
}

// clear forgets message n's mark once its todo/N is gone. A clear that
// fails leaves a record that no longer matches any file; the next
// qmail-send clears it.
func (d *doneMarks) clear(n uint64) {
	if d == nil {
		return
	}
	i, ok := d.slots[n]
	if !ok {
		return
	}
	delete(d.slots, n)
	delete(d.found, n)
	if d.write(i, 0, doneIdent{}) == nil {
		d.free = append(d.free, i)
	}
}

// delivered says whether an earlier qmail-send marked message n, with
// these files, done.
func (d *doneMarks) delivered(n uint64) (doneIdent, bool) {
	if d == nil {
		return doneIdent{}, false
	}
	id, ok := d.found[n]
	return id, ok
}

func (d *doneMarks) close() {
	if d != nil {
		d.f.Close()
	}
}
