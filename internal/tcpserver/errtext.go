package tcpserver

import (
	"errors"

	"goqmail/internal/cdb"
	"goqmail/internal/errtext"
)

// errText describes err the way djb's programs do ("file does not
// exist", "access denied"), so that warnings read like ucspi-tcp's.
// Errors without an errno keep Go's own text.
func errText(err error) string {
	if errors.Is(err, cdb.ErrCorrupt) {
		return "protocol error" // what ucspi-tcp's cdb code reports
	}
	return errtext.Text(err)
}
