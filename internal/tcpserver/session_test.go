package tcpserver

import "testing"

// TestSessionNumbers: numbers are above pid_max, distinct while held,
// and reused once given back.
func TestSessionNumbers(t *testing.T) {
	var n sessionNumbers
	held := map[int]bool{}
	for i := 0; i < 100; i++ {
		p := n.get()
		if p <= pidMax() {
			t.Fatalf("number %d is not above pid_max %d", p, pidMax())
		}
		if held[p] {
			t.Fatalf("number %d handed out twice", p)
		}
		held[p] = true
	}
	n.put(pidMax() + 7)
	if p := n.get(); p != pidMax()+7 {
		t.Errorf("a freed number was not reused: got %d", p)
	}
	if p := n.get(); p != pidMax()+101 {
		t.Errorf("next new number %d, want %d", p, pidMax()+101)
	}
}
