package e2e

import (
	"bufio"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"goqmail/internal/testutil"
)

// startLimited runs a second tcpserver on the install at home with the
// extra options (e.g. "-c", "20") and returns its port.
func startLimited(t *testing.T, home string, uid, gid int, opts ...string) string {
	t.Helper()
	rules := filepath.Join(home, "control", "tcp.smtp.cdb")
	_, port := startTCPServer(t, home, uid, gid, append([]string{"-x", rules}, opts...), filepath.Join(home, "bin", "qmail-smtpd"))
	return port
}

// TestSMTPDFlood: a thousand connections at once against tcpserver -c 20.
// At most 20 sessions are served at a time (the others wait in the
// backlog, or their connect times out: both clean), nothing is queued,
// and once the flood goes away an honest client completes a transaction.
func TestSMTPDFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test skipped in -short mode")
	}
	home, uid, gid := userModeInstall(t)
	testutil.MustWrite(t, filepath.Join(home, "control", "timeoutsmtpd"), "10\n", 0o644)
	start(t, home, uid, gid) // qmail-send, for the honest message
	port := startLimited(t, home, uid, gid, "-c", "20", "-b", "1024")

	const flood = 1000
	var (
		mu               sync.Mutex
		conns            []net.Conn
		failed, greeted  atomic.Int32
		wg               sync.WaitGroup
		sem              = make(chan struct{}, 100) // dials in flight
		greetingDeadline = time.Now().Add(20 * time.Second)
	)
	began := time.Now()
	for i := 0; i < flood; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 3*time.Second)
			<-sem
			if err != nil {
				failed.Add(1)
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("%d connections opened in %v, %d failed to connect", len(conns), time.Since(began), failed.Load())
	if time.Now().After(greetingDeadline) {
		t.Fatal("opening the flood took too long")
	}
	// Every open connection tries to read a greeting for one second, all
	// at once: only the -c 20 being served can have one.
	for _, c := range conns {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(time.Second))
			b := make([]byte, 64)
			if n, _ := c.Read(b); n > 0 && strings.HasPrefix(string(b[:n]), "220 ") {
				greeted.Add(1)
			}
		}(c)
	}
	wg.Wait()
	t.Logf("%d flood connections greeted", greeted.Load())
	if g := greeted.Load(); g < 1 || g > 20 {
		t.Errorf("%d flood connections greeted at once, want 1 to 20", g)
	}
	for _, c := range conns {
		c.Close()
	}

	// An honest client is served once the flood is gone (bounded retry:
	// the backlog drains as each waiting session sees EOF).
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 3*time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil && strings.HasPrefix(line, "220 ") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no greeting within 30 s of the flood ending")
		}
		time.Sleep(200 * time.Millisecond)
	}
	c := dial(t, port)
	defer c.conn.Close()
	c.reply()
	c.expect("HELO honest.example", "250 *")
	c.send("a@example.org", "honest@localhost", "Subject: after the flood\n\nhello\n")
	c.expect("QUIT", "221 *")
	msgs := waitMaildir(t, filepath.Join(home, "alias", "Maildir"), 1)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "Subject: after the flood") {
		t.Errorf("delivered %d messages, want only the honest one", len(msgs))
	}
}
