package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSMTPInProcessSameAsExec: tcpserver runs goqmail's qmail-smtpd as a
// goroutine (no process per connection), queueing through a long-lived
// qmail-queue worker, unless GOQMAIL_FORCE_EXEC=1 makes it exec one
// qmail-smtpd per connection and one qmail-queue per message as qmail. The same session,
// good commands and bad, gets the same replies byte for byte both ways,
// and queues the same message.
func TestSMTPInProcessSameAsExec(t *testing.T) {
	digits := regexp.MustCompile(`[0-9]+`)
	transcripts := map[string]string{}
	messages := map[string]string{}
	for _, mode := range []string{"in-process", "exec"} {
		t.Run(mode, func(t *testing.T) {
			home, uid, gid := userModeInstall(t)
			rules := filepath.Join(home, "control", "tcp.smtp.cdb")
			run(t, "127.0.0.1:allow\n:deny\n", filepath.Join(home, "bin", "tcprules"), rules, rules+".tmp")
			var env []string
			if mode == "exec" {
				env = []string{"GOQMAIL_FORCE_EXEC=1"}
			}
			tcp, port := startTCPServerEnv(t, home, uid, gid, env, []string{"-x", rules}, filepath.Join(home, "bin", "qmail-smtpd"))
			c := dial(t, port)
			var tr strings.Builder
			tr.WriteString(c.reply() + "\n")
			kids := children(tcp.Process.Pid)
			for _, line := range []string{
				"EHLO client.example", "MAIL FROM:<a@example.com>", "RCPT TO:<someone@localhost>",
				"RCPT TO:<x@elsewhere.example>", "FOO bar", "VRFY someone", "DATA",
				"Subject: t\r\n\r\n..dot\r\nbody\r\n.", "NOOP", "RSET", "MAIL FROM:<bad", "HELP", "QUIT",
			} {
				tr.WriteString(line + "\n" + c.cmd(line) + "\n")
			}
			transcripts[mode] = digits.ReplaceAllString(tr.String(), "N")
			// In-process, a long-lived qmail-queue --worker queued the
			// message and waits for the next.
			workers := 0
			for pid := range children(tcp.Process.Pid) {
				if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); string(cmdline) == "qmail-queue\x00--worker\x00" {
					workers++
				}
			}
			if (workers == 1) != (mode == "in-process") {
				t.Errorf("%s: %d qmail-queue workers", mode, workers)
			}
			hasSMTPD := false
			for _, name := range kids {
				hasSMTPD = hasSMTPD || strings.Contains(name, "qmail-smtpd")
			}
			if hasSMTPD != (mode == "exec") {
				t.Errorf("%s: tcpserver's children during the session: %v", mode, kids)
			}
			var files []string
			filepath.Walk(filepath.Join(home, "queue", "mess"), func(p string, fi os.FileInfo, err error) error {
				if err == nil && fi.Mode().IsRegular() {
					files = append(files, p)
				}
				return nil
			})
			if len(files) != 1 {
				t.Fatalf("%d messages queued, want 1", len(files))
			}
			b, _ := os.ReadFile(files[0])
			messages[mode] = digits.ReplaceAllString(string(b), "N")
		})
	}
	if transcripts["in-process"] != transcripts["exec"] {
		t.Errorf("transcripts differ:\nin-process:\n%s\nexec:\n%s", transcripts["in-process"], transcripts["exec"])
	}
	if messages["in-process"] != messages["exec"] {
		t.Errorf("messages differ:\nin-process:\n%s\nexec:\n%s", messages["in-process"], messages["exec"])
	}
	if !strings.Contains(transcripts["exec"], "N sorry, that domain isn't in my list of allowed rcpthosts (#N.N.N)") {
		t.Errorf("transcript:\n%s", transcripts["exec"])
	}
}
