package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"goqmail/internal/testutil"
)

// This file holds what the recipe, null-client and smtp-sink tests share:
// a user-mode install with chosen control files, a tolerant log reader,
// and a private Postfix instance.

// relayInstall installs goqmail in user mode (owned by an unprivileged
// account when root) and writes the given control files before any
// daemon starts, so qmail-send reads locals as the test wants them.
func relayInstall(t *testing.T, controls map[string]string) (home string, uid, gid int) {
	t.Helper()
	home, uid, gid = userModeInstall(t)
	for name, content := range controls {
		p := filepath.Join(home, "control", name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if uid >= 0 {
			os.Chown(p, uid, gid)
		}
	}
	return home, uid, gid
}

// allowRelay rebuilds the SMTP rules so that 127.0.0.1 relays, as the
// guides' tcp.smtp does for the host itself.
func allowRelay(t *testing.T, home string) {
	t.Helper()
	rules := filepath.Join(home, "control", "tcp.smtp.cdb")
	run(t, "127.0.0.1:allow,RELAYCLIENT=\"\"\n:deny\n", filepath.Join(home, "bin", "tcprules"), rules, rules+".tmp")
}

// logUntil reads qmail-send's log until a line starts with prefix and
// returns it; every line read is kept in s.lines. Unlike expectLog it
// lets other lines pass (bounces, local deliveries), so checks on the
// whole history are made with logCount.
func (s *server) logUntil(prefix string) string {
	s.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-s.log:
			if !ok {
				s.t.Fatalf("log ended waiting for %q; saw %q", prefix, s.lines)
			}
			s.lines = append(s.lines, line)
			if strings.HasPrefix(line, prefix) {
				return line
			}
		case <-deadline:
			s.t.Fatalf("timed out waiting for %q; saw %q", prefix, s.lines)
		}
	}
}

// logCount counts the log lines read so far that start with prefix.
func (s *server) logCount(prefix string) int {
	n := 0
	for _, l := range s.lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// submitSMTP sends one message over SMTP to goqmail and returns the queue's
// message number from the log ("new msg N").
func (s *server) submitSMTP(from, to, body string) string {
	s.t.Helper()
	c := dial(s.t, s.port)
	c.reply()
	c.expect("HELO client.example", "250 *")
	c.send(from, to, body)
	c.expect("QUIT", "221 *")
	return strings.TrimPrefix(s.logUntil("new msg "), "new msg ")
}

// remoteDelivery waits for "starting delivery D: msg N to remote RCPT" and
// returns D.
func (s *server) remoteDelivery(n, rcpt string) string {
	s.t.Helper()
	line := s.logUntil("starting delivery ")
	var d, m, r string
	if _, err := fmt.Sscanf(line, "starting delivery %s msg %s to remote %s", &d, &m, &r); err != nil || m != n || r != rcpt {
		s.t.Fatalf("log %q, want a remote delivery of msg %s to %s", line, n, rcpt)
	}
	return strings.TrimSuffix(d, ":")
}

// loopbackPort returns a loopback port that was free a moment ago.
func loopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// waitListen waits until something accepts connections on port.
func waitListen(t *testing.T, port string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on 127.0.0.1:%s", port)
}

// postfixInstance is a private Postfix: its own main.cf and master.cf in
// a temporary config directory, its own queue and data directories, one
// smtpd on 127.0.0.1:10025, and virtual delivery of every address at
// list.example.test to one Maildir owned by nobody.
type postfixInstance struct {
	dir, conf, maildir string
}

const postfixPort = "10025"

// startPostfix runs the private Postfix relaying everything that is not
// list.example.test to 127.0.0.1:relayPort; it is stopped in t.Cleanup.
// It skips when the test is not root (Postfix's master must be) or when
// Postfix is not installed.
func startPostfix(t *testing.T, relayPort string) *postfixInstance {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("a private Postfix instance needs root")
	}
	if _, err := os.Stat("/usr/sbin/postfix"); err != nil {
		t.Skip("postfix is not installed (apt-get install postfix)")
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+postfixPort, time.Second); err == nil {
		c.Close()
		t.Skipf("127.0.0.1:%s is in use; the recipe needs it for Postfix", postfixPort)
	}
	nobody := testutil.Unprivileged(t)
	dir, err := os.MkdirTemp("", "goqmail-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	p := &postfixInstance{dir: dir, conf: filepath.Join(dir, "conf"), maildir: filepath.Join(dir, "vmail", "list")}
	for _, d := range []string{"conf", "spool", "data", "vmail"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(dir, "data"), postfixUID(t), -1); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(dir, "vmail"), nobody.UID, nobody.GID); err != nil {
		t.Fatal(err)
	}
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/spool
data_directory = %[1]s/data
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = list.example.test
mydomain = list.example.test
myorigin = list.example.test
mydestination =
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:%[2]s
virtual_mailbox_domains = list.example.test
virtual_mailbox_base = %[1]s/vmail
virtual_mailbox_maps = static:list/
virtual_uid_maps = static:%[3]d
virtual_gid_maps = static:%[4]d
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_peername_lookup = no
alias_maps =
alias_database =
biff = no
`, dir, relayPort, nobody.UID, nobody.GID)
	masterCF := "127.0.0.1:" + postfixPort + " inet n - n - - smtpd\n"
	for _, svc := range []string{
		"pickup unix n - n 60 1 pickup", "cleanup unix n - n - 0 cleanup",
		"qmgr unix n - n 300 1 qmgr", "rewrite unix - - n - - trivial-rewrite",
		"bounce unix - - n - 0 bounce", "defer unix - - n - 0 bounce",
		"trace unix - - n - 0 bounce", "verify unix - - n - 1 verify",
		"flush unix n - n 1000? 0 flush", "proxymap unix - - n - - proxymap",
		"smtp unix - - n - - smtp", "relay unix - - n - - smtp",
		"showq unix n - n - - showq", "error unix - - n - - error",
		"retry unix - - n - - error", "discard unix - - n - - discard",
		"local unix - n n - - local", "virtual unix - n n - - virtual",
		"anvil unix - - n - 1 anvil", "scache unix - - n - 1 scache",
		"postlog unix-dgram n - n - 1 postlogd",
	} {
		masterCF += svc + "\n"
	}
	testutil.MustWrite(t, filepath.Join(p.conf, "main.cf"), mainCF, 0o644)
	testutil.MustWrite(t, filepath.Join(p.conf, "master.cf"), masterCF, 0o644)
	t.Cleanup(func() {
		exec.Command("/usr/sbin/postfix", "-c", p.conf, "stop").Run()
		waitMasterGone(filepath.Join(dir, "spool", "pid", "master.pid"))
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
			t.Logf("postfix maillog:\n%s", log)
		}
		os.RemoveAll(dir)
	})
	if out, err := exec.Command("/usr/sbin/postfix", "-c", p.conf, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
		t.Fatalf("postfix -c %s start: %v\n%s\n%s", p.conf, err, out, log)
	}
	waitListen(t, postfixPort)
	return p
}

func postfixUID(t *testing.T) int {
	t.Helper()
	uid, _ := lookupID(t, "postfix")
	return uid
}

// waitMasterGone waits (at most 10 seconds) for the Postfix master whose
// pid file is given to exit, so its folders can be removed.
func waitMasterGone(pidFile string) {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid := strings.TrimSpace(string(data))
	for i := 0; i < 200; i++ {
		if _, err := os.Stat("/proc/" + pid); err != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
