package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRemoteConnectionReuse: three messages, one after the other, to one
// remote domain, through qmail-send and qmail-rspawn. With goqmail's own
// qmail-remote, qmail-rspawn delivers in-process and the second and
// third message reuse the first one's connection; with
// GOQMAIL_FORCE_EXEC=1 it execs qmail-remote per message, as qmail does,
// and each message has its own connection. The log lines are the same
// either way, and each message arrives once.
func TestRemoteConnectionReuse(t *testing.T) {
	logs := map[string][]string{}
	for _, mode := range []string{"in-process", "exec"} {
		t.Run(mode, func(t *testing.T) {
			peer := newRelaySink(t, func(rcpt string) string {
				if strings.Contains(rcpt, "nosuch@") {
					return "550 no such user here"
				}
				return "250 ok"
			})
			home, uid, gid := relayInstall(t, map[string]string{"smtproutes": "remote.test:127.0.0.1:" + peer.port() + "\n"})
			var env []string
			if mode == "exec" {
				env = append(env, "GOQMAIL_FORCE_EXEC=1")
			}
			s := startEnv(t, home, uid, gid, env...)
			allowRelay(t, home)
			var lines []string
			for i, rcpt := range []string{"one@remote.test", "two@remote.test", "nosuch@remote.test"} {
				n := s.submitSMTP("me@localhost", rcpt, fmt.Sprintf("Subject: %d\n\nbody %d\n", i, i))
				d := s.remoteDelivery(n, rcpt)
				line := s.logUntil("delivery " + d + ": ")
				lines = append(lines, line)
				if i < 2 {
					s.logUntil("end msg " + n)
				}
			}
			peer.mu.Lock()
			conns, msgs := peer.conns, len(peer.msgs)
			peer.mu.Unlock()
			if msgs != 2 {
				t.Errorf("peer got %d messages, want 2", msgs)
			}
			want := 1
			if mode == "exec" {
				want = 3
			}
			if conns != want {
				t.Errorf("%d connections, want %d", conns, want)
			}
			logs[mode] = lines
		})
	}
	// The texts of the log lines must be the same both ways.
	num := regexp.MustCompile(`^delivery \d+: `)
	a, b := logs["in-process"], logs["exec"]
	if len(a) != 3 || len(b) != 3 {
		t.Fatalf("log lines: %q, %q", a, b)
	}
	for i := range a {
		if x, y := num.ReplaceAllString(a[i], ""), num.ReplaceAllString(b[i], ""); x != y {
			t.Errorf("message %d: in-process %q, exec %q", i+1, x, y)
		}
	}
	if !strings.HasSuffix(a[2], "failure: 127.0.0.1_does_not_like_recipient./Remote_host_said:_550_no_such_user_here/Giving_up_on_127.0.0.1./") {
		t.Errorf("refused recipient: %q", a[2])
	}
}

// TestRemoteWrapperIsExeced: an administrator's script in place of
// bin/qmail-remote (as DKIM-signing setups install) is run once per
// delivery, as qmail-rspawn always did, and its report is used: goqmail
// delivers in-process only when bin/qmail-remote is its own program.
func TestRemoteWrapperIsExeced(t *testing.T) {
	peer := newRelaySink(t, func(string) string { return "250 ok" })
	home, uid, gid := relayInstall(t, map[string]string{"smtproutes": "remote.test:127.0.0.1:" + peer.port() + "\n"})
	bin := filepath.Join(home, "bin")
	trail := filepath.Join(home, "wrapped.log")
	script := "#!/bin/sh\necho \"$@\" >>" + trail + "\nexec " + filepath.Join(bin, "qmail") + " qmail-remote \"$@\"\n"
	os.Remove(filepath.Join(bin, "qmail-remote"))
	if err := os.WriteFile(filepath.Join(bin, "qmail-remote"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(trail, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		os.Chown(trail, uid, gid)
	}
	s := start(t, home, uid, gid)
	allowRelay(t, home)
	for i, rcpt := range []string{"one@remote.test", "two@remote.test"} {
		n := s.submitSMTP("me@localhost", rcpt, fmt.Sprintf("Subject: %d\n\nbody\n", i))
		d := s.remoteDelivery(n, rcpt)
		if line := s.logUntil("delivery " + d + ": "); !strings.HasSuffix(line, "success: 127.0.0.1_accepted_message./Remote_host_said:_250_accepted_as_12345/") {
			t.Errorf("log: %q", line)
		}
	}
	b, _ := os.ReadFile(trail)
	if got := string(b); got != "remote.test me@localhost one@remote.test\nremote.test me@localhost two@remote.test\n" {
		t.Errorf("the wrapper ran with %q", got)
	}
	peer.mu.Lock()
	defer peer.mu.Unlock()
	if peer.conns != 2 || len(peer.msgs) != 2 {
		t.Errorf("%d connections, %d messages; want 2 and 2", peer.conns, len(peer.msgs))
	}
}
