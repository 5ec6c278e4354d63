package e2e

// The crash tests of "once 250 ok, never lost" (hardening.md §3.1 I1–I3,
// §3.3, goal G1): qmail-send, its spawners and qmail-local SIGKILLed at
// random moments under load, and qmail-queue killed in the middle of a
// message.

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/testutil"
)

var (
	crashSeed  = flag.Int64("crash.seed", 0, "TestCrashNoLoss: seed of the message sizes and the kill schedule (0: from the clock)")
	crashN     = flag.Int("crash.n", 0, "TestCrashNoLoss: messages to inject (0: 2000, or 300 with -short)")
	crashKills = flag.Int("crash.kills", 0, "TestCrashNoLoss: least number of SIGKILLs (0: 20, or 8 with -short)")
)

const (
	crashConns     = 6 // concurrent SMTP connections
	crashSender    = "crash-sender@localhost"
	crashRcpt      = "crash@localhost"
	crashLocalConc = 10 // concurrencylocal of the install (qmail's default)
)

// crashMessage is message i: a Message-ID holding its token, a body whose
// lines all name the token, and an end marker, so that a delivered file
// can be checked to be this message, whole.
func crashMessage(token string, lines int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Message-ID: <%s@crash.test>\nSubject: crash %s\n\n", token, token)
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&b, "%s line %04d %s\n", token, i, "abcdefghijklmnopqrstuvwxyz0123456789")
	}
	fmt.Fprintf(&b, "END %s\n", token)
	return b.String()
}

// crashInstall makes a user-mode install (owned by an unprivileged
// account when run as root) and returns it with the account's uid/gid
// (-1 when not root) and a log file for every daemon's output.
func crashInstall(t *testing.T) (home string, uid, gid int, log *os.File) {
	t.Helper()
	bin := binary(t)
	home = tempHome(t)
	args := []string{"install", "--home", home, "--user-mode", "--config-localhost"}
	uid, gid = -1, -1
	if os.Getuid() == 0 {
		acct := testutil.Unprivileged(t)
		args = append(args, "--user", acct.Name)
		uid, gid = acct.UID, acct.GID
	}
	run(t, "", bin, args...)
	log, err := os.OpenFile(filepath.Join(filepath.Dir(home), "crash.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		log.Close()
		if t.Failed() {
			data, _ := os.ReadFile(log.Name())
			if len(data) > 8000 {
				data = data[len(data)-8000:]
			}
			t.Logf("end of the daemons' log:\n%s", data)
		}
	})
	return home, uid, gid, log
}

