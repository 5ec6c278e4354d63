// Package accounts is for tests that install in root mode: it gives
// qmail's system accounts back a lasting home when such a test ends. It is
// apart from testutil because it needs package ids, whose own tests use
// testutil.
package accounts

import (
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"goqmail/internal/ids"
)

// qmailHome is where qmail's own installation puts its accounts' homes
// (alias's is its alias folder).
const qmailHome = "/var/qmail"

// Release is for a test that installs in root mode under the
// temporary folder base. When qmail's accounts are missing, as on a fresh
// CI machine, the install creates them with their homes in that install,
// under base, which the test then removes: the machine would be left with
// seven accounts pointing into a deleted folder, and the next install
// (a benchmark's, an administrator's) warned that alias lives there. When
// the test ends, every one of qmail's accounts whose home lies under base
// gets the home qmail's installation gives it (/var/qmail, alias
// /var/qmail/alias); the folders are not made. Accounts whose home is
// elsewhere, another test's for one, are left alone.
func Release(t testing.TB, base string) {
	t.Helper()
	base = filepath.Clean(base)
	t.Cleanup(func() {
		for _, name := range ids.Users {
			u, err := user.Lookup(name)
			if err != nil || !under(filepath.Clean(u.HomeDir), base) {
				continue
			}
			home := qmailHome
			if name == ids.AliasUser {
				home += "/alias"
			}
			if out, err := exec.Command("usermod", "-d", home, name).CombinedOutput(); err != nil {
				t.Errorf("giving %s back its home %s: %v\n%s", name, home, err, out)
			}
		}
	})
}

// under says whether p is base or inside it.
func under(p, base string) bool {
	return p == base || strings.HasPrefix(p, base+"/")
}
