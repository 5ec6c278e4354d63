package deliverhelp

import (
	"io"
	"strings"

	"goqmail/internal/prog"
)

// Preline is preline [-frdFRD] PROG ARGS: it runs PROG with the message
// preceded by qmail-local's UFLINE, RPLINE and DTLINE (each of -f, -r,
// -d leaves one out, -F, -R, -D put it back) and exits with PROG's code.
// All three variables must be set, as qmail's preline insists: without
// them it is not running under qmail-local.
func Preline(ctx *prog.Context) int {
	const usage = "preline [ -frdFRD ] command"
	uf, ok1 := ctx.Getenv("UFLINE")
	rp, ok2 := ctx.Getenv("RPLINE")
	dt, ok3 := ctx.Getenv("DTLINE")
	if !ok1 || !ok2 || !ok3 {
		return ctx.Usage(usage)
	}
	use := map[byte]bool{'f': true, 'r': true, 'd': true}
	args := ctx.Args[1:]
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		a := args[0]
		args = args[1:]
		if a == "--" {
			break
		}
		for i := 1; i < len(a); i++ {
			switch c := a[i]; c {
			case 'f', 'r', 'd':
				use[c] = false
			case 'F', 'R', 'D':
				use[c+'a'-'A'] = true
			default:
				return ctx.Usage(usage)
			}
		}
	}
	if len(args) == 0 {
		return ctx.Usage(usage)
	}
	var head strings.Builder
	for _, l := range []struct {
		c byte
		s string
	}{{'f', uf}, {'r', rp}, {'d', dt}} {
		if use[l.c] {
			head.WriteString(l.s)
		}
	}
	stdin := ctx.Stdin
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	r, err := runChild(ctx, args, io.MultiReader(strings.NewReader(head.String()), stdin))
	switch {
	case err != nil:
		return cantRun(ctx, args[0], err)
	case r.crashed:
		return ctx.Fatal(111, "child crashed")
	}
	return r.code
}
