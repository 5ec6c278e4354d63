package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/testutil"
)

// The order of the system calls behind qmail's promises, checked from the
// outside (hardening.md §3.2; G3 in part): the real programs run under
// strace, and a model of what a power cut may lose replays the trace.
// Data written to a file is lost unless an fsync of the file, or a syncfs
// of its file system, began after; a name made in a folder is lost unless
// an fsync of the folder, or a syncfs, began after. Checked:
//   - qmail-queue, one-shot and as tcpserver's long-lived worker: when
//     todo/N is linked (the commit point) the message's data and name and
//     the envelope's data are durable; before it says it is done (its exit
//     0, the worker's answer on its socket) todo/N's name is too. intd/N's
//     name need not be: the envelope's inode is reached through todo/N.
//   - qmail-lspawn's in-process Maildir deliveries: each file's data is
//     durable before its link into new/, and as many new/ names are
//     durable as successes qmail-send has logged.
//   - qmail-send's preprocessing: info/N and local/N (remote/N) durable,
//     data and names, before qmail-clean removes todo/N.

var (
	straceLine = regexp.MustCompile(`^(\d+) +(\w+)\((.*)\) += (-?\d+|\?)(?:<([^>]*)>)?`)
	fdArg      = regexp.MustCompile(`^(-?\d+)<([^>]*)>`)
	quoted     = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
)

// durability is the model: a sequence number per event, and what each
// file and name last needed and last got. Open files are known by the
// path strace prints for their descriptor (-y), which tells apart the
// files of all the traced processes ("#INODE" for an unnamed one); a link
// through /proc/self/fd/N goes by descriptor number, which holds because
// only the one process that writes the queue (qmail-queue, or the worker)
// makes such links.
type durability struct {
	seq      int
	start    int    // when the call being replayed began
	queue    string // the folder watched (the queue, a Maildir); nothing outside it counts
	byKey    map[string]*inode
	isDir    map[string]bool
	fdKey    map[int]string // descriptor → key, for /proc/self/fd/N
	byPath   map[string]*inode
	nameMade map[string]int // path → when its name was made
	dirSync  map[string]int // folder → when its last fsync began
	syncfs   int            // when the last syncfs began
	problems []string
	commits  []string // committed names (todo/N, new/NAME), in order
	onLink   func(d *durability, to string, n *inode)
	onUnlink func(d *durability, path string) // nil: nothing to check
	// concurrent: the commits are not done one after the other (Maildir
	// deliveries at once), so done is checked by counting.
	concurrent bool
	done       int // times the program said it was done
}

type inode struct {
	lastWrite, lastSync int
}

func newDurability(queue string, onLink func(d *durability, to string, n *inode)) *durability {
	return &durability{queue: queue, onLink: onLink, byKey: map[string]*inode{}, isDir: map[string]bool{},
		fdKey: map[int]string{}, byPath: map[string]*inode{}, nameMade: map[string]int{}, dirSync: map[string]int{}}
}

func (d *durability) dataDurable(n *inode) bool {
	return n.lastSync > n.lastWrite || d.syncfs > n.lastWrite
}

func (d *durability) nameDurable(p string) bool {
	made := d.nameMade[p]
	return d.dirSync[filepath.Dir(p)] > made || d.syncfs > made
}

