package send

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"goqmail/internal/spawnproto"
)

// delivered counts the commands a fake spawner got for recipient r.
func (f *fakeSpawner) delivered(r string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := 0
	for _, c := range f.commands {
		if c.Recipient == r {
			k++
		}
	}
	return k
}

// marksFile is the harness's lock/directdone.
func (h *harness) marksFile() string { return h.q.Path("lock", doneMarksName) }

// marksInUse counts the records in lock/directdone that are not free.
func (h *harness) marksInUse() int {
	h.t.Helper()
	data, err := os.ReadFile(h.marksFile())
	if err != nil {
		h.t.Fatal(err)
	}
	k := 0
	for i := 0; i+markSize <= len(data); i += markSize {
		if strings.Trim(string(data[i:i+markSize]), "\x00") != "" {
			k++
		}
	}
	return k
}

// writeMark writes a record for message n into lock/directdone as a
// qmail-send that marked it done would, with id its files' identity.
func (h *harness) writeMark(n uint64, id doneIdent) {
	h.t.Helper()
	d, err := openDoneMarks(h.q)
	if err != nil {
		h.t.Fatal(err)
	}
	defer d.close()
	if err := d.mark(n, id); err != nil {
		h.t.Fatal(err)
	}
}

// TestDirectDoneSurvivesExit: a direct message delivered, whose todo/N
// qmail-clean could not remove before qmail-send stopped, is not
// delivered again by the next qmail-send: its D mark was in
// lock/directdone, and the new qmail-send only finishes the message. With
// the mark in memory only, every kill of qmail-send or qmail-clean in
// that window delivered such messages twice (the CI crash test).
func TestDirectDoneSurvivesExit(t *testing.T) {
	for _, fail := range []bool{false, true} {
		name := "success"
		if fail {
			name = "failure"
		}
		t.Run(name, func(t *testing.T) {
			var n uint64
			answer := func(c spawnproto.Command) (byte, string) {
				if fail {
					return 'D', "no mailbox.\n"
				}
				return 'K', "did 1+0+0\n"
			}
			refuse := func(req string) bool { return req == "todo/"+itoaT(n) }
			h := startWith(t, map[string]string{"me": "example.com\n"}, answer, nil, func(h *harness) {
				h.refuseClean.Store(&refuse)
				n = h.inject("a@b", "bob@example.com")
			})
			for i := 0; h.refused.Load() == 0; i++ { // at most 10 s
				if i == 1000 {
					t.Fatal("qmail-send never asked qmail-clean to remove todo/N")
				}
				time.Sleep(10 * time.Millisecond)
			}
			h.stop()
			if !exist(h.q.Todo(n)) {
				t.Fatal("todo/N gone although qmail-clean refused to remove it")
			}
			if k := h.marksInUse(); k != 1 {
				t.Fatalf("lock/directdone holds %d records, want one", k)
			}

			h2 := startOn(t, h.home, answer)
			h2.untilEnded(n)
			h2.stop()
			if k := h2.local.delivered("bob@example.com"); k != 0 {
				t.Errorf("delivered %d times by the second qmail-send, want 0; log %q", k, h2.all)
			}
			for _, l := range h2.all {
				if strings.HasPrefix(l, "new msg ") || strings.HasPrefix(l, "starting delivery ") {
					t.Errorf("second qmail-send logged %q", l)
				}
			}
			// The bounce of the failure went out once, from the first.
			b1, _ := filepath.Glob(filepath.Join(h.qqDir, "msg.*"))
			b2, _ := filepath.Glob(filepath.Join(h2.qqDir, "msg.*"))
			if want := map[bool]int{false: 0, true: 1}[fail]; len(b1)+len(b2) != want {
				t.Errorf("%d+%d bounces, want %d", len(b1), len(b2), want)
			}
			gone(t, h2, n)
			if k := h2.marksInUse(); k != 0 {
				t.Errorf("lock/directdone holds %d records after the message ended, want none", k)
			}
		})
	}
}