// TestCrashNoLoss injects messages over SMTP from several connections
// while qmail-send, qmail-lspawn, qmail-rspawn, qmail-clean and
// qmail-local are SIGKILLed at random moments and qmail-start restarted,
// then checks that every message that got "250 ok" is delivered (I1),
// that nothing else is and nothing half (I2), and counts duplicates (I3).
//
// Duplicates are part of qmail's design, not a bug: qmail-send marks a
// recipient done (one byte in local/S/N) only after qmail-lspawn reports
// qmail-local's success. A kill of qmail-send, qmail-lspawn or
// qmail-clean (qmail-send then dies too) loses the reports of the
// deliveries in flight, although their qmail-local processes finish; a
// kill of qmail-local after it linked the file into new/ turns a success
// into "qmail-local crashed." (a deferral). Either way the next attempt
// delivers the recipient again. So each kill may add at most as many
// duplicates as deliveries were in flight: concurrencylocal, 10 here.
func TestCrashNoLoss(t *testing.T) {
	n, minKills := 2000, 20
	if testing.Short() {
		n, minKills = 300, 8
	}
	if *crashN > 0 {
		n = *crashN
	}
	if *crashKills > 0 {
		minKills = *crashKills
	}
	seed := *crashSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -crash.seed=%d), %d messages, at least %d kills", seed, seed, n, minKills)
	rng := rand.New(rand.NewSource(seed))

	home, uid, gid, log := crashInstall(t)
	_, port := startSMTPOnly(t, home, uid, gid, log)
	sup := startSupervisor(t, home, log, 10*minKills+50)

	tokens := make([]string, n)
	sizes := make([]int, n)
	index := map[string]int{}
	for i := range tokens {
		tokens[i] = fmt.Sprintf("crash%05d.%x", i, seed&0xffffff)
		sizes[i] = rng.Intn(200)
		index[tokens[i]] = i
	}
	acked := make([]atomic.Bool, n)

	// The killer, with its own generator so that the schedule does not
	// depend on the injectors' timing more than it must.
	injecting := make(chan struct{})
	killerDone := make(chan struct{})
	var kills []string
	go func() {
		defer close(killerDone)
		kills = killLoop(t, sup, rand.New(rand.NewSource(seed+1)), minKills, injecting)
	}()

	start := time.Now()
	inject(t, port, tokens, sizes, acked)
	close(injecting)
	injectTime := time.Since(start)
	<-killerDone
	t.Logf("injected in %v, last kill %v later; %d kills: %s", injectTime.Round(time.Millisecond),
		(time.Since(start) - injectTime).Round(time.Millisecond), len(kills), summarize(kills))
	if len(kills) < minKills {
		t.Errorf("only %d kills, want at least %d", len(kills), minKills)
	}
	nacked := 0
	for i := range acked {
		if acked[i].Load() {
			nacked++
		}
	}
	if nacked != n {
		// qmail-smtpd and qmail-queue are never killed here, so every
		// message should have been accepted.
		t.Errorf("%d of %d messages got 250 ok", nacked, n)
	}

	// Drain: the last generation runs undisturbed; ALRM makes it retry
	// deferred deliveries now rather than on qmail's schedule.
	maildir := filepath.Join(home, "alias", "Maildir")
	t.Logf("queue when injection ended: %s", queueLeft(home))
	deadline := time.Now().Add(120 * time.Second)
	d := newDelivered(maildir, index, sizes)
	got := d.got
	for {
		sup.signal(syscall.SIGALRM)
		d.scan(t)
		if len(d.bad) > 0 {
			t.Fatalf("bad deliveries (I2):\n%s", strings.Join(d.bad, "\n"))
		}
		left := queueLeft(home)
		missing := 0
		for i, tok := range tokens {
			if acked[i].Load() && got[tok] == 0 {
				missing++
			}
		}
		if left == "" && missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 120 s: %d acknowledged messages not delivered (I1); queue holds %s", missing, left)
		}
		time.Sleep(time.Second)
	}
	t.Logf("drained %v after injection ended", time.Since(start)-injectTime)

	dups, dupMsgs := 0, 0
	for i, tok := range tokens {
		c := got[tok]
		if c > 0 && !acked[i].Load() {
			t.Errorf("%s delivered but never acknowledged (I2)", tok)
		}
		if c > 1 {
			dups += c - 1
			dupMsgs++
		}
	}
	tmpDebris, _ := os.ReadDir(filepath.Join(maildir, "tmp"))
	// Finished messages' files are removed by qmail-clean a moment after
	// their last delivery: count what is left once that has settled (the
	// count unchanged for 2 s, at most 20 s), not the cleanup in flight.
	messDebris := countFiles(filepath.Join(home, "queue", "mess"))
	for settle, same := time.Now().Add(20*time.Second), 0; same < 4 && time.Now().Before(settle); {
		time.Sleep(500 * time.Millisecond)
		n := countFiles(filepath.Join(home, "queue", "mess"))
		if n == messDebris {
			same++
		} else {
			messDebris, same = n, 0
		}
	}
	c := sup.counts()
	t.Logf("%d acknowledged, %d delivered files, %d duplicates (%d messages) after %d kills; "+
		"%d deliveries in flight when their generation died; log: %d successes, %d deferrals (%d qmail-local crashed), "+
		"%d failures, %d bounces; debris: %d Maildir tmp files, %d mess files",
		nacked, nacked+dups, dups, dupMsgs, len(kills), sup.unreported(),
		c["success"], c["deferral"]+c["crashed"], c["crashed"], c["failure"], c["bounce"], len(tmpDebris), messDebris)
	for k, v := range c {
		if strings.HasPrefix(k, "alert: ") || strings.HasPrefix(k, "warning: ") || strings.HasPrefix(k, "qmail-send ended") {
			t.Logf("log: %dx %q", v, k)
		}
	}
	for k, v := range c {
		// I6: a qmail-send that loses a spawner or qmail-clean logs its
		// alert and exits 111; only the test's SIGKILL may end it by a
		// signal.
		if strings.HasPrefix(k, "qmail-send ended: signal: ") && k != "qmail-send ended: signal: killed" {
			t.Errorf("%d times %s", v, k)
		}
	}
	if c["failure"] > 0 || c["bounce"] > 0 {
		t.Errorf("%d failures and %d bounces: a crash must never turn into a bounce", c["failure"], c["bounce"])
	}
	// I3, precisely: each duplicate comes from a delivery whose report
	// was lost with its generation, or from a qmail-local killed after
	// its link into new/ (reported as "qmail-local crashed.").
	lost := sup.unreported()
	if max := lost + c["crashed"]; dups > max {
		t.Errorf("%d duplicates, but only %d deliveries were in flight at the kills and %d qmail-local crashed (I3)",
			dups, lost, c["crashed"])
	}
	if max := len(kills) * crashLocalConc; lost > max {
		t.Errorf("%d deliveries in flight lost at %d kills, more than concurrencylocal %d each", lost, len(kills), crashLocalConc)
	}
}

