package smtpd

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"goqmail/internal/testutil"
)

// fakeCheckpassword accepts alice/secret and bob/hunter2, refuses every
// other pair (exit 1) and fails for the user "tempfail" (exit 111). It
// saves what it read on fd 3 in $CPW_LOG, NULs as '|'.
const fakeCheckpassword = `#!/bin/sh
data=$(tr '\000' '|' <&3)
printf '%s\n' "$data" >> "$CPW_LOG"
case "$data" in
"alice|secret||"|"bob|hunter2||") exec "$@" ;;
tempfail*) exit 111 ;;
esac
exit 1
`

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// withAuth configures AUTH as the smtp-auth patch's command line does:
// qmail-smtpd hostname checkpassword true.
func withAuth(t *testing.T, h *harness) (logPath string) {
	t.Helper()
	dir := filepath.Dir(h.home)
	cpw := filepath.Join(dir, "checkpassword")
	testutil.MustWrite(t, cpw, fakeCheckpassword, 0o755)
	logPath = filepath.Join(dir, "cpw.log")
	h.args = []string{"mail.example.com", cpw, "true"}
	h.setenv("CPW_LOG=" + logPath)
	return logPath
}

const ehloAuth = "250-mail.example.com\n250-PIPELINING\n250-8BITMIME\n250-AUTH LOGIN PLAIN\n250 AUTH=LOGIN PLAIN\n"

