package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSessionMemoryBounded (hardening.md G7): no input of the §2
// catalogue grows the process that runs the qmail-smtpd sessions past a
// fixed bound. tcpserver runs them in-process, so its peak resident set
// (VmHWM) is what one hostile session can cost the machine. The sessions:
// a 10⁶-byte and a 64 MiB command line (500 line too long), 400000
// recipients (100000 taken, the rest 452, without control/maxrcpt), and a
// message whose one header line is 64 MiB (streamed to qmail-queue, then
// delivered). The bound here is 32 MiB over the start; without the
// default bound on recipients the 400000 RCPTs alone grew it by 38 MiB
// (and a million by 86 MB).
func TestSessionMemoryBounded(t *testing.T) {
	home, uid, gid := userModeInstall(t)
	s := start(t, home, uid, gid)
	pid := s.tcp.Process.Pid
	// One ordinary message first: the process as it serves mail.
	c := dial(t, s.port)
	c.reply()
	c.send("a@example.org", "someone@localhost", "Subject: warm\n\nx\n")
	c.cmd("QUIT")
	base := vmHWM(t, pid)

	session := func() (net.Conn, *bufio.Reader) {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+s.port, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(2 * time.Minute))
		r := bufio.NewReader(conn)
		line(t, r) // greeting
		return conn, r
	}
	write := func(conn net.Conn, b []byte) {
		t.Helper()
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}

	// 1. Overlong command lines.
	for _, n := range []int{1_000_000, 64 << 20} {
		conn, r := session()
		write(conn, []byte("NOOP "))
		write(conn, []byte(strings.Repeat("a", n)))
		write(conn, []byte("\r\n"))
		if got := line(t, r); got != "500 line too long (#5.5.2)" {
			t.Errorf("%d-byte command line: %q", n, got)
		}
		conn.Close()
	}

	// 2. Recipients, pipelined in batches of 1000.
	conn, r := session()
	write(conn, []byte("HELO x\r\nMAIL FROM:<a@example.org>\r\n"))
	line(t, r)
	line(t, r)
	const rcpts = 400_000
	ok, full := 0, 0
	for i := 0; i < rcpts; i += 1000 {
		var b strings.Builder
		for k := i; k < i+1000; k++ {
			fmt.Fprintf(&b, "RCPT TO:<someone%d@localhost>\r\n", k)
		}
		write(conn, []byte(b.String()))
		for range 1000 {
			switch l := line(t, r); l {
			case "250 ok":
				ok++
			case "452 sorry, too many recipients (#4.5.3)":
				full++
			default:
				t.Fatalf("RCPT %d: %q", i, l)
			}
		}
	}
	if ok != 100_000 || full != rcpts-100_000 {
		t.Errorf("%d recipients taken and %d refused with 452; want 100000 and %d", ok, full, rcpts-100_000)
	}
	write(conn, []byte("RSET\r\nQUIT\r\n"))
	line(t, r)
	conn.Close()

	// 3. One 64 MiB header line, streamed.
	conn, r = session()
	write(conn, []byte("HELO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<someone@localhost>\r\nDATA\r\n"))
	for _, want := range []string{"250 localhost", "250 ok", "250 ok", "354 go ahead"} {
		if got := line(t, r); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	write(conn, []byte("X-Long: "))
	chunk := []byte(strings.Repeat("b", 1<<20))
	for range 64 {
		write(conn, chunk)
	}
	write(conn, []byte("\r\n\r\nbody\r\n.\r\n"))
	if got := line(t, r); !strings.HasPrefix(got, "250 ok ") {
		t.Errorf("64 MiB header line: %q", got)
	}
	conn.Close()

	grown := vmHWM(t, pid) - base
	t.Logf("tcpserver's peak resident set: %d KiB at the start, %d KiB more after the hostile sessions", base>>10, grown>>10)
	if grown > 32<<20 {
		t.Errorf("tcpserver grew by %d KiB, more than the 32 MiB bound", grown>>10)
	}
	// The long message was taken whole and delivered.
	dir := filepath.Join(home, "alias", "Maildir", "new")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if ents, _ := os.ReadDir(dir); len(ents) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the message with the long header line was not delivered")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// line reads one reply line without its CRLF.
func line(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	l, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading a reply: %v (%q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// vmHWM is the peak resident set of process pid, in bytes.
func vmHWM(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