// inject sends every message over crashConns connections and marks the
// ones acknowledged with 250.
func inject(t *testing.T, port string, tokens []string, sizes []int, acked []atomic.Bool) {
	var wg sync.WaitGroup
	for k := 0; k < crashConns; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			var c *client
			defer func() {
				if c != nil {
					c.close()
				}
			}()
			fails := 0
			for i := k; i < len(tokens); i += crashConns {
				if c == nil {
					var err error
					if c, err = dialClient(port); err != nil {
						t.Errorf("connection %d: %v", k, err)
						return
					}
					if _, err := c.cmd("HELO crash.test", "250 "); err != nil {
						t.Errorf("connection %d: %v", k, err)
						return
					}
				}
				r, err := c.send(crashSender, crashRcpt, crashMessage(tokens[i], sizes[i]))
				switch {
				case err == nil && strings.HasPrefix(r, "250 ok "):
					acked[i].Store(true)
				case err == nil:
					t.Logf("%s: %q", tokens[i], r)
				default:
					t.Logf("%s: %v; reconnecting", tokens[i], err)
					c.conn.Close()
					c = nil
					if fails++; fails > 5 {
						t.Errorf("connection %d: giving up after %d errors", k, fails)
						return
					}
				}
			}
		}(k)
	}
	wg.Wait()
}

