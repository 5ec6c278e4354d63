package inject

import (
	"io"
	"path/filepath"
	"strings"
	"time"

	"goqmail/internal/prog"
)

// Predate is predate: run a program with a Date field in local time
// (numeric zone) put on top of stdin. $TZ in the program's environment
// names the zone; without it the process's local zone is used.
func Predate(ctx *prog.Context) int {
	if len(ctx.Args) < 2 {
		return ctx.Usage("predate child")
	}
	return predate(ctx, ctx.Args[1], ctx.Args[2:], time.Now())
}

// Datemail is datemail: predate HOME/bin/sendmail args.
func Datemail(ctx *prog.Context) int {
	return predate(ctx, filepath.Join(ctx.Home, "bin", "sendmail"), ctx.Args[1:], time.Now())
}

// localZone is the zone named by $TZ, else the process's local zone.
func localZone(ctx *prog.Context) *time.Location {
	if tz, ok := ctx.Getenv("TZ"); ok {
		if loc, err := time.LoadLocation(strings.TrimPrefix(tz, ":")); err == nil {
			return loc
		}
	}
	return time.Local
}

// dateField is predate's line: "Date: 5 Mar 2024 07:07:08 +0100".
func dateField(t time.Time, loc *time.Location) string {
	return "Date: " + t.In(loc).Format("2 Jan 2006 15:04:05 -0700") + "\n"
}

func predate(ctx *prog.Context, path string, args []string, now time.Time) int {
	pr, pw := io.Pipe()
	go func() {
		_, err := io.WriteString(pw, dateField(now, localZone(ctx)))
		if err == nil {
			_, err = io.Copy(pw, ctx.Stdin)
		}
		pw.CloseWithError(err)
	}()
	code := runProgram(ctx, path, filepath.Base(path), args, ctx.Env, pr)
	pr.Close()
	return code
}

// Mailsubj is mailsubj: send stdin with the given subject to the given
// recipients through qmail-inject. A subject or recipient with a line
// break is refused: it would add header fields.
func Mailsubj(ctx *prog.Context) int {
	if len(ctx.Args) < 3 {
		return ctx.Usage("mailsubj subject recip ...")
	}
	for _, a := range ctx.Args[1:] {
		if strings.ContainsAny(a, "\r\n") {
			return ctx.Fatal(100, "line break in an argument")
		}
	}
	head := "Subject: " + ctx.Args[1] + "\nTo: " + strings.Join(ctx.Args[2:], " ") + "\n\n"
	pr, pw := io.Pipe()
	go func() {
		_, err := io.WriteString(pw, head)
		if err == nil {
			_, err = io.Copy(pw, ctx.Stdin)
		}
		pw.CloseWithError(err)
	}()
	code := runProgram(ctx, filepath.Join(ctx.Home, "bin", "qmail-inject"), "qmail-inject", nil, ctx.Env, pr)
	pr.Close()
	return code
}
