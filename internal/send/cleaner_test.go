package send

import (
	"bufio"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCleanerAnswersInOrder: requests from two goroutines at once each
// get their own answer ('!' for the ones qmail-clean refuses), and when
// qmail-clean goes away every pending and later request gets 0.
func TestCleanerAnswersInOrder(t *testing.T) {
	toClean, fromSend := io.Pipe()
	fromClean, toSend := io.Pipe()
	c := newCleaner(fromSend, bufio.NewReader(fromClean))
	hold := make(chan struct{})
	go func() { // qmail-clean: refuses requests ending in 7
		r := bufio.NewReader(toClean)
		for n := 0; ; n++ {
			req, err := r.ReadString(0)
			if err != nil {
				return
			}
			if n == 200 {
				<-hold // the 201st request waits for the pipe to close
				return
			}
			a := byte('+')
			if strings.HasSuffix(req, "7\x00") {
				a = '!'
			}
			toSend.Write([]byte{a})
		}
	}()
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				reqs := []string{"foop/" + itoa(uint64(g*1000+2*i)), "foop/" + itoa(uint64(g*1000+2*i+1))}
				for k, ch := range c.ask(reqs) {
					want := byte('+')
					if strings.HasSuffix(reqs[k], "7") {
						want = '!'
					}
					if got := <-ch; got != want {
						t.Errorf("%s: answer %q, want %q", reqs[k], got, want)
					}
				}
			}
		}()
	}
	wg.Wait()
	pending := c.ask([]string{"todo/1"}) // the 201st: never answered
	toSend.Close()
	close(hold)
	select {
	case b := <-pending[0]:
		if b != 0 {
			t.Errorf("pending request answered %q after the pipe closed", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pending request never failed")
	}
	if b := <-c.ask([]string{"todo/2"})[0]; b != 0 {
		t.Errorf("request after the loss answered %q", b)
	}
}