func TestAuth(t *testing.T) {
	plainOK := "AUTH PLAIN " + b64("\x00alice\x00secret") + "\n"
	cases := []struct {
		name, env, in, want string
		code                int
		cpw                 string // what checkpassword read, "" = not run
	}{
		{name: "not offered without TLS", env: "FORCETLS=1", in: "EHLO x\nAUTH PLAIN " + b64("\x00alice\x00secret") + "\nQUIT\n",
			want: "250-mail.example.com\n250-PIPELINING\n250 8BITMIME\n538 auth not available without TLS (#5.3.3)\n221 mail.example.com\n"},
		{name: "plain", in: "EHLO x\n" + plainOK + "QUIT\n",
			want: ehloAuth + "235 ok, go ahead (#2.0.0)\n221 mail.example.com\n", cpw: "alice|secret||\n"},
		{name: "plain asked for", in: "AUTH PLAIN\n" + b64("alice\x00alice\x00secret") + "\nQUIT\n",
			want: "334 \n235 ok, go ahead (#2.0.0)\n221 mail.example.com\n", cpw: "alice|secret||\n"},
		{name: "login", in: "AUTH LOGIN\n" + b64("bob") + "\n" + b64("hunter2") + "\nQUIT\n",
			want: "334 VXNlcm5hbWU6\n334 UGFzc3dvcmQ6\n235 ok, go ahead (#2.0.0)\n221 mail.example.com\n", cpw: "bob|hunter2||\n"},
		{name: "login with initial response", in: "auth login " + b64("bob") + "\n" + b64("hunter2") + "\nQUIT\n",
			want: "334 UGFzc3dvcmQ6\n235 ok, go ahead (#2.0.0)\n221 mail.example.com\n", cpw: "bob|hunter2||\n"},
		{name: "bad password", in: "AUTH PLAIN " + b64("\x00alice\x00wrong") + "\nQUIT\n",
			want: "535 authentication failed (#5.7.1)\n221 mail.example.com\n", cpw: "alice|wrong||\n"},
		{name: "unknown user", in: "AUTH PLAIN " + b64("\x00mallory\x00secret") + "\nQUIT\n",
			want: "535 authentication failed (#5.7.1)\n221 mail.example.com\n", cpw: "mallory|secret||\n"},
		{name: "empty password", in: "AUTH PLAIN " + b64("\x00alice\x00") + "\nQUIT\n",
			want: "535 authentication failed (#5.7.1)\n221 mail.example.com\n"},
		{name: "temporary failure", in: "AUTH PLAIN " + b64("\x00tempfail\x00x") + "\nQUIT\n",
			want: "454 temporary authentication failure (#4.3.0)\n221 mail.example.com\n", cpw: "tempfail|x||\n"},
		{name: "authzid for another user", in: "AUTH PLAIN " + b64("root\x00alice\x00secret") + "\nQUIT\n",
			want: "535 authentication failed (#5.7.1)\n221 mail.example.com\n"},
		{name: "extra NUL", in: "AUTH PLAIN " + b64("\x00alice\x00sec\x00ret") + "\nQUIT\n",
			want: "501 malformed auth input (#5.5.4)\n221 mail.example.com\n"},
		{name: "NUL in login password", in: "AUTH LOGIN " + b64("alice") + "\n" + b64("secret\x00x") + "\nQUIT\n",
			want: "334 UGFzc3dvcmQ6\n501 malformed auth input (#5.5.4)\n221 mail.example.com\n"},
		{name: "control byte in user", in: "AUTH PLAIN " + b64("\x00ali\rce\x00secret") + "\nQUIT\n",
			want: "501 malformed auth input (#5.5.4)\n221 mail.example.com\n"},
		{name: "bad base64", in: "AUTH PLAIN !!!\nQUIT\n",
			want: "501 malformed auth input (#5.5.4)\n221 mail.example.com\n"},
		{name: "cancelled", in: "AUTH LOGIN\n*\nQUIT\n",
			want: "334 VXNlcm5hbWU6\n501 auth exchange cancelled (#5.0.0)\n221 mail.example.com\n"},
		{name: "overlong answer", in: "AUTH PLAIN\n" + strings.Repeat("A", 5000) + "\nQUIT\n",
			want: "334 \n501 malformed auth input (#5.5.4)\n221 mail.example.com\n"},
		{name: "eof in exchange", in: "AUTH LOGIN\n", want: "334 VXNlcm5hbWU6\n", code: 1},
		{name: "unknown mechanism", in: "AUTH CRAM-MD5\nQUIT\n",
			want: "504 auth type unimplemented (#5.5.1)\n221 mail.example.com\n"},
		{name: "twice", in: plainOK + plainOK + "QUIT\n",
			want: "235 ok, go ahead (#2.0.0)\n503 you're already authenticated (#5.5.0)\n221 mail.example.com\n", cpw: "alice|secret||\n"},
		{name: "during a transaction", in: "MAIL FROM:<a@b>\n" + plainOK + "QUIT\n",
			want: "250 ok\n503 no auth during mail transaction (#5.5.0)\n221 mail.example.com\n"},
		{name: "too many failures", in: strings.Repeat("AUTH PLAIN "+b64("\x00alice\x00x")+"\n", 6),
			want: strings.Repeat("535 authentication failed (#5.7.1)\n", 4) + "421 too many authentication failures (#4.7.0)\n",
			code: 1, cpw: strings.Repeat("alice|x||\n", 5)},
		{name: "relays after auth", in: plainOK + "MAIL FROM:<alice@example.com>\nRCPT TO:<x@elsewhere.example>\nQUIT\n",
			want: "235 ok, go ahead (#2.0.0)\n250 ok\n250 ok\n221 mail.example.com\n", cpw: "alice|secret||\n"},
		{name: "no relay without auth", in: "MAIL FROM:<alice@example.com>\nRCPT TO:<x@elsewhere.example>\nQUIT\n",
			want: "250 ok\n553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\n221 mail.example.com\n"},
		{name: "no relay after failed auth", in: "AUTH PLAIN " + b64("\x00alice\x00x") + "\nMAIL FROM:<a@b>\nRCPT TO:<x@elsewhere.example>\nQUIT\n",
			want: "535 authentication failed (#5.7.1)\n250 ok\n553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\n221 mail.example.com\n",
			cpw:  "alice|x||\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, baseControls())
			logPath := withAuth(t, h)
			env := tc.env
			if env == "" {
				env = "FORCETLS=0"
			}
			h.setenv(env)
			out, code, stderr := h.run(crlf(tc.in))
			if want := greet + crlf(tc.want); out != want {
				t.Errorf("replies:\n got %q\nwant %q\nstderr %s", out, want, stderr)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			got, _ := os.ReadFile(logPath)
			if string(got) != tc.cpw {
				t.Errorf("checkpassword read %q, want %q", got, tc.cpw)
			}
		})
	}
}

