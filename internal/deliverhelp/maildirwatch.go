package deliverhelp

import (
	"io"
	"os"
	"strings"
	"time"

	"goqmail/internal/prog"
)

// watchInterval is how often maildirwatch redraws: qmail's 30 seconds.
const watchInterval = 30 * time.Second

// clearScreen homes the cursor and clears a VT100/ANSI terminal.
const clearScreen = "\x1b[H\x1b[J"

// Maildirwatch is maildirwatch: every 30 seconds it clears the terminal
// and shows a summary of the Maildir $MAILDIR: one block per message in
// new/ and cur/, oldest first, giving its From and Subject fields (new
// messages marked "new"). It runs until it is killed or its output goes
// away (a write error ends it with exit 111, like any other failure).
//
// Decisions where qmail is silent: the summary is goqmail's own layout;
// field values are cut at 200 bytes and unprintable bytes shown as '?',
// so a hostile message cannot send escape sequences to the terminal.
func Maildirwatch(ctx *prog.Context) int {
	return watch(ctx, watchInterval, -1)
}

// watch draws the summary every interval, rounds times (for ever if
// negative).
func watch(ctx *prog.Context, interval time.Duration, rounds int) int {
	if len(ctx.Args) > 1 {
		return ctx.Usage("maildirwatch")
	}
	dir, ok := ctx.Getenv("MAILDIR")
	if !ok || dir == "" {
		return ctx.Fatal(111, "MAILDIR not set")
	}
	for n := 0; rounds < 0 || n < rounds; n++ {
		if n > 0 {
			time.Sleep(interval)
		}
		screen, err := summary(dir)
		if err != nil {
			return ctx.Fatal(111, "unable to scan %s: %s", dir, errText(err))
		}
		if _, err := io.WriteString(ctx.Stdout, clearScreen+screen); err != nil {
			return ctx.Fatal(111, "unable to write output: %s", errText(err))
		}
	}
	return 0
}

// summary is one screen for the Maildir at dir.
func summary(dir string) (string, error) {
	msgs, err := scanMaildir(dir)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, m := range msgs {
		f, err := os.Open(m.path)
		if err != nil {
			continue // taken by a mail reader meanwhile
		}
		fields, err := readHeader(f, "From", "Subject")
		f.Close()
		if err != nil {
			return "", err
		}
		from, subject := "", ""
		for _, fl := range fields {
			switch {
			case strings.EqualFold(fl.name, "From") && from == "":
				from = printable(fl.value)
			case strings.EqualFold(fl.name, "Subject") && subject == "":
				subject = printable(fl.value)
			}
		}
		mark := "   "
		if strings.HasSuffix(strings.TrimSuffix(m.path, "/"+baseName(m.path)), "/new") {
			mark = "new"
		}
		b.WriteString(mark + " From:    " + from + "\n")
		b.WriteString("    Subject: " + subject + "\n\n")
	}
	return b.String(), nil
}

func baseName(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

// printable trims a field value, joins its lines, cuts it at 200 bytes
// and shows control bytes as '?'.
func printable(v string) string {
	v = strings.Join(strings.Fields(v), " ")
	if len(v) > 200 {
		v = v[:200]
	}
	b := []byte(v)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = '?'
		}
	}
	return string(b)
}
