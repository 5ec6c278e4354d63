package admin

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/testutil"
)

var showctlFixture = map[string]string{
	"me":                "mail.example.com\n",
	"locals":            "localhost\nmail.example.com\n",
	"rcpthosts":         "example.com\n.example.net\n# comment\n",
	"morercpthosts":     "More.example\nmore2.example\n",
	"badmailfrom":       "spam@bad.example\n@worse.example\x1b\n",
	"bouncefrom":        "",
	"concurrencylocal":  "",
	"concurrencyremote": "5000\n",
	"databytes":         "1000000\r\n",
	"percenthack":       "",
	"smtproutes":        ":relay.example.com\nx.example:[192.0.2.1]:2525\n",
	"helohost":          "  spaced.example \n",
	"virtualdomains":    "virt.example:joe-virt\n",
	"rcpthosts~":        "old\n",
	"servercert.pem":    "x",
	"bad\x07name":       "x",
}

const showctlGolden = `qmail home directory: {HOME}.
user-ext delimiter: -.
paternalism (in decimal): 2.
silent concurrency limit: 1000.
subdirectory split: 23.
user ids: {UID}, {UID}, {UID}, {UID}, {UID}, {UID}, {UID}, {UID}.
group ids: {GID}, {GID}.
user mode: every role runs as uid {UID}, the owner of {HOME}.

badmailfrom: 
qmail-smtpd refuses mail from spam@bad.example.
qmail-smtpd refuses mail from @worse.example?.

bouncefrom: Bounce messages come from the user name .

bouncehost: (Default.) Bounce messages come from the host name mail.example.com.

concurrencylocal: (Default.) At most 10 local deliveries run at once.

concurrencyremote: At most 5000 remote deliveries run at once.
WARNING: 5000 is above the silent concurrency limit: at most 1000 run at once.

databytes: Messages received by SMTP may have at most 1000000 bytes (0 means no limit).

defaultdomain: (Default.) qmail-inject appends .mail.example.com to host names without a dot.

defaulthost: (Default.) qmail-inject appends @mail.example.com to addresses without a host.

doublebouncehost: (Default.) Double bounces go to an address at the host mail.example.com.

doublebounceto: (Default.) Double bounces go to the user postmaster.

enhancedstatuscodes: (Default.) qmail-smtpd's enhanced status codes: 0 (0 means off, as in qmail).

envnoathost: (Default.) qmail-send appends @mail.example.com to recipients without a host.

helohost: qmail-remote says HELO   spaced.example.

idhost: (Default.) qmail-inject makes Message-IDs at the host mail.example.com.

localiphost: (Default.) qmail-smtpd replaces this host's [IP address] in recipients with mail.example.com.

locals: 
Mail for localhost is delivered locally.
Mail for mail.example.com is delivered locally.

maxrcpt: (Default.) qmail-smtpd accepts at most 100000 recipients per message (0 means no limit).

me: My name is mail.example.com.

moreipme: (Default.) qmail-remote knows my addresses from my network interfaces only.

morercpthosts: 
qmail-smtpd also accepts mail for More.example once qmail-newmrh has run.
qmail-smtpd also accepts mail for more2.example once qmail-newmrh has run.

morercpthosts.cdb: Holds 2 domains. Compiled after control/morercpthosts was last changed, so probably up to date.

percenthack: 

plusdomain: (Default.) qmail-inject replaces a + at the end of a host name with .mail.example.com.

qmqpservers: (Default.) No QMQP servers: qmail-qmqpc refuses to run.

queuelifetime: (Default.) Messages stay in the queue for at most 604800 seconds.

rcptcheck: (Default.) qmail-smtpd checks local recipients at RCPT time when this is nonzero: 0.

rcpthosts: 
SMTP clients may send mail to recipients at example.com.
SMTP clients may send mail to recipients at .example.net.

remoteauth: (Default.) qmail-remote never authenticates to a relay.

servercert.pem: qmail-smtpd offers STARTTLS with this certificate (the contents are not shown).

smtpgreeting: (Default.) qmail-smtpd greets with: 220 mail.example.com

smtproutes: 
SMTP route: :relay.example.com.
SMTP route: x.example:[192.0.2.1]:2525.

smtputf8: (Default.) qmail-smtpd's SMTPUTF8: 0 (0 means off: 8-bit addresses pass unchecked, as in qmail).

timeoutconnect: (Default.) qmail-remote waits 60 seconds for an SMTP connection.

timeoutlocal: (Default.) qmail-local lets a |program delivery run for 0 seconds (0 means no limit).

timeoutremote: (Default.) qmail-remote waits 1200 seconds for each SMTP reply or write.

timeoutsmtpd: (Default.) qmail-smtpd waits 1200 seconds for each command or write.

tlsclientca: (Default.) qmail-remote trusts the system's CA certificates only.

tlsdestinations: (Default.) qmail-remote uses STARTTLS whenever a peer offers it, without checking certificates.

virtualdomains: 
Virtual domain: virt.example:joe-virt.

bad?name: I have no idea what this file does.

rcpthosts~: I have no idea what this file does.
`

