package e2e

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// relaySink is a minimal SMTP server that records what it receives.
type relaySink struct {
	ln    net.Listener
	mu    sync.Mutex
	msgs  []string // "MAIL|RCPT,RCPT|DATA"
	conns int      // connections accepted
}

func newRelaySink(t *testing.T, rcptReply func(string) string) *relaySink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &relaySink{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			go s.serve(c, rcptReply)
		}
	}()
	return s
}

func (s *relaySink) port() string {
	return s.ln.Addr().(*net.TCPAddr).AddrPort().String()[len("127.0.0.1:"):]
}

func (s *relaySink) serve(c net.Conn, rcptReply func(string) string) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	say := func(l string) { c.Write([]byte(l + "\r\n")) }
	say("220 relaySink.test ESMTP")
	var from string
	var rcpts []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO", "HELO":
			say("250 relaySink.test")
		case "MAIL":
			from, rcpts = line, nil
			say("250 ok")
		case "RCPT":
			reply := rcptReply(line)
			if strings.HasPrefix(reply, "250") {
				rcpts = append(rcpts, line)
			}
			say(reply)
		case "DATA":
			say("354 go")
			var body strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				body.WriteString(l)
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, from+"|"+strings.Join(rcpts, ",")+"|"+body.String())
			s.mu.Unlock()
			say("250 accepted as 12345")
		case "RSET":
			from, rcpts = "", nil
			say("250 flushed")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 no")
		}
	}
}

// TestRemoteDeliveryThroughTheQueue sends mail for a remote domain into
// the queue and watches qmail-send, qmail-rspawn and qmail-remote deliver
// it to a peer chosen by smtproutes, with qmail's log lines; a recipient
// the peer refuses for good bounces to the sender.
func TestRemoteDeliveryThroughTheQueue(t *testing.T) {
	home, uid, gid := userModeInstall(t)
	peer := newRelaySink(t, func(rcpt string) string {
		if strings.Contains(rcpt, "nosuch@") {
			return "550 no such user here"
		}
		return "250 ok"
	})
	routes := filepath.Join(home, "control", "smtproutes")
	if err := os.WriteFile(routes, []byte("remote.test:127.0.0.1:"+peer.port()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		os.Chown(routes, uid, gid)
	}
	s := start(t, home, uid, gid)
	// The client relays: tcprules in start() allows 127.0.0.1; relaying
	// needs RELAYCLIENT, so rebuild the rules with it.
	rules := filepath.Join(home, "control", "tcp.smtp.cdb")
	run(t, "127.0.0.1:allow,RELAYCLIENT=\"\"\n:deny\n", filepath.Join(home, "bin", "tcprules"), rules, rules+".tmp")

	c := dial(t, s.port)
	c.reply()
	c.expect("HELO client.example", "250 localhost")
	c.send("me@localhost", "friend@remote.test", "Subject: out\n\n..leading dot\nbody\n")
	c.expect("QUIT", "221 localhost")
	n := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	s.expectLog("info msg " + n + ": bytes *")
	s.expectLog("starting delivery 1: msg " + n + " to remote friend@remote.test")
	s.expectLog("delivery 1: success: 127.0.0.1_accepted_message./Remote_host_said:_250_accepted_as_12345/")
	s.expectLog("end msg " + n)
	peer.mu.Lock()
	got := append([]string(nil), peer.msgs...)
	peer.mu.Unlock()
	if len(got) != 1 || !strings.HasPrefix(got[0], "MAIL FROM:<me@localhost>|RCPT TO:<friend@remote.test>|") ||
		!strings.Contains(got[0], "\r\n..leading dot\r\nbody\r\n") {
		t.Fatalf("peer got %q", got)
	}

	// Two recipients at one domain: one SMTP transaction, each recipient
	// with its own delivery line.
	c = dial(t, s.port)
	c.reply()
	c.expect("MAIL FROM:<me@localhost>", "250 ok")
	c.expect("RCPT TO:<one@remote.test>", "250 ok")
	c.expect("RCPT TO:<two@REMOTE.test>", "250 ok")
	c.expect("DATA", "354 go ahead")
	c.expect("Subject: two\r\n\r\nbody\r\n.", "250 ok *")
	c.expect("QUIT", "221 localhost")
	k := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	s.expectLog("info msg " + k + ": bytes *")
	s.expectLog("starting delivery 2: msg " + k + " to remote one@remote.test")
	s.expectLog("starting delivery 3: msg " + k + " to remote two@REMOTE.test")
	s.expectLog("delivery 2: success: 127.0.0.1_accepted_message./Remote_host_said:_250_accepted_as_12345/")
	s.expectLog("delivery 3: success: 127.0.0.1_accepted_message./Remote_host_said:_250_accepted_as_12345/")
	s.expectLog("end msg " + k)
	peer.mu.Lock()
	got = append([]string(nil), peer.msgs...)
	peer.mu.Unlock()
	if len(got) != 2 || !strings.HasPrefix(got[1], "MAIL FROM:<me@localhost>|RCPT TO:<one@remote.test>,RCPT TO:<two@REMOTE.test>|") {
		t.Fatalf("peer got %q, want one transaction with both recipients", got)
	}

	// A permanent refusal at RCPT bounces back to the local sender.
	c = dial(t, s.port)
	c.reply()
	c.send("me@localhost", "nosuch@remote.test", "Subject: doomed\n\nbody\n")
	c.expect("QUIT", "221 localhost")
	m := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	s.expectLog("info msg " + m + ": bytes *")
	s.expectLog("starting delivery 4: msg " + m + " to remote nosuch@remote.test")
	s.expectLog("delivery 4: failure: 127.0.0.1_does_not_like_recipient./Remote_host_said:_550_no_such_user_here/Giving_up_on_127.0.0.1./")
	s.expectLog("bounce msg " + m + " qp *")
	s.expectLog("end msg " + m)
	_, bounce := waitFile(t, filepath.Join(home, "alias", "Maildir", "new"))
	if !strings.Contains(bounce, "<nosuch@remote.test>:\n127.0.0.1 does not like recipient.\nRemote host said: 550 no such user here\nGiving up on 127.0.0.1.\n") {
		t.Errorf("bounce:\n%s", bounce)
	}
}
