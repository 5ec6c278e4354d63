package main

import (
	"goqmail/internal/install"
	"goqmail/internal/prog"
)

// install and instcheck need the list of program names, which is the
// programs map itself: registering them in its literal would be an
// initialization cycle, so they are added here.
func init() {
	programs["install"] = entry{func(c *prog.Context) int { return install.Main(c, names()) },
		"make qmail's tree: install --home DIR [--user-mode [--user NAME]] [--config-localhost]"}
	programs["instcheck"] = entry{func(c *prog.Context) int { return install.Check(c, names()) },
		"check owners, modes and links of the install"}
	programs["config"] = entry{install.Config, "write control/me, locals, rcpthosts, ... from DNS"}
	programs["config-fast"] = entry{install.ConfigFast, "config-fast FQDN: write control/me, locals, rcpthosts, ..."}
}
