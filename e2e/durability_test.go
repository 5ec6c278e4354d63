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

var (
	straceLine = regexp.MustCompile(`^(\d+) +(\w+)\((.*)\) += (-?\d+|\?)`)
	fdArg      = regexp.MustCompile(`^(-?\d+)<([^>]*)>`)
	quoted     = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
)

// durability is the model: a sequence number per event, and what each
// file and name last needed and last got. Descriptors are told apart by
// number alone, which holds because one process (qmail-queue, or the
// worker) is the only one with queue files open: other processes' calls
// are recognised by strace's path for the descriptor (-y) and ignored.
type durability struct {
	seq      int
	start    int            // when the call being replayed began
	queue    string         // the folder watched (the queue, a Maildir); nothing outside it counts
	fds      map[int]*inode // by descriptor (one process writes the queue)
	byPath   map[string]*inode
	nameMade map[string]int // path → when its name was made
	dirSync  map[string]int // folder → its last fsync
	syncfs   int            // the last syncfs
	problems []string
	commits  []string // committed names (todo/N, new/NAME), in order
	onLink   func(d *durability, to string, n *inode)
	// concurrent: the commits are not done one after the other (Maildir
	// deliveries at once), so done is checked by counting.
	concurrent bool
	done       int // times the program said it was done
}

type inode struct {
	lastWrite, lastSync int
}

func newDurability(queue string, onLink func(d *durability, to string, n *inode)) *durability {
	return &durability{queue: queue, onLink: onLink, fds: map[int]*inode{}, byPath: map[string]*inode{},
		nameMade: map[string]int{}, dirSync: map[string]int{}}
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
		d.event(m[2], m[3], m[4], l)
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

func (d *durability) event(call, args, ret, line string) {
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
		if ret == "-1" || len(paths) == 0 {
			return
		}
		p := paths[0][1]
		fd, _ := strconv.Atoi(ret)
		if !d.inQueue(p) {
			return // another process's file: only one process writes the queue
		}
		switch {
		case strings.Contains(args, "O_TMPFILE"):
			d.fds[fd] = &inode{}
		case strings.Contains(args, "O_DIRECTORY"):
			d.fds[fd] = nil // a folder
		case strings.Contains(args, "O_CREAT"):
			n := &inode{}
			d.fds[fd], d.byPath[p], d.nameMade[p] = n, n, d.seq
		default:
			d.fds[fd] = d.byPath[p]
		}
	case "close":
		if fd, p := fdOf(); ret == "0" && d.inQueue(p+"/") {
			delete(d.fds, fd)
		}
	case "write", "pwrite64", "writev":
		fd, p := fdOf()
		if n := d.fds[fd]; n != nil && d.inQueue(p) {
			n.lastWrite = d.seq
		}
	case "fsync", "fdatasync":
		fd, p := fdOf()
		if !d.inQueue(p + "/") {
			return
		}
		if n, ok := d.fds[fd]; ok && n != nil {
			n.lastSync = d.start
		} else if ok {
			d.dirSync[p] = d.start
		}
	case "syncfs":
		if _, p := fdOf(); ret == "0" && (d.inQueue(p+"/") || strings.HasPrefix(d.queue, p+"/")) {
			d.syncfs = d.start
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
			n = d.fds[fd]
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

// TestCommitsDurable replays a one-shot qmail-queue, tcpserver's
// qmail-queue worker (the path of every SMTP message) and the daemons
// delivering into a Maildir, each under strace.
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
			"trace=openat,write,pwrite64,writev,fsync,fdatasync,syncfs,link,linkat,close,exit_group"}
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
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				t.Error("strace and tcpserver did not stop")
			}
		}
		defer stop()
		port, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatalf("tcpserver's port: %v", err)
		}
		c := dial(t, strings.TrimSpace(port))
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

	// qmail-lspawn delivering into a Maildir in-process (syncfs rounds
	// shared by the deliveries at hand): each file is durable before its
	// link into new/, and the link before qmail-send logs the success it
	// was told of.
	t.Run("maildir", func(t *testing.T) {
		trace := filepath.Join(dir, "maildir.trace")
		bin := filepath.Join(home, "bin")
		cmd := exec.Command("strace", append(straceArgs(trace), filepath.Join(bin, "qmail-start"), "./Maildir/", "cat")...)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // qmail-start takes the owner's ids itself
		var log strings.Builder
		cmd.Stdout = &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		defer func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}()
		newDir := filepath.Join(home, "alias", "Maildir", "new")
		before, _ := os.ReadDir(newDir)
		for i := range 3 {
			code, out := runAs(t, uid, gid, []string{"PATH=" + bin + ":/usr/bin:/bin"},
				fmt.Sprintf("To: someone@localhost\nSubject: durable %d\n\nbody\n", i), filepath.Join(bin, "qmail-inject"))
			if code != 0 {
				t.Fatalf("qmail-inject: %d %s", code, out)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if ents, _ := os.ReadDir(newDir); len(ents) >= len(before)+3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("3 messages not delivered in 30 s")
			}
			time.Sleep(50 * time.Millisecond)
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			t.Fatal("qmail-start under strace did not stop on TERM")
		}
		d := newDurability(filepath.Join(home, "alias", "Maildir"), maildirCommit)
		d.concurrent = true
		d.replay(t, trace, func(call, args, ret string) bool {
			// qmail-send's log is its descriptor 0 (the logger, cat,
			// writes the same line again on its own 1).
			return call == "write" && strings.HasPrefix(args, "0<pipe:") && strings.Contains(args, ": success: did_")
		})
		t.Logf("%d system calls replayed, %d successes logged, commits %v", d.seq, d.done, d.commits)
		// Stopped by TERM once three are in new/: more may have been
		// delivered, and the last ones not yet logged.
		if d.done < 3 || len(d.commits) < d.done || len(d.problems) != 0 {
			t.Errorf("%d successes, commits %v, problems:\n%s", d.done, d.commits, strings.Join(d.problems, "\n"))
		}
	})
}
