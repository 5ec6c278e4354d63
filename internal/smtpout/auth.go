package smtpout

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"strings"

	"goqmail/internal/control"
)

// AUTH to a smart host (beyond qmail). control/remoteauth holds lines
// RELAY:USER:PASSWORD, RELAY spelt as in smtproutes (without the port);
// the password is everything after the second colon. It is used only for
// deliveries that smtproutes sends to that relay. The file must not be
// readable by others (mode 0600 or 0640, owner qmailr): a file every
// user can read is refused, and every delivery through a route defers,
// until its mode is fixed, as ssh refuses a private key anyone can read.
//
// The password goes only over TLS, or to a loopback address; a relay
// that offers neither gets a deferral, never the password in clear. A
// relay that does not offer AUTH at all gets the mail without AUTH (it
// may relay by address). PLAIN is used when offered, else LOGIN. A
// refused login is a deferral, not a bounce: it is the administrator's
// to fix, and the mail must wait for them.
func readAuth(d *control.Dir) (control.Map, string) {
	st, err := os.Stat(d.Path("remoteauth"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ""
	}
	if err != nil {
		return nil, textControls
	}
	if st.Mode().Perm()&0o004 != 0 {
		return nil, "Zcontrol/remoteauth is readable by everyone; I won't use it. (#4.3.0)\n"
	}
	m, _, err := d.ReadMap("remoteauth")
	if err != nil {
		return nil, textControls
	}
	return m, ""
}

// authenticate logs in; done says a final record was written.
func (d *delivery) authenticate(s *session, ext map[string]string, secure bool, t target) (bool, error) {
	mechs, offered := ext["AUTH"]
	if !offered {
		return false, nil
	}
	if !secure && !t.Addr.IsLoopback() {
		s.send("QUIT")
		d.out.final('Z', "Connected to "+ipText(s.ip)+" but it offers no STARTTLS; I won't send my password in clear. (#4.7.0)\n")
		return true, nil
	}
	user, pass, _ := strings.Cut(d.creds, ":")
	b64 := base64.StdEncoding.EncodeToString
	has := func(m string) bool {
		for _, f := range strings.Fields(mechs) {
			if f == m {
				return true
			}
		}
		return false
	}
	var code int
	var err error
	switch {
	case has("PLAIN"):
		code, err = s.cmd("AUTH PLAIN " + b64([]byte("\x00"+user+"\x00"+pass)))
	case has("LOGIN"):
		code, err = s.cmd("AUTH LOGIN")
		if err == nil && code == 334 {
			code, err = s.cmd(b64([]byte(user)))
		}
		if err == nil && code == 334 {
			code, err = s.cmd(b64([]byte(pass)))
		}
	default:
		s.send("QUIT")
		d.out.final('Z', "Connected to "+ipText(s.ip)+" but it offers neither AUTH PLAIN nor AUTH LOGIN. (#4.7.0)\n")
		return true, nil
	}
	if err != nil {
		return true, d.died(s, false)
	}
	if code != 235 {
		return true, d.quit(s, 'Z', "Connected to ", " but my AUTH login was refused")
	}
	return false, nil
}