// userModeHome makes a home owned by an unprivileged account (user mode)
// and returns it with the uid and gid showctl must print.
func userModeHome(t *testing.T) (home, uid, gid string) {
	t.Helper()
	home = t.TempDir()
	if os.Getuid() == 0 {
		testutil.Chown(t, home, testutil.Unprivileged(t))
	}
	fi, err := os.Stat(home)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return home, strconv.Itoa(int(st.Uid)), strconv.Itoa(int(st.Gid))
}

func TestShowctlGolden(t *testing.T) {
	home, uid, gid := userModeHome(t)
	writeControl(t, home, showctlFixture)
	if _, errs, code := run(t, Newmrh, home, "qmail-newmrh"); code != 0 {
		t.Fatal(errs)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(home, "control", "morercpthosts"), old, old); err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, Showctl, home, "qmail-showctl")
	want := strings.NewReplacer("{HOME}", home, "{UID}", uid, "{GID}", gid).Replace(showctlGolden)
	if code != 0 || errs != "" {
		t.Errorf("exit %d stderr %q", code, errs)
	}
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

// block returns the "NAME: ..." block of showctl's output, up to the
// blank line that ends it, or "" if there is none.
func block(out, name string) string {
	i := strings.Index(out, "\n\n"+name+": ")
	if i < 0 {
		return ""
	}
	b := out[i+2:]
	if j := strings.Index(b, "\n\n"); j >= 0 {
		b = b[:j+1]
	}
	return b
}

