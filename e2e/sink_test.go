package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/testutil"
)

// smtpSink runs Postfix's smtp-sink on a loopback port with the given
// options, dumping every transaction it takes into its own folder; it is
// stopped in t.Cleanup.
type smtpSink struct {
	port, dumps string
}

func startSMTPSink(t *testing.T, opts ...string) *smtpSink {
	t.Helper()
	path, err := exec.LookPath("smtp-sink")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/smtp-sink"); err2 != nil {
			t.Skip("smtp-sink is not installed (apt-get install postfix)")
		}
		path = "/usr/sbin/smtp-sink"
	}
	dir, err := os.MkdirTemp("", "goqmail-sink-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	args := []string{"-d", filepath.Join(dir, "msg.")}
	if os.Getuid() == 0 {
		acct := testutil.Unprivileged(t)
		os.Chown(dir, acct.UID, acct.GID)
		args = append(args, "-u", acct.Name)
	}
	sink := &smtpSink{port: loopbackPort(t), dumps: dir}
	args = append(append(args, opts...), "127.0.0.1:"+sink.port, "10")
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitListen(t, sink.port)
	return sink
}

// taken is the number of transactions smtp-sink has dumped.
func (s *smtpSink) taken() int {
	ents, _ := os.ReadDir(s.dumps)
	return len(ents)
}

// TestRemoteAgainstSMTPSink runs the whole chain (qmail-smtpd, qmail-send,
// qmail-rspawn, qmail-remote) against smtp-sink made to fail at chosen
// stages, and checks each result as qmail's log line: temporary errors
// and lost connections are deferred, permanent ones bounced, and one
// attempt never hands the message over twice.
func TestRemoteAgainstSMTPSink(t *testing.T) {
	cases := []struct {
		name   string
		opts   []string
		result string // the log line after "delivery D: ", a prefix
		bounce bool
		taken  int // transactions smtp-sink may have recorded, at most
	}{
		{"accepted", nil,
			"success: 127.0.0.1_accepted_message./Remote_host_said:_250_2.0.0_Ok/", false, 1},
		{"421 at greeting", []string{"-Q", "connect"},
			"deferral: Connected_to_127.0.0.1_but_greeting_failed./Remote_host_said:_421_", false, 0},
		{"450 at MAIL", []string{"-r", "mail"},
			"deferral: Connected_to_127.0.0.1_but_sender_was_rejected./Remote_host_said:_450_4.3.0_Error:_command_failed/", false, 0},
		{"550 at MAIL", []string{"-f", "mail", "-B", "550 5.7.1 go away"},
			"failure: Connected_to_127.0.0.1_but_sender_was_rejected./Remote_host_said:_550_5.7.1_go_away/", true, 0},
		{"450 at RCPT", []string{"-r", "rcpt"},
			"deferral: 127.0.0.1_does_not_like_recipient./Remote_host_said:_450_4.3.0_Error:_command_failed/Giving_up_on_127.0.0.1./", false, 0},
		// RFC 5321 §4.5.3.1.10: 552 to RCPT is treated as 452 (deferred).
		{"552 at RCPT", []string{"-f", "rcpt", "-B", "552 5.2.2 mailbox full"},
			"deferral: 127.0.0.1_does_not_like_recipient./Remote_host_said:_552_5.2.2_mailbox_full/Giving_up_on_127.0.0.1./", false, 0},
		{"550 at RCPT", []string{"-f", "rcpt", "-B", "550 5.1.1 no such user"},
			"failure: 127.0.0.1_does_not_like_recipient./Remote_host_said:_550_5.1.1_no_such_user/Giving_up_on_127.0.0.1./", true, 0},
		{"421 at DATA", []string{"-Q", "data"},
			"deferral: 127.0.0.1_failed_on_DATA_command./Remote_host_said:_421_", false, 0},
		{"dropped at DATA", []string{"-q", "data"},
			"deferral: Connected_to_127.0.0.1_but_connection_died._(#4.4.2)/", false, 0},
		{"450 after the dot", []string{"-r", "."},
			"deferral: 127.0.0.1_failed_after_I_sent_the_message./Remote_host_said:_450_4.3.0_Error:_command_failed/", false, 1},
		{"552 after the dot", []string{"-f", ".", "-B", "552 5.3.4 message too big"},
			"failure: 127.0.0.1_failed_after_I_sent_the_message./Remote_host_said:_552_5.3.4_message_too_big/", true, 1},
		{"dropped after the dot", []string{"-q", "."},
			"deferral: Connected_to_127.0.0.1_but_connection_died._Possible_duplicate!_(#4.4.2)/", false, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink := startSMTPSink(t, tc.opts...)
			home, uid, gid := relayInstall(t, map[string]string{
				"smtproutes": "sink.test:127.0.0.1:" + sink.port + "\n",
			})
			s := start(t, home, uid, gid)
			allowRelay(t, home)

			n := s.submitSMTP("me@localhost", "rcpt@sink.test", "Subject: sink\n\nbody\n")
			d := s.remoteDelivery(n, "rcpt@sink.test")
			got := strings.TrimPrefix(s.logUntil("delivery "+d+": "), "delivery "+d+": ")
			if !strings.HasPrefix(got, tc.result) {
				t.Fatalf("result %q, want %q*", got, tc.result)
			}
			if tc.bounce {
				s.logUntil("bounce msg " + n + " qp ")
				s.logUntil("end msg " + n)
				_, b := waitFile(t, filepath.Join(home, "alias", "Maildir", "new"))
				if !strings.Contains(b, "<rcpt@sink.test>:\n") {
					t.Errorf("bounce lacks the recipient:\n%s", b)
				}
			}
			// No second attempt follows at once; a deferred message
			// waits in the queue for its retry.
			time.Sleep(300 * time.Millisecond)
		drain:
			for {
				select {
				case l, ok := <-s.log:
					if !ok {
						break drain
					}
					s.lines = append(s.lines, l)
				default:
					break drain
				}
			}
			if c := s.logCount("starting delivery " + d + ": msg " + n + " to remote "); c != 1 {
				t.Errorf("%d starts of delivery %s; log %q", c, d, s.lines)
			}
			for _, l := range s.lines {
				if strings.Contains(l, " msg "+n+" to remote ") && !strings.HasPrefix(l, "starting delivery "+d+":") {
					t.Errorf("a second remote delivery of msg %s: %q", n, l)
				}
			}
			t.Logf("delivery %s: %s (smtp-sink took %d)", d, got, sink.taken())
			if k := sink.taken(); k > tc.taken {
				t.Errorf("smtp-sink took the message %d times, want at most %d", k, tc.taken)
			}
			if tc.taken == 1 && strings.HasPrefix(tc.result, "success") {
				deadline := time.Now().Add(5 * time.Second)
				for sink.taken() == 0 && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if k := sink.taken(); k != 1 {
					t.Errorf("smtp-sink took the message %d times, want 1", k)
				}
			}
		})
	}
}