// replay feeds the trace to the model; doneAt says which events are
// the program saying it is done (all names committed so far must then be
// durable).
func (d *durability) replay(t *testing.T, trace string, doneAt func(call, args, ret string) bool) {
	t.Helper()
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A call another thread's interrupted is printed in two halves; it is
	// replayed where it ended, but a sync counts only for what happened
	// before it began (start).
	type half struct {
		text  string
		start int
	}
	pending := map[string]half{} // pid → the first half of an unfinished call
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		d.seq++
		start := d.seq
		if i := strings.Index(l, " <unfinished ...>"); i >= 0 {
			pid, _, _ := strings.Cut(l, " ")
			pending[pid] = half{l[:i], d.seq}
			continue
		}
		if i := strings.Index(l, " resumed>"); i >= 0 {
			pid, _, _ := strings.Cut(l, " ")
			h := pending[pid]
			l, start = h.text+l[i+len(" resumed>"):], h.start
			delete(pending, pid)
		}
		m := straceLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		d.start = start
		d.event(m[2], m[3], m[4], m[5], l)
		if !doneAt(m[2], m[3], m[4]) {
			continue
		}
		d.done++
		if d.concurrent {
			// Which delivery a report is for is not in the trace: as many
			// committed names must be durable as successes were reported.
			durable := 0
			for _, p := range d.commits {
				if d.nameDurable(p) {
					durable++
				}
			}
			if durable < d.done {
				d.problems = append(d.problems, fmt.Sprintf("done (%s) the %dth time with %d of %v durable",
					strings.TrimSpace(l), d.done, durable, d.commits))
			}
			continue
		}
		for _, p := range d.commits {
			if !d.nameDurable(p) {
				d.problems = append(d.problems, fmt.Sprintf("done (%s) while %s is not durable", strings.TrimSpace(l), p))
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

func (d *durability) inQueue(p string) bool { return strings.HasPrefix(p, d.queue+"/") }

func (d *durability) event(call, args, ret, retKey, line string) {
	fdOf := func() (int, string) {
		m := fdArg.FindStringSubmatch(args)
		if m == nil {
			return -1, ""
		}
		fd, _ := strconv.Atoi(m[1])
		return fd, m[2]
	}
	paths := quoted.FindAllStringSubmatch(args, -1)
	switch call {
	case "openat":
		if ret == "-1" || len(paths) == 0 || !d.inQueue(paths[0][1]) {
			return
		}
		p := paths[0][1]
		fd, _ := strconv.Atoi(ret)
		switch {
		case strings.Contains(args, "O_DIRECTORY"):
			d.isDir[retKey] = true
		case strings.Contains(args, "O_TMPFILE"):
			d.byKey[retKey] = &inode{}
		case strings.Contains(args, "O_CREAT"):
			n := &inode{}
			d.byKey[retKey], d.byPath[p], d.nameMade[p] = n, n, d.seq
		default:
			d.byKey[retKey] = d.byPath[p]
		}
		d.fdKey[fd] = retKey
	case "write", "pwrite64", "writev":
		if _, k := fdOf(); d.byKey[k] != nil {
			d.byKey[k].lastWrite = d.seq
		}
	case "fsync", "fdatasync":
		_, k := fdOf()
		if d.isDir[k] {
			d.dirSync[k] = d.start
		} else if n := d.byKey[k]; n != nil {
			n.lastSync = d.start
		}
	case "syncfs":
		if _, p := fdOf(); ret == "0" && (d.inQueue(p+"/") || strings.HasPrefix(d.queue, p+"/")) {
			d.syncfs = d.start
		}
	case "unlink", "unlinkat":
		if ret == "0" && len(paths) > 0 && d.inQueue(paths[0][1]) && d.onUnlink != nil {
			d.onUnlink(d, paths[0][1])
		}
	case "linkat", "link":
		if ret != "0" || len(paths) < 2 {
			return
		}
		from, to := paths[0][1], paths[1][1]
		if !d.inQueue(to) {
			return
		}
		var n *inode
		if fdPath, ok := strings.CutPrefix(from, "/proc/self/fd/"); ok {
			fd, _ := strconv.Atoi(fdPath)
			n = d.byKey[d.fdKey[fd]]
		} else {
			n = d.byPath[from]
		}
		if n == nil {
			d.problems = append(d.problems, "a link from an unknown file: "+line)
			return
		}
		d.byPath[to], d.nameMade[to] = n, d.seq
		d.onLink(d, to, n)
	}
}

// queueCommit is qmail-queue's commit point: todo/N linked when the
// message's data and name and the envelope's data are durable.
func queueCommit(d *durability, to string, n *inode) {
	if filepath.Base(filepath.Dir(to)) != "todo" {
		return
	}
	num := filepath.Base(to)
	var mess string
	for p := range d.byPath {
		if filepath.Base(p) == num && filepath.Base(filepath.Dir(filepath.Dir(p))) == "mess" {
			mess = p
		}
	}
	switch {
	case mess == "":
		d.problems = append(d.problems, "todo/"+num+" linked with no mess file made in this trace")
	case !d.dataDurable(d.byPath[mess]):
		d.problems = append(d.problems, "todo/"+num+" linked before the message's data is durable")
	case !d.nameDurable(mess):
		d.problems = append(d.problems, "todo/"+num+" linked before "+mess+" is a durable name")
	}
	if !d.dataDurable(n) {
		d.problems = append(d.problems, "todo/"+num+" linked before the envelope's data is durable")
	}
	d.commits = append(d.commits, to)
}

// maildirCommit is a Maildir delivery's: the file linked into new/ once
// its data is durable (maildir(5), hardening.md §3.2).
func maildirCommit(d *durability, to string, n *inode) {
	if filepath.Base(filepath.Dir(to)) != "new" {
		return
	}
	if !d.dataDurable(n) {
		d.problems = append(d.problems, to+" linked into new/ before its data is durable")
	}
	d.commits = append(d.commits, to)
}

// preprocessed checks qmail-send's preprocessing when qmail-clean removes
// todo/N: the info file and the local and remote files it wrote for N
// must be durable, data and names, or a power cut loses the message (its
// todo/N gone, its recipients not yet written down). A message delivered
// straight from todo/ has none and is not counted.
func preprocessed(d *durability, path string) {
	if filepath.Base(filepath.Dir(path)) != "todo" {
		return
	}
	num := filepath.Base(path)
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return
	}
	sub := strconv.FormatUint(n%23, 10)
	found := false
	for _, kind := range []string{"info", "local", "remote"} {
		p := filepath.Join(d.queue, kind, sub, num)
		f := d.byPath[p]
		if f == nil {
			continue
		}
		found = true
		if !d.dataDurable(f) {
			d.problems = append(d.problems, "todo/"+num+" removed before the data of "+kind+"/"+sub+"/"+num+" is durable")
		}
		if !d.nameDurable(p) {
			d.problems = append(d.problems, "todo/"+num+" removed before "+kind+"/"+sub+"/"+num+" is a durable name")
		}
	}
	if found {
		d.commits = append(d.commits, path)
	}
}

// TestCommitsDurable replays a one-shot qmail-queue, tcpserver's
// qmail-queue worker (the path of every SMTP message), and the daemons
// delivering into a Maildir and preprocessing, each under strace.
func TestCommitsDurable(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("strace not found")
	}
	home, uid, gid := userModeInstall(t)
	dir := ownedDir(t, uid, gid)
	queue := filepath.Join(home, "queue")
	cred := func(cmd *exec.Cmd) {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if uid >= 0 {
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		}
	}
	straceArgs := func(trace string) []string {
		return []string{"-f", "-y", "-qq", "-o", trace, "-e",
			"trace=openat,write,pwrite64,writev,fsync,fdatasync,syncfs,link,linkat,unlink,unlinkat,exit_group"}
	}

	t.Run("qmail-queue", func(t *testing.T) {
		trace := filepath.Join(dir, "queue.trace")
		envFile := filepath.Join(dir, "env")
		testutil.MustWrite(t, envFile, "Fa@example.org\x00Tsomeone@localhost\x00\x00", 0o644)
		env, err := os.Open(envFile)
		if err != nil {
			t.Fatal(err)
		}
		defer env.Close()
		cmd := exec.Command("strace", append(straceArgs(trace), filepath.Join(home, "bin", "qmail-queue"))...)
		cmd.Stdin = strings.NewReader("Subject: durable\n\nbody\n")
		cmd.Stdout = env // qmail-queue reads the envelope from descriptor 1
		cred(cmd)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("qmail-queue under strace: %v\n%s", err, stderr.String())
		}
		d := newDurability(queue, queueCommit)
		d.replay(t, trace, func(call, args, ret string) bool { return call == "exit_group" && args == "0" })
		t.Logf("%d system calls replayed, commits %v", d.seq, d.commits)
		if len(d.commits) != 1 || len(d.problems) != 0 {
			t.Errorf("commits %v, problems:\n%s", d.commits, strings.Join(d.problems, "\n"))
		}
	})

	t.Run("worker", func(t *testing.T) {
		trace := filepath.Join(dir, "worker.trace")
		rules := filepath.Join(home, "control", "tcp.smtp.cdb")
		run(t, "127.0.0.1:allow\n:deny\n", filepath.Join(home, "bin", "tcprules"), rules, rules+".tmp")
		args := append(straceArgs(trace), filepath.Join(home, "bin", "tcpserver"), "-1", "-R", "-H", "-l", "localhost",
			"-x", rules, "127.0.0.1", "0", filepath.Join(home, "bin", "qmail-smtpd"))
		cmd := exec.Command("strace", args...)
		cmd.Env = []string{"PATH=" + filepath.Join(home, "bin") + ":/usr/bin:/bin"}
		cred(cmd)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			select {
			case <-exited:
				return // reaped: its group's number may belong to someone else by now
			default:
			}
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				t.Error("strace and tcpserver did not stop")
			}
		}
		defer stop()
		portc := make(chan string, 1)
		go func() {
			line, _ := bufio.NewReader(out).ReadString('\n')
			portc <- strings.TrimSpace(line)
		}()
		var port string
		select {
		case port = <-portc:
		case <-time.After(20 * time.Second):
			t.Fatal("tcpserver under strace printed no port in 20 s")
		}
		if port == "" {
			t.Fatal("tcpserver under strace printed no port")
		}
		c := dial(t, port)
		c.reply()
		c.expect("HELO client.example", "250 localhost")
		for i := range 3 {
			c.send("a@example.org", "someone@localhost", fmt.Sprintf("Subject: durable %d\n\nbody\n", i))
		}
		c.cmd("QUIT")
		stop()
		// Done is the worker's answer: the first write on a socket after a
		// commit (qmail-smtpd, in tcpserver, then writes the 250).
		d := newDurability(queue, queueCommit)
		d.replay(t, trace, func(call, args, ret string) bool {
			return (call == "write" || call == "writev") && strings.Contains(args, "<socket:[")
		})
		t.Logf("%d system calls replayed, commits %v", d.seq, d.commits)
		if len(d.commits) != 3 || len(d.problems) != 0 {
			t.Errorf("commits %v, problems:\n%s", d.commits, strings.Join(d.problems, "\n"))
		}
	})

	// daemonsTraced starts qmail-start (logger cat) under strace; stop
	// sends TERM, which ends strace too, and waits.
	daemonsTraced := func(t *testing.T, trace string) (*lockedBuffer, func()) {
		bin := filepath.Join(home, "bin")
		cmd := exec.Command("strace", append(straceArgs(trace), filepath.Join(bin, "qmail-start"), "./Maildir/", "cat")...)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // qmail-start takes the owner's ids itself
		log := &lockedBuffer{}
		cmd.Stdout = log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			select {
			case <-exited:
				return // stopped: its group's number may belong to someone else by now
			default:
			}
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		})
		return log, func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				t.Fatal("qmail-start under strace did not stop on TERM")
			}
		}
	}
	// inject queues n messages made from format (with the number), as
	// the install's owner, by qmail-inject (not traced).
	inject := func(t *testing.T, n int, format string) {
		bin := filepath.Join(home, "bin")
		for i := range n {
			code, out := runAs(t, uid, gid, []string{"PATH=" + bin + ":/usr/bin:/bin"},
				fmt.Sprintf(format, i), filepath.Join(bin, "qmail-inject"))
			if code != 0 {
				t.Fatalf("qmail-inject: %d %s", code, out)
			}
		}
	}

	// qmail-lspawn delivering into a Maildir in-process (syncfs rounds
	// shared by the deliveries at hand): each file is durable before its
	// link into new/, and the link before qmail-send logs the success it
	// was told of.
	t.Run("maildir", func(t *testing.T) {
		trace := filepath.Join(dir, "maildir.trace")
		log, stop := daemonsTraced(t, trace)
		newDir := filepath.Join(home, "alias", "Maildir", "new")
		inject(t, 3, "To: someone@localhost\nSubject: durable %d\n\nbody\n")
		// Until every delivery qmail-send started has been logged, at
		// least the three and all in new/ (messages of the subtests
		// before are delivered too): the TERM below ends strace as well.
		deadline := time.Now().Add(30 * time.Second)
		for {
			l := log.String()
			ents, _ := os.ReadDir(newDir)
			ok := strings.Count(l, ": success: did_")
			if ok >= 3 && ok == len(ents) && ok == strings.Count(l, "starting delivery ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("deliveries not all logged in 30 s (%d in new/):\n%s", len(ents), l)
			}
			time.Sleep(50 * time.Millisecond)
		}
		stop()
		d := newDurability(filepath.Join(home, "alias", "Maildir"), maildirCommit)
		d.concurrent = true
		d.replay(t, trace, func(call, args, ret string) bool {
			// qmail-send's log is its descriptor 0 (the logger, cat,
			// writes the same line again on its own 1).
			return call == "write" && strings.HasPrefix(args, "0<pipe:") && strings.Contains(args, ": success: did_")
		})
		t.Logf("%d system calls replayed, %d successes logged, commits %v", d.seq, d.done, d.commits)
		if d.done < 3 || len(d.commits) != d.done || len(d.problems) != 0 {
			t.Errorf("%d successes, commits %v, problems:\n%s", d.done, d.commits, strings.Join(d.problems, "\n"))
		}
	})

	// qmail-send preprocessing messages with two recipients (one
	// recipient goes straight from todo/): info/N and local/N durable
	// before qmail-clean removes todo/N.
	t.Run("preprocess", func(t *testing.T) {
		trace := filepath.Join(dir, "preprocess.trace")
		log, stop := daemonsTraced(t, trace)
		inject(t, 3, "To: one@localhost, two@localhost\nSubject: two %d\n\nbody\n")
		deadline := time.Now().Add(30 * time.Second)
		for strings.Count(log.String(), "end msg ") < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("3 messages not done in 30 s:\n%s", log.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		stop()
		d := newDurability(queue, func(*durability, string, *inode) {})
		d.onUnlink = preprocessed
		d.replay(t, trace, func(string, string, string) bool { return false })
		t.Logf("%d system calls replayed, preprocessed %v", d.seq, d.commits)
		if len(d.commits) < 3 || len(d.problems) != 0 {
			t.Errorf("preprocessed %v, problems:\n%s", d.commits, strings.Join(d.problems, "\n"))
		}
	})
}
