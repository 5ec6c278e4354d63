package deliverhelp

import (
	"io"

	"goqmail/internal/maildir"
	"goqmail/internal/prog"
)

// Maildirmake is maildirmake DIR: make a Maildir (DIR, DIR/tmp, DIR/new,
// DIR/cur, mode 0700). Any failure, an existing DIR included, is 111.
func Maildirmake(ctx *prog.Context) int {
	if len(ctx.Args) != 2 || ctx.Args[1] == "" {
		return ctx.Usage("maildirmake name")
	}
	if err := maildir.Make(ctx.Args[1]); err != nil {
		return ctx.Fatal(111, "unable to mkdir %s", err)
	}
	return 0
}

// Bouncesaying is bouncesaying ERROR [PROG ARGS]: without PROG it
// bounces with ERROR; with PROG it bounces with ERROR if PROG exits 0,
// defers if PROG exits 111 or crashes, and otherwise lets the delivery
// go on (exit 0).
func Bouncesaying(ctx *prog.Context) int {
	if len(ctx.Args) < 2 {
		return ctx.Usage("bouncesaying error [ program [ arg ... ] ]")
	}
	text := ctx.Args[1]
	if len(ctx.Args) > 2 {
		r, err := runChild(ctx, ctx.Args[2:], ctx.Stdin)
		switch {
		case err != nil:
			return cantRun(ctx, ctx.Args[2], err)
		case r.crashed:
			return ctx.Fatal(111, "child crashed")
		case r.code == 111:
			return 111
		case r.code != 0:
			return 0
		}
	}
	io.WriteString(ctx.Stderr, text+"\n")
	return 100
}

// Except is except PROG ARGS: it runs PROG and turns its exit code 0
// into 100 (bounce) and any other code but 111 into 0.
func Except(ctx *prog.Context) int {
	if len(ctx.Args) < 2 {
		return ctx.Usage("except program [ arg ... ]")
	}
	r, err := runChild(ctx, ctx.Args[1:], ctx.Stdin)
	switch {
	case err != nil:
		return cantRun(ctx, ctx.Args[1], err)
	case r.crashed:
		return ctx.Fatal(111, "child crashed")
	case r.code == 0:
		return 100
	case r.code == 111:
		return 111
	}
	return 0
}