// TestRemoteDroppedMidData drops the connection while the body is on the
// wire (after 4 KiB of a 256 KiB message): the delivery is deferred as a
// lost connection, and the one attempt connects once.
func TestRemoteDroppedMidData(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go dropMidData(c)
		}
	}()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	home, uid, gid := relayInstall(t, map[string]string{
		"smtproutes": "drop.test:127.0.0.1:" + port + "\n",
	})
	s := start(t, home, uid, gid)
	allowRelay(t, home)
	body := "Subject: big\n\n" + strings.Repeat(strings.Repeat("x", 63)+"\n", 4096)
	n := s.submitSMTP("me@localhost", "rcpt@drop.test", body)
	d := s.remoteDelivery(n, "rcpt@drop.test")
	got := strings.TrimPrefix(s.logUntil("delivery "+d+": "), "delivery "+d+": ")
	if !strings.HasPrefix(got, "deferral: Connected_to_127.0.0.1_but_connection_died.") {
		t.Fatalf("result %q, want a deferral for a lost connection", got)
	}
	t.Logf("delivery %s: %s", d, got)
	time.Sleep(300 * time.Millisecond)
	if c := conns.Load(); c != 1 {
		t.Errorf("%d connections for one attempt, want 1", c)
	}
}

// dropMidData answers like an MTA up to DATA, reads 4 KiB of the body
// and closes the connection.
func dropMidData(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	c.Write([]byte("220 drop.test ESMTP\r\n"))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch strings.ToUpper(strings.SplitN(strings.TrimSpace(line), " ", 2)[0]) {
		case "DATA":
			c.Write([]byte("354 go ahead\r\n"))
			io.CopyN(io.Discard, r, 4096)
			return
		case "QUIT":
			c.Write([]byte("221 bye\r\n"))
			return
		default:
			c.Write([]byte("250 ok\r\n"))
		}
	}
}
