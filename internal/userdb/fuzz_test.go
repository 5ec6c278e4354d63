package userdb

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzParseAssign(f *testing.F) {
	f.Add(sampleAssign)
	f.Add(lookupAssign)
	f.Add("=a:u:1:2:/h::\n.\n")
	f.Fuzz(func(t *testing.T, in string) {
		n := 0
		_ = ParseAssign(strings.NewReader(in), func(a Assignment) error {
			n++
			if a.Line < n {
				t.Fatalf("line %d for assignment %d", a.Line, n)
			}
			if c := bytes.Count(a.Data(), []byte{0}); c != 5 {
				t.Fatalf("data %q has %d NULs", a.Data(), c)
			}
			if k := a.Key(); k[0] != '!' || bytes.IndexByte(k[:len(k)-1], 0) >= 0 {
				t.Fatalf("bad key %q", k)
			}
			return nil
		})
	})
}

func FuzzParseGetpw(f *testing.F) {
	f.Add([]byte("joe\x00507\x00100\x00/home/joe\x00-\x00x\x00"))
	f.Add([]byte("\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := ParseGetpw(in)
		if err != nil {
			return
		}
		back, err := ParseGetpw(e.Bytes())
		if err != nil || back != e {
			t.Fatalf("round trip of %q: %+v %v", in, back, err)
		}
	})
}