// killLoop SIGKILLs a random process of the running generation 20–300 ms
// after the last kill (or restart) until injection ended and at least min kills were made, and
// returns what it killed. Targets: qmail-send itself (the supervisor
// restarts qmail-start), qmail-lspawn, qmail-clean or qmail-rspawn
// (qmail-send then dies of the lost pipe), a qmail-local in flight
// (a deferral), or the whole generation at once.
func killLoop(t *testing.T, sup *supervisor, rng *rand.Rand, min int, injecting chan struct{}) []string {
	var kills []string
	done := false
	// A bound on the loop that grows with the kills asked for (a soak's
	// -crash.kills=300 needs more than the 150 s that CI's 20 do: a kill
	// of idle daemons and their restart take about 1.5 s).
	hardStop := time.Now().Add(max(150*time.Second, time.Duration(min)*2500*time.Millisecond))
	for (!done || len(kills) < min) && time.Now().Before(hardStop) {
		select {
		case <-injecting:
			done = true
		case <-time.After(time.Duration(20+rng.Intn(280)) * time.Millisecond):
		}
		if done && len(kills) >= min {
			break
		}
		g := sup.waitRunning(0, 40*time.Second)
		if g == nil {
			t.Errorf("no qmail-send running to kill")
			break
		}
		// Every other kill waits (a little) for deliveries in flight,
		// the window of qmail's duplicates; the others fall anywhere,
		// often while qmail-send preprocesses todo/.
		if rng.Intn(2) == 0 {
			for wait := 0; wait < 300 && sup.inFlight(g.n) == 0 && g.running(); wait++ {
				time.Sleep(10 * time.Millisecond)
			}
		}
		target := []string{"qmail-send", "qmail-send", "qmail-local", "qmail-local", "qmail-local",
			"qmail-lspawn", "qmail-clean", "qmail-rspawn", "all"}[rng.Intn(9)]
		var victims []proc
		// qmail-local lives for milliseconds: look for one for a while.
		for try := 0; try < 100 && len(victims) == 0; try++ {
			if try > 0 {
				time.Sleep(3 * time.Millisecond)
			}
			for _, p := range groupProcs(g.pgid) {
				if target == "all" || p.comm == target {
					victims = append(victims, p)
				}
			}
			if target != "qmail-local" {
				break
			}
		}
		if target == "qmail-send" || len(victims) == 0 {
			target = "qmail-send"
			victims = nil
		} else if target != "all" {
			victims = []proc{victims[rng.Intn(len(victims))]}
		}
		hit := false
		for _, p := range victims {
			if p.pid != g.pgid && syscall.Kill(p.pid, syscall.SIGKILL) == nil {
				hit = true
			}
		}
		if target == "qmail-send" || target == "all" {
			// qmail-send is the leader (qmail-start exec'd it): kill it
			// through the handle that cannot name another process.
			hit = g.cmd.Process.Kill() == nil || hit
		}
		if !hit {
			continue // it ended by itself just before
		}
		kills = append(kills, target)
		sup.note("kill %d: %s of generation %d (%v)", len(kills), target, g.n, victims)
		switch target {
		case "qmail-local", "qmail-clean":
			// qmail-send goes on: qmail-lspawn reports "qmail-local
			// crashed." (a deferral); a lost qmail-clean is noticed at
			// the next request, and then qmail-send dies.
			continue
		}
		// qmail-send is dead, or must notice its lost spawner (the pipe
		// ends) and die. It may be busy preprocessing todo/ first.
		if sup.waitRunning(g.n+1, 60*time.Second) == nil {
			// A liveness problem, not a loss: the invariants below still
			// decide the test. Seen once under CI load and not reproduced
			// with the same seed; say what lingered so it can be found.
			t.Logf("LIVENESS: generation %d not gone 60 s after %s was killed; its processes:", g.n, target)
			for _, p := range groupProcs(g.pgid) {
				wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", p.pid))
				t.Logf("  pid %d ppid %d %s state %c wchan %s", p.pid, p.ppid, p.comm, p.state, wchan)
			}
			g.cmd.Process.Kill()
			for _, p := range groupProcs(g.pgid) {
				syscall.Kill(p.pid, syscall.SIGKILL)
			}
			if sup.waitRunning(g.n+1, 40*time.Second) == nil {
				t.Errorf("generation %d: still not replaced after SIGKILL", g.n)
			}
		}
	}
	return kills
}

