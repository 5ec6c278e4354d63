package tcpserver

import (
	"errors"
	"fmt"
	"os"

	"goqmail/internal/cdb"
	"goqmail/internal/prog"
)

// Tcprules is "tcprules rules.cdb rules.tmp": it compiles the rules on
// standard input into rules.tmp, syncs it and renames it over rules.cdb
// (spec §19.2). A bad line is fatal (exit 100) and rules.cdb is left as
// it was; a file system error is exit 111.
//
// tcprules leaves rules.tmp behind when the rename fails; we remove it,
// since a half-made temporary file is of no use to anyone.
func Tcprules(ctx *prog.Context) int {
	if len(ctx.Args) < 3 {
		return ctx.Usage("tcprules rules.cdb rules.tmp")
	}
	path, tmp := ctx.Args[1], ctx.Args[2]
	var parseErr *ParseError
	var readErr error
	err := cdb.Make(path, tmp, func(w *cdb.Writer) error {
		err := CompileRules(ctx.Stdin, w.Add)
		if err != nil && !errors.As(err, &parseErr) {
			if !errors.Is(err, cdb.ErrTooBig) {
				readErr = err
			}
		}
		return err
	})
	switch {
	case err == nil:
		return 0
	case parseErr != nil:
		return ctx.Fatal(100, "%s", parseErr.Error())
	case readErr != nil:
		return ctx.Fatal(111, "unable to read input: %s", errText(readErr))
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return ctx.Fatal(111, "unable to move %s to %s: %s", tmp, path, errText(err))
	}
	var pe *os.PathError
	if errors.As(err, &pe) && pe.Op == "open" && pe.Path == tmp {
		return ctx.Fatal(111, "unable to create %s: %s", tmp, errText(err))
	}
	return ctx.Fatal(111, "unable to write %s: %s", tmp, errText(err))
}

// Tcprulescheck is "tcprulescheck rules.cdb": it shows which rule
// tcpserver would apply for TCPREMOTEIP (default 0.0.0.0), TCPREMOTEHOST
// and TCPREMOTEINFO (spec §19.3).
func Tcprulescheck(ctx *prog.Context) int {
	if len(ctx.Args) < 2 {
		return ctx.Usage("tcprulescheck rules.cdb")
	}
	path := ctx.Args[1]
	c := Client{IP: "0.0.0.0"}
	if ip, ok := ctx.Getenv("TCPREMOTEIP"); ok {
		c.IP = ip
	}
	c.Host, c.HasHost = ctx.Getenv("TCPREMOTEHOST")
	c.Info, c.HasInfo = ctx.Getenv("TCPREMOTEINFO")
	r, err := cdb.Open(path)
	if err != nil {
		return ctx.Fatal(111, "unable to read %s: %s", path, errText(err))
	}
	defer r.Close()
	key, data, found, err := LookupRule(r, c)
	if err != nil {
		return ctx.Fatal(111, "unable to read %s: %s", path, errText(err))
	}
	if !found {
		fmt.Fprint(ctx.Stdout, "default:\nallow connection\n")
		return 0
	}
	fmt.Fprintf(ctx.Stdout, "rule %s:\n", key)
	rule := describeRule(data)
	for _, line := range rule {
		fmt.Fprintf(ctx.Stdout, "%s\n", line)
	}
	return 0
}

// describeRule is tcprulescheck's reading of a rule value: it reports
// the items in order and stops at the first "D" (so variables listed
// after deny are not shown, as in ucspi-tcp).
func describeRule(data []byte) []string {
	var out []string
	for {
		i := indexNUL(data)
		if i < 0 {
			break
		}
		item := data[:i]
		data = data[i+1:]
		if len(item) == 0 {
			continue
		}
		switch item[0] {
		case 'D':
			return append(out, "deny connection")
		case '+':
			out = append(out, "set environment variable "+string(item[1:]))
		}
	}
	return append(out, "allow connection")
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}