// TestDirectLeftBounce: qmail-send stopped after a direct message's
// failure was written to bounce/N and before the bounce went out.
// Unmarked (stopped before the mark), the next qmail-send tries the
// recipient afresh and the failure is not listed twice in the bounce;
// marked, it sends the bounce as it is and delivers nothing.
func TestDirectLeftBounce(t *testing.T) {
	for _, marked := range []bool{false, true} {
		t.Run(map[bool]string{false: "unmarked", true: "marked"}[marked], func(t *testing.T) {
			var n uint64
			h := startWith(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) {
				return 'D', "no mailbox.\n"
			}, nil, func(h *harness) {
				n = h.inject("joe@example.org", "nobody@example.com")
				if err := os.WriteFile(h.q.Bounce(n), []byte("<nobody@example.com>:\nno mailbox.\n\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if !marked {
					return
				}
				id, ok := currentIdent(h.q, n)
				if !ok {
					t.Fatal("no identity for the new message")
				}
				h.writeMark(n, id)
			})
			h.untilEnded(n)
			h.stop()
			if k, want := h.local.delivered("nobody@example.com"), map[bool]int{false: 1, true: 0}[marked]; k != want {
				t.Errorf("delivered %d times, want %d", k, want)
			}
			h.oneBounceListing("nobody@example.com")
			gone(t, h, n)
		})
	}
}

// TestDirectStaleMarkIgnored: a record whose files are not the message's
// (its number came back for a new message: another todo inode, other
// times) does not keep that message from being delivered, and is
// cleared.
func TestDirectStaleMarkIgnored(t *testing.T) {
	for _, change := range []string{"todo inode", "todo time", "mess time", "no todo"} {
		t.Run(change, func(t *testing.T) {
			var n uint64
			h := startWith(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) {
				return 'K', "did 1+0+0\n"
			}, nil, func(h *harness) {
				n = h.inject("a@b", "bob@example.com")
				id, ok := currentIdent(h.q, n)
				if !ok {
					t.Fatal("no identity for the new message")
				}
				switch change {
				case "todo inode":
					id.todoIno++
				case "todo time":
					id.todoMtime++
				case "mess time":
					id.messMtime--
				case "no todo":
					h.writeMark(n+1, id) // a number with no message
				}
				if change != "no todo" {
					h.writeMark(n, id)
				}
			})
			h.untilEnded(n)
			h.stop()
			if k := h.local.delivered("bob@example.com"); k != 1 {
				t.Errorf("delivered %d times, want once", k)
			}
			if k := h.marksInUse(); k != 0 {
				t.Errorf("lock/directdone holds %d records, want the stale one gone", k)
			}
			gone(t, h, n)
		})
	}
}

// TestDoneMarksSlots: marks take free slots first, a cleared slot is
// reused, and a table opened again keeps only marks whose files match.
func TestDoneMarksSlots(t *testing.T) {
	h := startWith(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) {
		return 'Z', "busy\n"
	}, nil, nil)
	h.stop()
	d, err := openDoneMarks(h.q)
	if err != nil {
		t.Fatal(err)
	}
	for n := uint64(1); n <= 3; n++ {
		if err := d.mark(n, doneIdent{n, 1, 2}); err != nil {
			t.Fatal(err)
		}
	}
	// Marked again with other files (a stale record kept by mistake),
	// the record takes the new identity.
	if err := d.mark(3, doneIdent{33, 4, 5}); err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, markSize)
	if _, err := d.f.ReadAt(rec, 2*markSize); err != nil || rec[8] != 33 || rec[16] != 4 || rec[24] != 5 {
		t.Errorf("slot 2 after marking 3 again: %v %v", rec, err)
	}
	d.clear(2)
	if err := d.mark(9, doneIdent{9, 1, 2}); err != nil {
		t.Fatal(err)
	}
	if d.slots[9] != 1 || d.size != markSlots {
		t.Errorf("mark after a clear: slot %d of %d, want slot 1 of %d", d.slots[9], d.size, markSlots)
	}
	// Past the first page the table grows, and shrinks back when the
	// next qmail-send finds nothing to keep.
	for n := uint64(100); n < 100+markSlots; n++ {
		if err := d.mark(n, doneIdent{n, 1, 2}); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(h.marksFile()); err != nil || fi.Size() != (markSlots+3)*markSize {
		t.Errorf("lock/directdone after %d marks: %v %v", markSlots+3, fi, err)
	}
	d.close()
	// None of these numbers has files: all stale, the table is emptied.
	d, err = openDoneMarks(h.q)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	if len(d.found) != 0 || d.size != markSlots || len(d.free) != markSlots {
		t.Errorf("reopened: found %v, %d slots, %d free; want none found, %d free", d.found, d.size, len(d.free), markSlots)
	}
	if data, err := os.ReadFile(h.marksFile()); err != nil || len(data) != markSlots*markSize || h.marksInUse() != 0 {
		t.Errorf("lock/directdone: %d bytes (%v), %d records in use; want one page of zeros", len(data), err, h.marksInUse())
	}
}
