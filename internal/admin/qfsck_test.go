package admin

import (
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/queuefs"
)

// fsckWant is what one fixture should give.
type fsckWant struct {
	report  []string // lines without -f; exit 1 if any, else 0
	fixed   []string // lines with -f
	fixCode int      // exit of -f (0 means: 1 if fixed has lines)
	again   []string // lines of a check after -f (report-only leftovers)
	after   func(t *testing.T)
}

const env1 = "u5\x00p4242\x00Fjoe@example.org\x00Tbob@example.com\x00"

func TestQfsck(t *testing.T) {
	tests := []struct {
		name  string
		setup func(x *fx) fsckWant
	}{
		{"clean queue from qmail-queue", func(x *fx) fsckWant {
			x.inject("joe@example.org", "bob@example.com")
			x.inject("", "a@example.com", "b@elsewhere.test", "c@example.com")
			x.inject("x@y")
			return fsckWant{}
		}},
		{"clean preprocessed messages", func(x *fx) fsckWant {
			n := x.mess("Received: x\n\nbody\n")
			x.write("info/"+queuefs.Sub(n), "Fjoe@example.org\x00")
			x.write("local/"+queuefs.Sub(n), "Dbob@example.com\x00Tann@example.com\x00")
			x.write("remote/"+queuefs.Sub(n), "Tfar@example.net\x00")
			x.write(fmt.Sprintf("bounce/%d", n), "<x@example.com>:\nno\n\n")
			m := x.mess("Received: y\n\nbody\n")
			x.write("info/"+queuefs.Sub(m), "F\x00")
			x.write("remote/"+queuefs.Sub(m), "Dfar@example.net\x00")
			// A queued message that qmail-send was preprocessing when it
			// died: todo/N with stale info and local files.
			k := x.mess("Received: z\n\nbody\n")
			x.queued(k, env1)
			x.write("info/"+queuefs.Sub(k), "Fjoe@exa")
			x.write("local/"+queuefs.Sub(k), "Tbob@exa")
			// Injections in progress (young): a pid file.
			x.write("pid/123.456.1", "")
			return fsckWant{}
		}},
		{"missing split folder", func(x *fx) fsckWant {
			os.Remove(x.path("mess/7"))
			return fsckWant{
				report: []string{"mess/7: missing split folder; -f would create it"},
				fixed:  []string{"mess/7: missing split folder; created"},
				after: func(t *testing.T) {
					checkDir(t, x, "mess/7", 0o750)
				},
			}
		}},
		{"missing folder", func(x *fx) fsckWant {
			os.RemoveAll(x.path("info"))
			os.RemoveAll(x.path("bounce"))
			return fsckWant{
				report: []string{"bounce: missing; -f would create it", "info: missing; -f would create it and its 23 split folders"},
				fixed:  []string{"bounce: missing; created", "info: missing; created"},
				after: func(t *testing.T) {
					checkDir(t, x, "bounce", 0o700)
					checkDir(t, x, "info", 0o700)
					checkDir(t, x, "info/22", 0o700)
				},
			}
		}},
		{"not a folder", func(x *fx) fsckWant {
			os.Remove(x.path("remote/3"))
			x.write("remote/3", "junk")
			return fsckWant{
				report:  []string{"remote/3: not a folder; -f cannot repair this: move it away by hand"},
				fixed:   []string{"remote/3: not a folder; -f cannot repair this: move it away by hand"},
				fixCode: 111,
				again:   []string{"remote/3: not a folder; -f cannot repair this: move it away by hand"},
			}
		}},
		{"lock files", func(x *fx) fsckWant {
			os.Remove(x.path("lock/trigger"))
			x.write("lock/trigger", "")
			os.Remove(x.path("lock/sendmutex"))
			x.write("lock/tcpto", "short")
			return fsckWant{
				report: []string{
					"lock/sendmutex: missing: qmail-send cannot start; -f would create it",
					"lock/trigger: not a named pipe: new mail waits for qmail-send's rescan of todo every 25 minutes; -f would replace it with a named pipe",
					"lock/tcpto: 5 bytes, not 1024; -f would reset it to 1024 zero bytes (forgetting unreachable hosts)",
				},
				fixed: []string{
					"lock/sendmutex: missing: qmail-send cannot start; created",
					"lock/trigger: not a named pipe: new mail waits for qmail-send's rescan of todo every 25 minutes; replaced by a named pipe",
					"lock/tcpto: 5 bytes, not 1024; reset to 1024 zero bytes",
				},
				after: func(t *testing.T) {
					fi, err := os.Lstat(x.path("lock/trigger"))
					if err != nil || fi.Mode()&fs.ModeNamedPipe == 0 || fi.Mode().Perm() != 0o622 {
						t.Errorf("trigger %v %v", fi, err)
					}
					checkOwner(t, x, "lock/trigger")
					if fi, err := os.Stat(x.path("lock/tcpto")); err != nil || fi.Size() != 1024 {
						t.Errorf("tcpto %v %v", fi, err)
					}
					if fi, err := os.Stat(x.path("lock/sendmutex")); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 0 {
						t.Errorf("sendmutex %v %v", fi, err)
					}
					checkOwner(t, x, "lock/sendmutex")
				},
			}
		}},
		{"missing trigger, directdone and tcpto", func(x *fx) fsckWant {
			os.Remove(x.path("lock/trigger"))
			os.Remove(x.path("lock/directdone"))
			os.Remove(x.path("lock/tcpto"))
			return fsckWant{
				report: []string{
					"lock/trigger: missing: qmail-send cannot start; -f would create it",
					"lock/directdone: missing: qmail-send delivers no message straight from todo (slower); -f would create it",
					"lock/tcpto: missing: qmail-remote cannot remember unreachable hosts; -f would create it",
				},
				fixed: []string{
					"lock/trigger: missing: qmail-send cannot start; created",
					"lock/directdone: missing: qmail-send delivers no message straight from todo (slower); created",
					"lock/tcpto: missing: qmail-remote cannot remember unreachable hosts; created",
				},
				after: func(t *testing.T) {
					if fi, err := os.Stat(x.path("lock/directdone")); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != queuefs.DoneMarksSize {
						t.Errorf("directdone %v %v", fi, err)
					}
					checkOwner(t, x, "lock/directdone")
				},
			}
		}},
		{"names that are not message numbers", func(x *fx) fsckWant {
			x.write("todo/abc", "x")
			x.write("mess/3/0028", "x")
			os.Mkdir(x.path("intd/77"), 0o700)
			return fsckWant{
				report: []string{
					"mess/3/0028: not a message number: qmail-send ignores it; -f would move it to quarantine/",
					"todo/abc: not a message number: qmail-send ignores it; -f would move it to quarantine/",
					"intd/77: not a regular file; -f would move it to quarantine/",
				},
				fixed: []string{
					"mess/3/0028: not a message number: qmail-send ignores it; moved to quarantine/mess/3/0028",
					"todo/abc: not a message number: qmail-send ignores it; moved to quarantine/todo/abc",
					"intd/77: not a regular file; moved to quarantine/intd/77",
				},
				after: func(t *testing.T) {
					checkDir(t, x, "quarantine", 0o700)
					checkDir(t, x, "quarantine/mess/3", 0o700)
					for _, p := range []string{"quarantine/todo/abc", "quarantine/mess/3/0028", "quarantine/intd/77"} {
						if !x.exists(p) {
							t.Errorf("%s missing", p)
						}
					}
				},
			}
		}},
		{"wrong split folder", func(x *fx) fsckWant {
			n := x.mess("Received: x\n\nbody\n")
			x.queued(n, env1)
			wrong := fmt.Sprintf("mess/%d/%d", (n+1)%23, n)
			os.Rename(x.q.Mess(n), x.path(wrong))
			return fsckWant{
				report: []string{wrong + ": in the wrong split folder: qmail looks for it in mess/" + queuefs.Sub(n) + "; -f would move it there"},
				fixed:  []string{wrong + ": in the wrong split folder: qmail looks for it in mess/" + queuefs.Sub(n) + "; moved there"},
				after: func(t *testing.T) {
					if !x.exists("mess/"+queuefs.Sub(n)) || x.exists(wrong) {
						t.Error("not moved")
					}
				},
			}
		}},
		{"wrong split folder, right one taken", func(x *fx) fsckWant {
			n := x.mess("Received: x\n\nbody\n")
			x.write("info/"+queuefs.Sub(n), "Fa\x00")
			x.write("local/"+queuefs.Sub(n), "Tb\x00")
			wrong := fmt.Sprintf("info/%d/%d", (n+5)%23, n)
			x.write(wrong, "Fother\x00")
			return fsckWant{
				report: []string{wrong + ": in the wrong split folder, and info/" + queuefs.Sub(n) + " exists; -f would move it to quarantine/"},
				fixed:  []string{wrong + ": in the wrong split folder, and info/" + queuefs.Sub(n) + " exists; moved to quarantine/" + wrong},
			}
		}},
		{"todo without mess", func(x *fx) fsckWant {
			n := x.mess("Received: x\n\nbody\n")
			x.queued(n, env1)
			os.Remove(x.q.Mess(n))
			return fsckWant{
				report: []string{fmt.Sprintf("todo/%d: mess/%s is missing: the message text is lost; -f would move message %d to quarantine/", n, queuefs.Sub(n), n)},
				fixed:  []string{fmt.Sprintf("todo/%d: mess/%s is missing: the message text is lost; moved message %d (todo/%d intd/%d) to quarantine/", n, queuefs.Sub(n), n, n, n)},
				after: func(t *testing.T) {
					if !x.exists(fmt.Sprintf("quarantine/todo/%d", n)) || !x.exists(fmt.Sprintf("quarantine/intd/%d", n)) {
						t.Error("not quarantined")
					}
				},
			}
		}},
		{"info without mess", func(x *fx) fsckWant {
			n := x.mess("Received: x\n\nbody\n")
			x.write("info/"+queuefs.Sub(n), "Fa\x00")
			x.write("remote/"+queuefs.Sub(n), "Tb\x00")
			os.Remove(x.q.Mess(n))
			return fsckWant{
				report: []string{fmt.Sprintf("info/%s: mess/%s is missing: the message text is lost; -f would move message %d to quarantine/", queuefs.Sub(n), queuefs.Sub(n), n)},
				fixed: []string{fmt.Sprintf("info/%s: mess/%s is missing: the message text is lost; moved message %d (info/%s remote/%s) to quarantine/",
					queuefs.Sub(n), queuefs.Sub(n), n, queuefs.Sub(n), queuefs.Sub(n))},
			}
		}},
		{"orphan bounce", func(x *fx) fsckWant {
			x.write("bounce/12345", "text")
			return fsckWant{
				report: []string{"bounce/12345: mess/17/12345 is missing: the message text is lost; -f would move message 12345 to quarantine/"},
				fixed:  []string{"bounce/12345: mess/17/12345 is missing: the message text is lost; moved message 12345 (bounce/12345) to quarantine/"},
			}
		}},
		{"intd not a hard link of todo", func(x *fx) fsckWant {
			n := x.mess("Received: x\n\nbody\n")
			x.queued(n, env1)
			os.Remove(x.q.Intd(n))
			x.write(fmt.Sprintf("intd/%d", n), "u5\x00p1\x00Fother\x00")
			return fsckWant{
				report: []string{fmt.Sprintf("intd/%d: not a hard link of todo/%d (another envelope); -f would move it to quarantine/", n, n)},
				fixed:  []string{fmt.Sprintf("intd/%d: not a hard link of todo/%d (another envelope); moved to quarantine/intd/%d", n, n, n)},
				after: func(t *testing.T) {
					if !x.exists(fmt.Sprintf("todo/%d", n)) || !x.exists("mess/"+queuefs.Sub(n)) {
						t.Error("message touched")
					}
				},
			}
		}},
		{"unparsable todo", func(x *fx) fsckWant {
			n := x.mess("Received: x\n\nbody\n")
			x.queued(n, "u5\x00p1\x00Fa\x00Xb\x00")
			m := x.mess("Received: y\n\nbody\n")
			x.queued(m, "u5\x00p1\x00Fa\x00Tb")
			k := x.mess("Received: z\n\nbody\n")
			x.queued(k, "u5\x00p1\x00")
			return sortedWant(fsckWant{
				report: []string{
					fmt.Sprintf("todo/%d: unparsable (unknown record type): qmail-send retries it forever; -f would move message %d to quarantine/", n, n),
					fmt.Sprintf("todo/%d: unparsable (record without its terminating NUL): qmail-send retries it forever; -f would move message %d to quarantine/", m, m),
					fmt.Sprintf("todo/%d: unparsable (no sender record): qmail-send retries it forever; -f would move message %d to quarantine/", k, k),
				},
				fixed: []string{
					fmt.Sprintf("todo/%d: unparsable (unknown record type): qmail-send retries it forever; moved message %d (mess/%s todo/%d intd/%d) to quarantine/", n, n, queuefs.Sub(n), n, n),
					fmt.Sprintf("todo/%d: unparsable (record without its terminating NUL): qmail-send retries it forever; moved message %d (mess/%s todo/%d intd/%d) to quarantine/", m, m, queuefs.Sub(m), m, m),
					fmt.Sprintf("todo/%d: unparsable (no sender record): qmail-send retries it forever; moved message %d (mess/%s todo/%d intd/%d) to quarantine/", k, k, queuefs.Sub(k), k, k),
				},
				after: func(t *testing.T) {
					// The quarantined text keeps its inode, so no new
					// message can be numbered n.
					fi, err := os.Stat(x.path("quarantine/mess/" + queuefs.Sub(n)))
					if err != nil || fi.Sys().(*syscall.Stat_t).Ino != n {
						t.Errorf("quarantined mess: %v %v", fi, err)
					}
				},
			})
		}},
		{"empty mess", func(x *fx) fsckWant {
			n := x.mess("")
			x.queued(n, env1)
			return fsckWant{
				report: []string{fmt.Sprintf("mess/%s: empty: the message text is lost; -f would move message %d to quarantine/", queuefs.Sub(n), n)},
				fixed:  []string{fmt.Sprintf("mess/%s: empty: the message text is lost; moved message %d (mess/%s todo/%d intd/%d) to quarantine/", queuefs.Sub(n), n, queuefs.Sub(n), n, n)},
			}
		}},
		{"bad info and channel files", func(x *fx) fsckWant {
			a := x.mess("Received: a\n\nbody\n")
			x.write("info/"+queuefs.Sub(a), "Xjoe\x00")
			b := x.mess("Received: b\n\nbody\n")
			x.write("info/"+queuefs.Sub(b), "Fjoe\x00")
			x.write("local/"+queuefs.Sub(b), "Tone\x00Qtwo\x00")
			c := x.mess("Received: c\n\nbody\n")
			x.write("info/"+queuefs.Sub(c), "Fjoe\x00")
			x.write("remote/"+queuefs.Sub(c), "Done\x00Ttw")
			s := queuefs.Sub
			return sortedWant(fsckWant{
				report: []string{
					fmt.Sprintf("info/%s: unparsable (not F, the sender and a NUL): the sender of bounces is unknown; -f would move message %d to quarantine/", s(a), a),
					fmt.Sprintf("local/%s: unparsable (a record that is neither T nor D at byte 5): recipients may be lost or delivered twice; -f would move message %d to quarantine/", s(b), b),
					fmt.Sprintf("remote/%s: truncated (the last record has no NUL): that recipient would never be delivered; -f would move message %d to quarantine/", s(c), c),
				},
				fixed: []string{
					fmt.Sprintf("info/%s: unparsable (not F, the sender and a NUL): the sender of bounces is unknown; moved message %d (mess/%s info/%s) to quarantine/", s(a), a, s(a), s(a)),
					fmt.Sprintf("local/%s: unparsable (a record that is neither T nor D at byte 5): recipients may be lost or delivered twice; moved message %d (mess/%s info/%s local/%s) to quarantine/", s(b), b, s(b), s(b), s(b)),
					fmt.Sprintf("remote/%s: truncated (the last record has no NUL): that recipient would never be delivered; moved message %d (mess/%s info/%s remote/%s) to quarantine/", s(c), c, s(c), s(c), s(c)),
				},
			})
		}},
		{"recipients without info", func(x *fx) fsckWant {
			n := x.mess("Received: x\n\nbody\n")
			x.write("remote/"+queuefs.Sub(n), "Tb\x00")
			x.age(x.q.Mess(n), 50*time.Hour) // the sweep would delete the text
			s := queuefs.Sub(n)
			return fsckWant{
				report: []string{fmt.Sprintf("remote/%s: neither info/%s nor todo/%d: qmail-send never delivers it; -f would move message %d to quarantine/", s, s, n, n)},
				fixed:  []string{fmt.Sprintf("remote/%s: neither info/%s nor todo/%d: qmail-send never delivers it; moved message %d (mess/%s remote/%s) to quarantine/", s, s, n, n, s, s)},
			}
		}},
		{"finished but not cleaned up", func(x *fx) fsckWant {
			n := x.mess("Received: x\n\nbody\n")
			x.write("info/"+queuefs.Sub(n), "Fa\x00")
			line := fmt.Sprintf("info/%s: neither local nor remote file nor todo/%d: delivered but not cleaned up; left for qmail-send, which finishes it when it starts", queuefs.Sub(n), n)
			return fsckWant{report: []string{line}, fixed: []string{line}, again: []string{line}}
		}},
		{"old by the clock but still being written", func(x *fx) fsckWant {
			n := x.mess("Received: x\n\nbody\n")
			x.age(x.q.Mess(n), 40*time.Hour) // the clock jumped forward while qmail-queue wrote
			f, err := os.OpenFile(x.q.Mess(n), os.O_WRONLY, 0)
			if err != nil {
				panic(err)
			}
			if err := queuefs.LockWriting(f); err != nil {
				panic(err)
			}
			line := fmt.Sprintf("mess/%s: neither todo/%d nor info/%s, 40h0m0s old by the clock, but a qmail-queue is still writing it; left alone",
				queuefs.Sub(n), n, queuefs.Sub(n))
			return fsckWant{report: []string{line}, fixed: []string{line}, again: []string{line},
				after: func(t *testing.T) {
					t.Cleanup(func() { f.Close() }) // held through the check after -f too
					if !x.exists("mess/" + queuefs.Sub(n)) {
						t.Error("a message still being written was removed")
					}
				}}
		}},
		{"abandoned injections", func(x *fx) fsckWant {
			young := x.mess("Received: x\n\nbody\n")
			x.age(x.q.Mess(young), 2*time.Hour+3*time.Second)
			old := x.mess("Received: y\n\nbody\n")
			x.write(fmt.Sprintf("intd/%d", old), "u5\x00p1\x00")
			x.age(x.q.Mess(old), 40*time.Hour)
			x.write("pid/1.2.3", "")
			x.age(x.path("pid/1.2.3"), 37*time.Hour)
			x.write("pid/4.5.6", "")
			x.age(x.path("pid/4.5.6"), 35*time.Hour)
			youngLine := fmt.Sprintf("mess/%s: neither todo/%d nor info/%s: an injection abandoned 2h0m3s ago (or still in progress); left for qmail-send, which removes it when it is 36 hours old",
				queuefs.Sub(young), young, queuefs.Sub(young))
			oldLine := fmt.Sprintf("mess/%s: neither todo/%d nor info/%s: an injection abandoned 40h0m0s ago; ", queuefs.Sub(old), old, queuefs.Sub(old))
			w := fsckWant{
				report: []string{"pid/1.2.3: left by a qmail-queue that died 37h0m0s ago; -f would remove it, as qmail-clean does after 36 hours"},
				fixed:  []string{"pid/1.2.3: left by a qmail-queue that died 37h0m0s ago; removed"},
				again:  []string{youngLine},
				after: func(t *testing.T) {
					if x.exists("mess/"+queuefs.Sub(old)) || x.exists(fmt.Sprintf("intd/%d", old)) || x.exists("pid/1.2.3") {
						t.Error("old debris left")
					}
					if !x.exists("mess/"+queuefs.Sub(young)) || !x.exists("pid/4.5.6") {
						t.Error("young injection removed")
					}
				},
			}
			msgs := sortedWant(fsckWant{
				report: []string{youngLine, oldLine + "-f would remove it, as qmail-send does after 36 hours"},
				fixed:  []string{youngLine, oldLine + "removed"},
			})
			w.report = append(w.report, msgs.report...)
			w.fixed = append(w.fixed, msgs.fixed...)
			return w
		}},
		{"quarantine name taken", func(x *fx) fsckWant {
			x.write("todo/abc", "x")
			os.MkdirAll(x.path("quarantine/todo"), 0o700)
			x.write("quarantine/todo/abc", "earlier")
			return fsckWant{
				report: []string{"todo/abc: not a message number: qmail-send ignores it; -f would move it to quarantine/"},
				fixed:  []string{"todo/abc: not a message number: qmail-send ignores it; moved to quarantine/todo/abc.1"},
			}
		}},
		{"mess inode is not its number", func(x *fx) fsckWant {
			n := x.mess("Received: x\n\nbody\n")
			m := n + 23*1000 // same split folder, another number
			os.Rename(x.q.Mess(n), x.q.Mess(m))
			x.queued(m, env1)
			line := fmt.Sprintf("mess/%s: inode %d is not the message number (a queue copied file by file?): a new message given inode %d would fail; -f cannot repair this: deliver the queue with the old qmail or renumber it by hand",
				queuefs.Sub(m), n, m)
			return fsckWant{report: []string{line}, fixed: []string{line}, fixCode: 111, again: []string{line}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := newFx(t)
			w := tc.setup(x)
			before := x.snapshot()
			out, errs, code := x.run()
			wantCode := 0
			if len(w.report) > 0 {
				wantCode = 1
			}
			if out != lines(w.report) || errs != "" || code != wantCode {
				t.Fatalf("check: exit %d, stderr %q, stdout\n%s\nwant exit %d, stdout\n%s", code, errs, out, wantCode, lines(w.report))
			}
			if after := x.snapshot(); after != before {
				t.Fatalf("a check without -f changed the queue:\n%s\n---\n%s", before, after)
			}
			out, errs, code = x.run("-f")
			wantCode = w.fixCode
			if wantCode == 0 && len(w.fixed) > 0 {
				wantCode = 1
			}
			if out != lines(w.fixed) || errs != "" || code != wantCode {
				t.Fatalf("-f: exit %d, stderr %q, stdout\n%s\nwant exit %d, stdout\n%s", code, errs, out, wantCode, lines(w.fixed))
			}
			if w.after != nil {
				w.after(t)
			}
			out, errs, code = x.run()
			wantCode = 0
			if len(w.again) > 0 {
				wantCode = 1
			}
			if out != lines(w.again) || errs != "" || code != wantCode {
				t.Fatalf("check after -f: exit %d, stderr %q, stdout\n%s\nwant exit %d, stdout\n%s", code, errs, out, wantCode, lines(w.again))
			}
		})
	}
}

// sortedWant orders per-message lines by message number (the last
// element of each line's path), as qmail-qfsck reports them: fixture
// messages are numbered by inodes, in no known order.
func sortedWant(w fsckWant) fsckWant {
	num := func(s string) uint64 {
		var n uint64
		p := strings.Index(s, ": ")
		path := s[:p]
		i := strings.LastIndexByte(path, '/')
		fmt.Sscan(path[i+1:], &n)
		return n
	}
	sortBy := func(l []string) {
		for i := 1; i < len(l); i++ {
			for j := i; j > 0 && num(l[j]) < num(l[j-1]); j-- {
				l[j], l[j-1] = l[j-1], l[j]
			}
		}
	}
	sortBy(w.report)
	sortBy(w.fixed)
	return w
}

func checkDir(t *testing.T, x *fx, rel string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(x.path(rel))
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != mode {
		t.Errorf("%s: %v %v, want a folder mode %o", rel, fi, err, mode)
		return
	}
	checkOwner(t, x, rel)
}

func checkOwner(t *testing.T, x *fx, rel string) {
	t.Helper()
	fi, err := os.Lstat(x.path(rel))
	if err != nil {
		t.Errorf("%s: %v", rel, err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Uid) != x.uid || int(st.Gid) != x.gid {
		t.Errorf("%s owned by %d:%d, want %d:%d", rel, st.Uid, st.Gid, x.uid, x.gid)
	}
}
