package admin

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"goqmail/internal/datefmt"
	"goqmail/internal/prog"
)

// Qread is qmail-qread: one paragraph per message that qmail-send has
// preprocessed (one with an info file), spec §16:
//
//	D Mon YYYY HH:MM:SS GMT  #N  SIZE  <SENDER> [ bouncing]
//	[  done]\tlocal\tADDR
//	[  done]\tremote\tADDR
//
// The date is the info file's mtime (the message's birth), SIZE the size
// of mess/S/N, " bouncing" is added when bounce/N exists, local
// recipients come before remote ones, each in file order, and delivered
// ones ("D" records) carry "  done" in front. Bytes outside printable
// ASCII in addresses are shown as '_'.
//
// Where the spec is silent:
//   - messages are listed by message number (qmail listed them in
//     readdir order, which is no order at all);
//   - a message whose files cannot be read or are malformed gives
//     "warning: trouble with #N: WHAT" on stdout, in its place in the
//     list, instead of its paragraph (a message that is delivered and
//     removed while qmail-qread reads it gives one too, as in qmail);
//   - a name in info/S that is not a decimal number is skipped, as
//     qmail-send skips it;
//   - a queue folder that cannot be read (queue/info or one of its split
//     folders missing) is fatal, exit 111: the listing would be
//     incomplete without a word.
func Qread(ctx *prog.Context) int {
	queue := filepath.Join(ctx.Home, "queue")
	var msgs []uint64
	for _, sub := range splitDirs() {
		dir := filepath.Join(queue, "info", sub)
		entries, err := os.ReadDir(dir)
		if err != nil {
			return ctx.Fatal(111, "unable to read %s: %v", dir, unwrap(err))
		}
		for _, e := range entries {
			n, err := strconv.ParseUint(e.Name(), 10, 64)
			if err != nil || !allDigits(e.Name()) {
				continue
			}
			msgs = append(msgs, n)
		}
	}
	slices.Sort(msgs)
	msgs = slices.Compact(msgs)

	w := bufio.NewWriter(ctx.Stdout)
	for _, n := range msgs {
		text, err := readMessage(queue, n)
		if err != nil {
			fmt.Fprintf(w, "warning: trouble with #%d: %s\n", n, safe(err.Error(), '_'))
			continue
		}
		w.WriteString(text)
	}
	if err := w.Flush(); err != nil {
		return ctx.Fatal(111, "unable to write output: %v", err)
	}
	return 0
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// qfile is a queue file's path relative to queue/, for messages.
func qfile(kind string, n uint64, isSplit bool) string {
	if isSplit {
		return fmt.Sprintf("%s/%d/%d", kind, n%split, n)
	}
	return fmt.Sprintf("%s/%d", kind, n)
}

// readMessage builds one message's paragraph.
func readMessage(queue string, n uint64) (string, error) {
	infoName := qfile("info", n, true)
	infoPath := filepath.Join(queue, infoName)
	info, err := os.ReadFile(infoPath)
	if err != nil {
		return "", fmt.Errorf("unable to read %s: %v", infoName, unwrap(err))
	}
	st, err := os.Stat(infoPath)
	if err != nil {
		return "", fmt.Errorf("unable to stat %s: %v", infoName, unwrap(err))
	}
	if len(info) == 0 || info[0] != 'F' {
		return "", fmt.Errorf("%s does not start with F", infoName)
	}
	end := bytes.IndexByte(info, 0)
	if end < 0 {
		return "", fmt.Errorf("%s is truncated: no NUL after the sender", infoName)
	}
	sender := string(info[1:end])

	messName := qfile("mess", n, true)
	mst, err := os.Stat(filepath.Join(queue, messName))
	if err != nil {
		return "", fmt.Errorf("unable to stat %s: %v", messName, unwrap(err))
	}

	bouncing := ""
	if _, err := os.Stat(filepath.Join(queue, qfile("bounce", n, false))); err == nil {
		bouncing = " bouncing"
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("unable to stat %s: %v", qfile("bounce", n, false), unwrap(err))
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, "%s  #%d  %d  <%s> %s\n", datefmt.Qread(st.ModTime()), n, mst.Size(), safe(sender, '_'), bouncing)
	for _, channel := range []string{"local", "remote"} {
		if err := readRecipients(&b, queue, channel, n); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// readRecipients appends the lines for local/S/N or remote/S/N, if it
// exists: T records are still to be delivered, D records are done.
func readRecipients(b *bytes.Buffer, queue, channel string, n uint64) error {
	name := qfile(channel, n, true)
	data, err := os.ReadFile(filepath.Join(queue, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unable to read %s: %v", name, unwrap(err))
	}
	for len(data) > 0 {
		end := bytes.IndexByte(data, 0)
		if end < 0 {
			return fmt.Errorf("%s is truncated: no NUL after the last recipient", name)
		}
		rec := data[:end]
		data = data[end+1:]
		if len(rec) == 0 || (rec[0] != 'T' && rec[0] != 'D') {
			return fmt.Errorf("%s has a record that starts with neither T nor D", name)
		}
		if rec[0] == 'D' {
			b.WriteString("  done")
		}
		fmt.Fprintf(b, "\t%s\t%s\n", channel, safe(string(rec[1:]), '_'))
	}
	return nil
}