func TestShowctlCases(t *testing.T) {
	base := map[string]string{"me": "mail.example.com\n", "rcpthosts": "example.com\n"}
	old := time.Now().Add(-time.Hour)
	for _, c := range []struct {
		label  string
		files  map[string]string // added to base; "" value with key "-NAME" removes NAME
		setup  func(t *testing.T, ctl string)
		code   int
		blocks map[string]string
	}{
		{label: "no rcpthosts: open relay", files: map[string]string{"-rcpthosts": ""}, blocks: map[string]string{
			"rcpthosts": "rcpthosts: (Default.) SMTP clients may send mail to recipients anywhere.\n" +
				"WARNING: control/rcpthosts is missing, so qmail-smtpd accepts mail for every domain from every client:\n" +
				"WARNING: this host is an OPEN RELAY. List the domains it accepts mail for in control/rcpthosts.\n",
		}},
		{label: "empty rcpthosts: no relay", files: map[string]string{"rcpthosts": "# nobody\n"}, blocks: map[string]string{
			"rcpthosts": "rcpthosts: \n",
		}},
		{label: "percenthack overlapping rcpthosts",
			files: map[string]string{
				"rcpthosts":     "Example.com\n.example.net\n",
				"morercpthosts": "more.example\n",
				"percenthack":   "example.COM\nsub.example.net\nexample.net\nother.example\nmore.example\n",
			},
			blocks: map[string]string{"percenthack": "percenthack: \n" +
				"qmail-send applies the percent hack to recipients at example.COM.\n" +
				"qmail-send applies the percent hack to recipients at sub.example.net.\n" +
				"qmail-send applies the percent hack to recipients at example.net.\n" +
				"qmail-send applies the percent hack to recipients at other.example.\n" +
				"qmail-send applies the percent hack to recipients at more.example.\n" +
				"WARNING: qmail-smtpd accepts mail for example.COM, so anyone can relay through this host as user%elsewhere@example.COM.\n" +
				"WARNING: qmail-smtpd accepts mail for sub.example.net, so anyone can relay through this host as user%elsewhere@sub.example.net.\n" +
				"WARNING: qmail-smtpd accepts mail for more.example, so anyone can relay through this host as user%elsewhere@more.example.\n",
			}},
		{label: "percenthack without rcpthosts", files: map[string]string{"-rcpthosts": "", "percenthack": "a.example\n"},
			blocks: map[string]string{"percenthack": "percenthack: \n" +
				"qmail-send applies the percent hack to recipients at a.example.\n" +
				"WARNING: qmail-smtpd accepts mail for a.example, so anyone can relay through this host as user%elsewhere@a.example.\n",
			}},
		{label: "malformed integers", files: map[string]string{"databytes": "10M\n", "timeoutsmtpd": " 5\n", "queuelifetime": "99999999999999999999"},
			code: 111, blocks: map[string]string{
				"databytes":     "databytes: ERROR: control/databytes line 1: not a decimal number: \"10M\".\n",
				"timeoutsmtpd":  "timeoutsmtpd: ERROR: control/timeoutsmtpd line 1: not a decimal number: \" 5\".\n",
				"queuelifetime": "queuelifetime: ERROR: control/queuelifetime line 1: not a decimal number: \"99999999999999999999\".\n",
			}},
		{label: "empty integer file is the default", files: map[string]string{"timeoutconnect": "\n"}, blocks: map[string]string{
			"timeoutconnect": "timeoutconnect: (Default.) qmail-remote waits 60 seconds for an SMTP connection.\n",
		}},
		{label: "no me", files: map[string]string{"-me": ""}, blocks: map[string]string{
			"me":         "me: (Default.) Not set: files that default to me use their own defaults, and programs that need a name refuse to run.\n",
			"bouncehost": "bouncehost: (Default.) Bounce messages come from the host name bouncehost.\n",
			"helohost":   "helohost: (Default.) Not set: qmail-remote refuses to run without helohost or me.\n",
			"locals":     "locals: (Default.) Not set: qmail-send refuses to run without locals or me.\n",
		}},
		{label: "locals from me", blocks: map[string]string{
			"locals": "locals: (Default.) Mail for mail.example.com is delivered locally.\n",
		}},
		{label: "morercpthosts not compiled", files: map[string]string{"morercpthosts": "a.example\n"}, blocks: map[string]string{
			"morercpthosts.cdb": "morercpthosts.cdb: (Default.) No compiled morercpthosts.\n" +
				"WARNING: control/morercpthosts has not been compiled: run qmail-newmrh.\n",
		}},
		{label: "morercpthosts changed after compiling", files: map[string]string{"morercpthosts": "a.example\n"},
			setup: func(t *testing.T, ctl string) {
				newmrh(t, ctl)
				os.Chtimes(filepath.Join(ctl, "morercpthosts.cdb"), old, old)
			},
			blocks: map[string]string{"morercpthosts.cdb": "morercpthosts.cdb: Holds 1 domain.\n" +
				"WARNING: control/morercpthosts was changed after it was compiled: run qmail-newmrh.\n",
			}},
		{label: "cdb without source", files: map[string]string{"morercpthosts": "a.example\nb.example\n"},
			setup: func(t *testing.T, ctl string) {
				newmrh(t, ctl)
				os.Remove(filepath.Join(ctl, "morercpthosts"))
			},
			blocks: map[string]string{"morercpthosts.cdb": "morercpthosts.cdb: Holds 2 domains. There is no control/morercpthosts to compile it from.\n"}},
		{label: "corrupt cdb", files: map[string]string{"morercpthosts.cdb": "not a cdb"}, code: 111, blocks: map[string]string{
			"morercpthosts.cdb": "morercpthosts.cdb: ERROR: control/morercpthosts.cdb: unable to read: cdb: file is corrupt.\n",
		}},
		{label: "unprintable values", files: map[string]string{"me": "a\tb\x7f\xc3\xa9\n", "locals": "x\ry\n"}, blocks: map[string]string{
			"me":     "me: My name is a?b???.\n",
			"locals": "locals: \nMail for x?y is delivered locally.\n",
		}},
		{label: "control file is a folder", files: map[string]string{"smtproutes/x": ""}, code: 111, blocks: map[string]string{
			"smtproutes": "smtproutes: ERROR: control/smtproutes: unable to read: is a directory.\n",
		}},
	} {
		t.Run(c.label, func(t *testing.T) {
			home, _, _ := userModeHome(t)
			files := map[string]string{}
			for k, v := range base {
				files[k] = v
			}
			for k, v := range c.files {
				if strings.HasPrefix(k, "-") {
					delete(files, k[1:])
				} else {
					files[k] = v
				}
			}
			writeControl(t, home, files)
			if c.setup != nil {
				c.setup(t, filepath.Join(home, "control"))
			}
			out, errs, code := run(t, Showctl, home, "qmail-showctl")
			if code != c.code || errs != "" {
				t.Errorf("exit %d stderr %q; want %d", code, errs, c.code)
			}
			for name, want := range c.blocks {
				if got := block(out, name); got != want {
					t.Errorf("block %s:\n%q\nwant:\n%q", name, got, want)
				}
			}
		})
	}
}