// TestAuthNotConfigured: without checkpassword arguments AUTH is an
// unknown verb, as in qmail 1.03.
func TestAuthNotConfigured(t *testing.T) {
	runTranscripts(t, []transcript{
		{name: "auth", env: []string{"FORCETLS=0"}, in: "AUTH PLAIN " + b64("\x00a\x00b") + "\nQUIT\n",
			want: "502 unimplemented (#5.5.1)\n221 mail.example.com\n"},
	})
}

// TestAuthReceived: the authenticated user shows in the Received line
// and in qmail-queue's TCPREMOTEINFO.
func TestAuthReceived(t *testing.T) {
	h := newHarness(t, baseControls())
	withAuth(t, h)
	h.setenv("FORCETLS=0", "TCPREMOTEIP=192.0.2.9")
	dir := filepath.Dir(h.home)
	wrapper := filepath.Join(dir, "qq-wrapper")
	testutil.MustWrite(t, wrapper, "#!/bin/sh\nprintf '%s' \"$TCPREMOTEINFO\" > \"$FAKEQQ_DIR/info\"\nexec "+
		filepath.Join(dir, "fake-qmail-queue")+"\n", 0o755)
	h.setenv("QMAILQUEUE=" + wrapper)
	out, _, stderr := h.run(crlf("AUTH PLAIN " + b64("\x00alice\x00secret") + "\nMAIL FROM:<alice@example.com>\nRCPT TO:<x@far.example>\nDATA\nhi\n.\nQUIT\n"))
	if !strings.Contains(out, "250 ok 1700000000 qp") {
		t.Fatalf("replies %q, stderr %s", out, stderr)
	}
	msgs := h.messages()
	want := "Received: from unknown (alice@192.0.2.9)\n  by unknown with SMTP; 14 Nov 2023 22:13:20 -0000\nhi\n"
	if len(msgs) != 1 || msgs[0].body != want || msgs[0].rcpts[0] != "x@far.example" {
		t.Errorf("queued %#v", msgs)
	}
	if info, _ := os.ReadFile(filepath.Join(h.qdir, "info")); string(info) != "alice" {
		t.Errorf("TCPREMOTEINFO for qmail-queue %q", info)
	}
}

// TestAuthAfterSTARTTLS: AUTH is offered only once TLS is up, and a
// successful AUTH before STARTTLS (FORCETLS=0) is forgotten by it.
func TestAuthAfterSTARTTLS(t *testing.T) {
	h := newHarness(t, tlsControls(t))
	withAuth(t, h)
	s := h.dialSession(t)
	s.expect("220 mail.example.com ESMTP\n")
	s.send("EHLO x\n")
	s.expect(ehloTLS)
	s.send("AUTH PLAIN " + b64("\x00alice\x00secret") + "\n")
	s.expect("538 auth not available without TLS (#5.3.3)\n")
	s.send("STARTTLS\n")
	s.expect("220 ready to start TLS\n")
	s.startTLS(nil)
	s.send("EHLO x\n")
	s.expect(ehloAuth)
	s.send("AUTH PLAIN " + b64("\x00alice\x00secret") + "\n")
	s.expect("235 ok, go ahead (#2.0.0)\n")
	s.send("MAIL FROM:<alice@example.com>\nRCPT TO:<x@far.example>\nQUIT\n")
	s.expect("250 ok\n")
	s.expect("250 ok\n")
	s.expect("221 mail.example.com\n")
	waitExit(t, s.done)
}
