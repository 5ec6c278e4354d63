package cdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// buildCDB makes a small valid cdb in memory.
func buildCDB(t testing.TB, recs []record) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.cdb")
	makeOurs(t, path, recs)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var smallRecs = []record{{"alpha", "1"}, {"beta", "22"}, {"", "empty"}, {"alpha", "again"}, {"gamma", ""}}

// TestTruncated: every truncation of a valid file gives, for every key,
// either the right answer or an error, never a panic and never a
// silent "not found"; ForEach gives all records or an error.
func TestTruncated(t *testing.T) {
	full := buildCDB(t, smallRecs)
	for n := 0; n < len(full); n++ {
		b := full[:n]
		r, err := NewReader(bytes.NewReader(b), int64(n))
		if err != nil {
			if n >= headerSize {
				t.Fatalf("len %d: NewReader: %v", n, err)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("len %d: %v, want ErrCorrupt", n, err)
			}
			continue
		}
		for _, rec := range smallRecs {
			v, ok, err := r.Get([]byte(rec.k))
			if err == nil && (!ok || string(v) != firstValue(rec.k)) {
				t.Fatalf("len %d: Get(%q) = %q, %v with no error", n, rec.k, v, ok)
			}
		}
		count := 0
		err = r.ForEach(func(k, v []byte) error { count++; return nil })
		if err == nil && count != len(smallRecs) {
			t.Fatalf("len %d: ForEach saw %d records and no error", n, count)
		}
	}
}

func firstValue(k string) string {
	for _, r := range smallRecs {
		if r.k == k {
			return r.v
		}
	}
	return ""
}

// TestCorruptHeaders: hostile numbers in the header, slots and record
// lengths give ErrCorrupt quickly, not a panic, a hang or a huge
// allocation.
func TestCorruptHeaders(t *testing.T) {
	full := buildCDB(t, smallRecs)
	h := Hash([]byte("alpha")) & 255
	tpos := binary.LittleEndian.Uint32(full[h*8:])
	put := func(b []byte, at uint32, v uint32) { binary.LittleEndian.PutUint32(b[at:], v) }
	cases := []struct {
		name string
		mut  func(b []byte)
	}{
		{"slots 0xffffffff", func(b []byte) { put(b, h*8+4, 0xffffffff) }},
		{"table past the end", func(b []byte) { put(b, h*8, 0xfffffff0) }},
		{"record position past the end", func(b []byte) {
			for s := tpos; s < uint32(len(b)); s += 8 {
				if binary.LittleEndian.Uint32(b[s+4:]) != 0 {
					put(b, s+4, 0xfffffff0)
				}
			}
		}},
		{"huge key length", func(b []byte) { put(b, headerSize, 0xffffffff) }},
		{"huge data length", func(b []byte) { put(b, headerSize+4, 0xfffffff0) }},
		{"first table before the records", func(b []byte) { put(b, 0, 100) }},
		{"first table past the end", func(b []byte) { put(b, 0, 0xfffffff0) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := append([]byte(nil), full...)
			c.mut(b)
			r, err := NewReader(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			var sawErr bool
			for _, rec := range smallRecs {
				v, ok, err := r.Get([]byte(rec.k))
				if err != nil {
					sawErr = true
					if !errors.Is(err, ErrCorrupt) {
						t.Errorf("Get(%q): %v, want ErrCorrupt", rec.k, err)
					}
				} else if ok && string(v) != firstValue(rec.k) {
					t.Errorf("Get(%q) = %q: a wrong answer", rec.k, v)
				}
				if _, err := r.GetAll([]byte(rec.k)); err != nil {
					sawErr = true
				}
			}
			if err := r.ForEach(func(k, v []byte) error { return nil }); err != nil {
				sawErr = true
			}
			if !sawErr {
				t.Error("corruption went unnoticed")
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestOpenErrors: Open reports a missing file and a short file.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("x"), 0o644)
	if _, err := Open(short); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short: %v", err)
	}
}

// TestMakeLeavesTargetOnError: a failing fill leaves the old file and no
// temporary file.
func TestMakeLeavesTargetOnError(t *testing.T) {
	dir := t.TempDir()
	path, tmp := filepath.Join(dir, "x.cdb"), filepath.Join(dir, "x.tmp")
	makeOurs(t, path, smallRecs)
	before, _ := os.ReadFile(path)
	err := Make(path, tmp, func(w *Writer) error {
		w.Add([]byte("new"), []byte("x"))
		return fmt.Errorf("boom")
	})
	if err == nil {
		t.Fatal("no error")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("target changed")
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("tmp left behind: %v", err)
	}
}

// FuzzReader: arbitrary bytes never panic or hang the reader.
func FuzzReader(f *testing.F) {
	f.Add(buildCDB(f, smallRecs), []byte("alpha"))
	f.Add(buildCDB(f, nil), []byte(""))
	f.Add(make([]byte, headerSize), []byte("x"))
	f.Fuzz(func(t *testing.T, data, key []byte) {
		r, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		r.Get(key)
		r.GetAll(key)
		n := 0
		r.ForEach(func(k, v []byte) error {
			if n++; n > 1<<20 {
				return fmt.Errorf("too many")
			}
			return nil
		})
	})
}
