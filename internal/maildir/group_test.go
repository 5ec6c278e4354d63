package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"goqmail/internal/durable"
)

// TestDeliverGroup: deliveries at once into one Maildir through a shared
// durable.Group each land in new/ with their own bytes and leave tmp/
// empty, as Deliver does; a missing Maildir gives Deliver's error.
func TestDeliverGroup(t *testing.T) {
	dir := mustMake(t)
	g := &durable.Group{}
	const n = 40
	names := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			names[i], errs[i] = DeliverGroup(g, dir, []byte("X-N: "), strings.NewReader(fmt.Sprintf("%d\n", i)))
		}()
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("delivery %d: %v", i, errs[i])
		}
		b, err := os.ReadFile(filepath.Join(dir, "new", names[i]))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("X-N: %d\n", i); string(b) != want {
			t.Errorf("delivery %d holds %q, want %q", i, b, want)
		}
	}
	if got := list(t, filepath.Join(dir, "new")); len(got) != n {
		t.Errorf("%d files in new/, want %d", len(got), n)
	}
	if got := list(t, filepath.Join(dir, "tmp")); len(got) != 0 {
		t.Errorf("tmp/ not empty: %v", got)
	}
	_, errGroup := DeliverGroup(g, filepath.Join(dir, "nope"), nil, strings.NewReader("x\n"))
	_, errPlain := Deliver(filepath.Join(dir, "nope"), nil, strings.NewReader("x\n"))
	if errGroup == nil || !IsNoDir(errGroup) || !IsNoDir(errPlain) {
		t.Errorf("missing Maildir: group %v, plain %v", errGroup, errPlain)
	}
}
