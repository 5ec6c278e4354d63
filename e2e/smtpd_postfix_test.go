package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"goqmail/internal/testutil"
)

// postfixMaster is the master.cf of the private Postfix instance: no
// inet service at all (it listens on nothing), only what injecting a
// message and relaying it by SMTP needs.
const postfixMaster = `pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
`

// TestPostfixRelaysToUs: Postfix's smtp client, in a private instance
// (its own config, queue and log under a temporary directory, no
// listener, so the machine's own Postfix and anything on port 2525 are
// untouched), relays a message to our qmail-smtpd, which delivers it.
func TestPostfixRelaysToUs(t *testing.T) {
	if _, err := exec.LookPath("postfix"); err != nil {
		t.Skip("postfix not installed (Debian package postfix)")
	}
	if os.Getuid() != 0 {
		t.Skip("a private Postfix instance needs root to start")
	}
	bin := binary(t)
	home := tempHome(t)
	acct := testutil.Unprivileged(t)
	run(t, "", bin, "install", "--home", home, "--user-mode", "--config-localhost", "--user", acct.Name)
	s := start(t, home, acct.UID, acct.GID)

	pf := filepath.Join(filepath.Dir(home), "postfix")
	etc := filepath.Join(pf, "etc")
	for _, d := range []string{etc, filepath.Join(pf, "spool"), filepath.Join(pf, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	puid, pgid := lookupID(t, "postfix")
	if err := os.Chown(filepath.Join(pf, "data"), puid, pgid); err != nil {
		t.Fatal(err)
	}
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/spool
data_directory = %[1]s/data
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = postfix.test.example
mydestination =
relayhost = [127.0.0.1]:%[2]s
smtp_tls_security_level = none
smtp_dns_support_level = disabled
alias_maps =
alias_database =
`, pf, s.port)
	testutil.MustWrite(t, filepath.Join(etc, "main.cf"), mainCF, 0o644)
	testutil.MustWrite(t, filepath.Join(etc, "master.cf"), postfixMaster, 0o644)
	postfix := func(args ...string) (string, error) {
		cmd := exec.Command("postfix", append([]string{"-c", etc}, args...)...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/bin"}
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			return string(out), fmt.Errorf("postfix %s: timed out", strings.Join(args, " "))
		}
		return string(out), err
	}
	if out, err := postfix("start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(pf, "maillog"))
		t.Fatalf("postfix start: %v\n%s\nlog:\n%s", err, out, log)
	}
	t.Cleanup(func() {
		if out, err := postfix("stop"); err != nil {
			t.Errorf("postfix stop: %v\n%s", err, out)
			postfix("abort")
		}
	})

	msg := "From: a@example.org\nTo: relayed@localhost\nSubject: via postfix\n\nrelayed by Postfix\n"
	cmd := exec.Command("/usr/sbin/sendmail", "-C", etc, "-f", "a@example.org", "relayed@localhost")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/bin"}
	cmd.Stdin = strings.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("postfix sendmail: %v\n%s", err, out)
	}
	// pickup is triggered by sendmail; give the whole relay 30 s.
	msgs := waitMaildir(t, filepath.Join(home, "alias", "Maildir"), 1)
	got := msgs[0]
	for _, want := range []string{"Subject: via postfix", "relayed by Postfix", "(HELO postfix.test.example)", "Return-Path: <a@example.org>"} {
		if !strings.Contains(got, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, got)
		}
	}
	if t.Failed() {
		log, _ := os.ReadFile(filepath.Join(pf, "maillog"))
		t.Logf("postfix log:\n%s", log)
	}
}
