package admin

import (
	"fmt"
	"os"
	"path/filepath"

	"goqmail/internal/prog"
)

// Qstat is qmail-qstat (spec §16): how many messages are in the queue
// (files under queue/mess/*/) and how many of them qmail-send has not
// preprocessed yet (files in queue/todo).
//
// qmail's qmail-qstat was a shell script counting with find; this counts
// every entry that is not a folder. A queue folder that cannot be read
// is fatal, exit 111, rather than a count of 0 that would look like an
// empty queue.
func Qstat(ctx *prog.Context) int {
	queue := filepath.Join(ctx.Home, "queue")
	mess := filepath.Join(queue, "mess")
	subs, err := os.ReadDir(mess)
	if err != nil {
		return ctx.Fatal(111, "unable to read %s: %v", mess, unwrap(err))
	}
	total := 0
	for _, sub := range subs {
		if !sub.IsDir() {
			continue
		}
		n, err := countFiles(filepath.Join(mess, sub.Name()))
		if err != nil {
			return ctx.Fatal(111, "%v", err)
		}
		total += n
	}
	todo, err := countFiles(filepath.Join(queue, "todo"))
	if err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	if _, err := fmt.Fprintf(ctx.Stdout, "messages in queue: %d\nmessages in queue but not yet preprocessed: %d\n", total, todo); err != nil {
		return ctx.Fatal(111, "unable to write output: %v", err)
	}
	return 0
}

// countFiles counts the entries of dir that are not folders.
func countFiles(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("unable to read %s: %v", dir, unwrap(err))
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			n++
		}
	}
	return n, nil
}