func newmrh(t *testing.T, ctl string) {
	t.Helper()
	if _, errs, code := run(t, Newmrh, filepath.Dir(ctl), "qmail-newmrh"); code != 0 {
		t.Fatal(errs)
	}
}

func TestShowctlNoControl(t *testing.T) {
	home, uid, _ := userModeHome(t)
	out, errs, code := run(t, Showctl, home, "qmail-showctl")
	wantErr := "qmail-showctl: fatal: unable to read " + filepath.Join(home, "control") + ": no such file or directory\n"
	if code != 111 || errs != wantErr {
		t.Errorf("exit %d stderr %q; want 111 %q", code, errs, wantErr)
	}
	if !strings.HasPrefix(out, "qmail home directory: "+home+".\n") || !strings.Contains(out, "user ids: "+uid+", ") {
		t.Errorf("settings not printed first:\n%s", out)
	}
}

func TestShowctlRootModeWithoutUsers(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs a home owned by root")
	}
	if _, err := user.Lookup("alias"); err == nil {
		t.Skip("qmail's users exist on this machine")
	}
	home := t.TempDir()
	writeControl(t, home, map[string]string{"me": "x.example\n", "rcpthosts": "x.example\n"})
	out, _, code := run(t, Showctl, home, "qmail-showctl")
	if code != 111 || !strings.Contains(out, "\nuser ids: ERROR: unable to find user alias: ") {
		t.Errorf("exit %d output:\n%s", code, out)
	}
}

func TestShowctlUnreadable(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	home := t.TempDir()
	writeControl(t, home, map[string]string{"me": "x.example\n", "percenthack": "x.example\n"})
	ctl := filepath.Join(home, "control")
	testutil.MustWrite(t, filepath.Join(ctl, "rcpthosts"), "x.example\n", 0)
	testutil.MustWrite(t, filepath.Join(ctl, "morercpthosts.cdb"), "", 0)
	testutil.MustWrite(t, filepath.Join(ctl, "me"), "x.example\n", 0)
	out, _, code := run(t, Showctl, home, "qmail-showctl")
	if code != 111 {
		t.Errorf("exit %d, want 111", code)
	}
	for name, want := range map[string]string{
		"rcpthosts":         "rcpthosts: ERROR: control/rcpthosts: unable to read: permission denied.\n",
		"morercpthosts.cdb": "morercpthosts.cdb: ERROR: control/morercpthosts.cdb: unable to read: permission denied.\n",
		"me":                "me: ERROR: control/me: unable to read: permission denied.\n",
		"bouncehost":        "bouncehost: ERROR: control/me: unable to read: permission denied.\n",
		"percenthack":       "percenthack: \nqmail-send applies the percent hack to recipients at x.example.\n",
	} {
		if got := block(out, name); got != want {
			t.Errorf("block %s:\n%q\nwant:\n%q", name, got, want)
		}
	}
}
