package deliverhelp

import (
	"fmt"
	"io"
	"os"

	"goqmail/internal/prog"
	"goqmail/internal/qq"
)

// queue sends DTLINE and the message to qmail-queue from sender to
// rcpts and reports like qmail's helpers: "NAME: qp N" on success (exit
// 0), the queue's text otherwise (100 if permanent, else 111).
func queue(ctx *prog.Context, msg io.Reader, dtline, sender string, rcpts []string) int {
	q, err := qq.Open(ctx.Home, ctx.Env, ctx.Stderr)
	if err != nil {
		return ctx.Fatal(111, "unable to fork: %s", errText(err))
	}
	q.WriteString(dtline)
	if _, err := io.Copy(q, msg); err != nil {
		q.Abort()
		return ctx.Fatal(111, "unable to read message: %s", errText(err))
	}
	res := q.Close(sender, rcpts)
	if !res.OK() {
		code := 111
		if res.Permanent() {
			code = 100
		}
		return ctx.Fatal(code, "%s", res.Text[1:])
	}
	fmt.Fprintf(ctx.Stderr, "%s: qp %d\n", ctx.Name(), q.Pid())
	return 0
}

// Forward is forward ADDR...: queue the message (standard input) with
// DTLINE on top, from NEWSENDER, to every ADDR.
func Forward(ctx *prog.Context) int {
	if len(ctx.Args) < 2 {
		return ctx.Usage("forward address [ address ... ]")
	}
	sender, ok := ctx.Getenv("NEWSENDER")
	if !ok {
		return ctx.Fatal(100, "NEWSENDER not set")
	}
	dtline, ok := ctx.Getenv("DTLINE")
	if !ok {
		return ctx.Fatal(100, "DTLINE not set")
	}
	return queue(ctx, ctx.Stdin, dtline, sender, ctx.Args[1:])
}

// Condredirect is condredirect NEWADDR PROG ARGS: run PROG on the
// message; if it exits 0, forward the message (from SENDER) to NEWADDR
// and exit 99 so that qmail-local stops; 111 or a crash defers; any
// other code lets the delivery go on (exit 0).
func Condredirect(ctx *prog.Context) int {
	if len(ctx.Args) < 3 {
		return ctx.Usage("condredirect newaddress program [ arg ... ]")
	}
	sender, ok := ctx.Getenv("SENDER")
	if !ok {
		return ctx.Fatal(100, "SENDER not set")
	}
	dtline, ok := ctx.Getenv("DTLINE")
	if !ok {
		return ctx.Fatal(100, "DTLINE not set")
	}
	msg := ctx.File(0)
	if msg == nil {
		msg, _ = ctx.Stdin.(*os.File)
	}
	if msg == nil {
		return ctx.Fatal(111, "unable to rewind message: standard input is not a file")
	}
	if _, err := msg.Seek(0, io.SeekCurrent); err != nil {
		return ctx.Fatal(111, "unable to rewind message: %s", errText(err))
	}
	r, err := runChild(ctx, ctx.Args[2:], msg)
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
	if _, err := msg.Seek(0, io.SeekStart); err != nil {
		return ctx.Fatal(111, "unable to rewind message: %s", errText(err))
	}
	if code := queue(ctx, msg, dtline, sender, ctx.Args[1:2]); code != 0 {
		return code
	}
	return 99
}