// summarize counts kills by target.
func summarize(kills []string) string {
	m := map[string]int{}
	for _, k := range kills {
		m[k]++
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// delivered reads a Maildir's new/ and cur/ and counts deliveries per
// token; bad lists files that are not exactly one of the test's messages,
// whole, as qmail-local writes it. Files are read once: seen remembers
// them (qmail-local never changes a file after its link into new/).
type delivered struct {
	maildir string
	index   map[string]int
	sizes   []int
	seen    map[string]string // file name -> token, "" if bad
	got     map[string]int
	bad     []string
}

func newDelivered(maildir string, index map[string]int, sizes []int) *delivered {
	return &delivered{maildir: maildir, index: index, sizes: sizes, seen: map[string]string{}, got: map[string]int{}}
}

func (d *delivered) scan(t *testing.T) {
	top := "Return-Path: <" + crashSender + ">\nDelivered-To: " + crashRcpt + "\n"
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(d.maildir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if _, ok := d.seen[e.Name()]; ok {
				continue
			}
			data, err := os.ReadFile(filepath.Join(d.maildir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			s := string(data)
			tok := ""
			if i := strings.Index(s, "\nMessage-ID: <"); i >= 0 {
				rest := s[i+len("\nMessage-ID: <"):]
				if j := strings.Index(rest, "@crash.test>\n"); j >= 0 {
					tok = rest[:j]
				}
			}
			d.seen[e.Name()] = ""
			i, known := d.index[tok]
			switch {
			case !known:
				d.bad = append(d.bad, fmt.Sprintf("%s: not one of the test's messages: %.200q", e.Name(), s))
			case !strings.HasPrefix(s, top):
				d.bad = append(d.bad, fmt.Sprintf("%s: starts %.200q, want %q", e.Name(), s, top))
			case !strings.HasSuffix(s, "\n"+crashMessage(tok, d.sizes[i])):
				d.bad = append(d.bad, fmt.Sprintf("%s: %s truncated or altered (%d bytes)", e.Name(), tok, len(s)))
			default:
				d.seen[e.Name()] = tok
				d.got[tok]++
			}
		}
	}
}

// queueLeft describes what is still queued ("" when the queue is empty):
// files in todo/, intd/, bounce/ and every info/, local/ and remote/
// split folder. mess/ is not counted: a kill between the removal of
// info/S/N and qmail-clean's removal of mess/S/N leaves a file that only
// the 36-hour sweep removes, as in qmail.
func queueLeft(home string) string {
	q := filepath.Join(home, "queue")
	var parts []string
	for _, d := range []string{"todo", "intd", "bounce", "info", "local", "remote"} {
		if n := countFiles(filepath.Join(q, d)); n > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", d, n))
		}
	}
	return strings.Join(parts, ", ")
}

// countFiles counts the regular files under dir.
func countFiles(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// TestQueueKilledMidWrite kills qmail-queue while a large message streams
// in: the client must get qmail's "451 qq crashed (#4.3.0)", never 250;
// nothing is delivered; the partly written mess file (and an intd file
// and pid file such as a kill at another step leaves) are removed by the
// 36-hour sweeps of qmail-send and qmail-clean once old enough, while a
// young pid file is left alone; and mail still flows afterwards.
func TestQueueKilledMidWrite(t *testing.T) {
	home, uid, gid, log := crashInstall(t)
	tcp, port := startSMTPOnly(t, home, uid, gid, log)
	sup := startSupervisor(t, home, log, 5)
	q := filepath.Join(home, "queue")
	maildir := filepath.Join(home, "alias", "Maildir")

	c, err := dialClient(port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.conn.Close()
	for _, step := range [][2]string{{"HELO crash.test", "250 "}, {"MAIL FROM:<" + crashSender + ">", "250 "},
		{"RCPT TO:<" + crashRcpt + ">", "250 "}, {"DATA", "354 "}} {
		if _, err := c.cmd(step[0], step[1]); err != nil {
			t.Fatal(err)
		}
	}
	// Stream 4 MB; once qmail-queue has written part of it into its mess
	// file, kill it (looked for after 200 kB, so that the write has
	// begun).
	var qq proc
	line := strings.Repeat("y", 98) + "\r\n"
	chunk := strings.Repeat(line, 100) // 10 kB
	const chunks = 400
	killedAt := -1
	var messPath string
	for i := 0; i < chunks; i++ {
		if err := c.write(chunk); err != nil {
			t.Fatalf("writing the message: %v", err)
		}
		if killedAt >= 0 || i < 20 {
			continue
		}
		if qq.pid == 0 {
			qq = findQueue(t, tcp.Process.Pid)
		}
		// 200 kB are on their way: wait (bounded) for qmail-queue to
		// have written some of them, then kill it mid-write.
		for wait := 0; wait < 200 && killedAt < 0; wait++ {
			if p, size := openMess(qq.pid, q); p != "" && size > 0 {
				messPath = p
				if err := syscall.Kill(qq.pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killedAt = i
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if killedAt < 0 {
		t.Fatal("never saw qmail-queue writing its mess file")
	}
	if err := c.write(".\r\n"); err != nil {
		t.Fatal(err)
	}
	r, err := c.reply()
	if err != nil || r != "451 qq crashed (#4.3.0)" {
		t.Fatalf("reply to the dot: %q (%v), want \"451 qq crashed (#4.3.0)\"", r, err)
	}
	t.Logf("killed qmail-queue (pid %d) after %d kB; debris %s", qq.pid, (killedAt+1)*10, strings.TrimPrefix(messPath, q+"/"))

	// The debris: a partial mess file, and nothing qmail-send would act on.
	fi, err := os.Stat(messPath)
	if err != nil {
		t.Fatalf("no partial mess file left: %v", err)
	}
	if fi.Size() >= chunks*int64(len(chunk)) {
		t.Errorf("mess file holds %d bytes: the whole message?", fi.Size())
	}
	num := filepath.Base(messPath)
	for _, p := range []string{filepath.Join(q, "todo", num), filepath.Join(q, "intd", num), filepath.Join(q, "pid")} {
		if p == filepath.Join(q, "pid") {
			if n := countFiles(p); n != 0 {
				t.Errorf("%d files in pid/ after the kill", n)
			}
			continue
		}
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists after qmail-queue was killed mid-write", p)
		}
	}

	// Debris a kill at other steps leaves: intd/N (killed before the
	// link into todo/) and pid files (killed before the link into mess/);
	// one pid file is young and must stay.
	old := time.Now().Add(-37 * time.Hour)
	intd := filepath.Join(q, "intd", num)
	oldPid := filepath.Join(q, "pid", "12345.1000000000.1")
	youngPid := filepath.Join(q, "pid", "12346.1000000000.1")
	for _, p := range []string{intd, oldPid, youngPid} {
		testutil.MustWrite(t, p, "u1\x00p1\x00F"+crashSender+"\x00T"+crashRcpt+"\x00", 0o644)
		if uid >= 0 {
			os.Chown(p, uid, gid)
		}
	}
	for _, p := range []string{messPath, intd, oldPid} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}

	// Nothing was delivered, even with qmail-send told to retry.
	sup.signal(syscall.SIGALRM)
	time.Sleep(500 * time.Millisecond)
	if n := countFiles(filepath.Join(maildir, "new")); n != 0 {
		t.Fatalf("%d messages delivered after the crash (I2)", n)
	}

	// Restart qmail-send: its start-up sweep removes the old mess file
	// (with intd) through qmail-clean, whose start-up sweep removes the
	// old pid file.
	g := sup.current()
	sup.signal(syscall.SIGTERM)
	if sup.waitRunning(g.n+1, 30*time.Second) == nil {
		t.Fatal("qmail-send did not come back")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []string
		for _, p := range []string{messPath, intd, oldPid} {
			if _, err := os.Lstat(p); err == nil {
				left = append(left, strings.TrimPrefix(p, q+"/"))
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("36-hour debris still there 10 s after the restart: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(youngPid); err != nil {
		t.Errorf("the young pid file was removed: %v", err)
	}

	// Mail still flows, on the same connection.
	msg := crashMessage("after.crash", 3)
	if r, err := c.send(crashSender, crashRcpt, msg); err != nil || !strings.HasPrefix(r, "250 ok ") {
		t.Fatalf("next message: %q %v", r, err)
	}
	c.close()
	_, got := waitFile(t, filepath.Join(maildir, "new"))
	if !strings.HasSuffix(got, "\n"+msg) {
		t.Errorf("delivered:\n%s", got)
	}
}

// findQueue finds the qmail-queue that the qmail-smtpd run by tcpserver
// tcpPid started: tcpserver's child when qmail-smtpd runs in-process,
// its grandchild when tcpserver exec'd qmail-smtpd.
func findQueue(t *testing.T, tcpPid int) proc {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for kid, name := range children(tcpPid) {
			queues := map[int]string{kid: name}
			if name == "qmail-smtpd" {
				queues = children(kid)
			}
			for pid, name := range queues {
				if name == "qmail-queue" {
					if p, ok := readProc(pid); ok {
						return p
					}
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no qmail-queue under this test's qmail-smtpd")
	return proc{}
}

// openMess returns the mess file process pid is writing, and its size.
// qmail-queue made it unnamed in a mess/ folder, or as pid/PID.TIME.K
// (the fallback), and named it mess/S/N, N its inode, so /proc shows a
// name that is gone; the inode gives the mess path.
func openMess(pid int, q string) (string, int64) {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		fdPath := fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())
		p, err := os.Readlink(fdPath)
		if err != nil || !(strings.HasPrefix(p, filepath.Join(q, "pid")+"/") || strings.HasPrefix(p, filepath.Join(q, "mess")+"/")) {
			continue
		}
		fi, err := os.Stat(fdPath)
		if err != nil {
			continue
		}
		ino := fi.Sys().(*syscall.Stat_t).Ino
		mess := filepath.Join(q, "mess", fmt.Sprint(ino%23), fmt.Sprint(ino))
		if _, err := os.Lstat(mess); err == nil {
			return mess, fi.Size()
		}
	}
	return "", 0
}
