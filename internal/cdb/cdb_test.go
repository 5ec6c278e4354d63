package cdb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

type record struct{ k, v string }

// cdbmakeInput is the records in cdbmake's text format, which tinycdb's
// "cdb -c" reads.
func cdbmakeInput(recs []record) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		fmt.Fprintf(&b, "+%d,%d:%s->%s\n", len(r.k), len(r.v), r.k, r.v)
	}
	b.WriteString("\n")
	return b.Bytes()
}

func makeOurs(t testing.TB, path string, recs []record) {
	t.Helper()
	err := Make(path, path+".tmp", func(w *Writer) error {
		for _, r := range recs {
			if err := w.Add([]byte(r.k), []byte(r.v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func needTinycdb(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("cdb"); err != nil {
		t.Skip("tinycdb's cdb is not installed")
	}
}

func makeTheirs(t *testing.T, path string, recs []record) {
	t.Helper()
	cmd := exec.Command("cdb", "-c", path)
	cmd.Stdin = bytes.NewReader(cdbmakeInput(recs))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cdb -c: %v: %s", err, out)
	}
}

var recordSets = map[string][]record{
	"empty":      nil,
	"one":        {{"a", "1"}},
	"empty key":  {{"", "default"}, {"x", ""}},
	"duplicates": {{"k", "first"}, {"k", "second"}, {"other", "o"}, {"k", "third"}},
	"binary":     {{"a\x00b", "\x00\xff\n"}, {"\n", "->"}, {"+1,1:", ":"}},
	"collide": func() []record {
		// many keys in the same table (same hash & 255) force probing
		var r []record
		for i := 0; len(r) < 50; i++ {
			k := fmt.Sprintf("key%d", i)
			if Hash([]byte(k))&255 == 7 {
				r = append(r, record{k, fmt.Sprint(i)})
			}
		}
		return r
	}(),
}

// TestByteIdenticalToTinycdb: for the same records, cdb.Make and
// "cdb -c" write the same bytes.
func TestByteIdenticalToTinycdb(t *testing.T) {
	needTinycdb(t)
	dir := t.TempDir()
	for name, recs := range recordSets {
		t.Run(name, func(t *testing.T) {
			ours, theirs := filepath.Join(dir, name+".ours"), filepath.Join(dir, name+".theirs")
			makeOurs(t, ours, recs)
			makeTheirs(t, theirs, recs)
			a, _ := os.ReadFile(ours)
			b, _ := os.ReadFile(theirs)
			if !bytes.Equal(a, b) {
				t.Fatalf("files differ: ours %d bytes, tinycdb %d bytes", len(a), len(b))
			}
		})
	}
}

// TestTinycdbReadsOurs: every key of a cdb we wrote is found by "cdb -q"
// with the same data (all values, in order), and "cdb -d" dumps the
// records in insertion order.
func TestTinycdbReadsOurs(t *testing.T) {
	needTinycdb(t)
	dir := t.TempDir()
	for name, recs := range recordSets {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".cdb")
			makeOurs(t, path, recs)
			dump, err := exec.Command("cdb", "-d", path).Output()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dump, cdbmakeInput(recs)) {
				t.Errorf("cdb -d:\n%q\nwant\n%q", dump, cdbmakeInput(recs))
			}
			all := map[string]string{}
			for _, r := range recs {
				all[r.k] += r.v
			}
			for k, want := range all {
				if bytes.IndexByte([]byte(k), 0) >= 0 || k == "" {
					continue // not passable as an argument
				}
				got, err := exec.Command("cdb", "-q", path, k).Output()
				if err != nil || string(got) != want {
					t.Errorf("cdb -q %q = %q, %v; want %q", k, got, err, want)
				}
			}
			if _, err := exec.Command("cdb", "-q", path, "no such key").Output(); err == nil {
				t.Error("cdb -q found a key that is not there")
			}
		})
	}
}

// TestWeReadTinycdb: every record of a cdb written by "cdb -c" is found
// by Get (first value) and GetAll (all, in order), and ForEach gives the
// records in file order.
func TestWeReadTinycdb(t *testing.T) {
	needTinycdb(t)
	dir := t.TempDir()
	for name, recs := range recordSets {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".cdb")
			makeTheirs(t, path, recs)
			checkReads(t, path, recs)
		})
	}
}

func checkReads(t testing.TB, path string, recs []record) {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	all := map[string][]string{}
	var order []string
	for _, rec := range recs {
		if _, ok := all[rec.k]; !ok {
			order = append(order, rec.k)
		}
		all[rec.k] = append(all[rec.k], rec.v)
	}
	for _, k := range order {
		want := all[k]
		v, ok, err := r.Get([]byte(k))
		if err != nil || !ok || string(v) != want[0] {
			t.Fatalf("Get(%q) = %q, %v, %v; want %q", k, v, ok, err, want[0])
		}
		vs, err := r.GetAll([]byte(k))
		if err != nil || len(vs) != len(want) {
			t.Fatalf("GetAll(%q) = %q, %v; want %q", k, vs, err, want)
		}
		for i := range vs {
			if string(vs[i]) != want[i] {
				t.Fatalf("GetAll(%q)[%d] = %q, want %q", k, i, vs[i], want[i])
			}
		}
	}
	if _, ok, err := r.Get([]byte("no such key")); ok || err != nil {
		t.Fatalf("Get(missing) = %v, %v", ok, err)
	}
	i := 0
	err = r.ForEach(func(k, v []byte) error {
		if i >= len(recs) || string(k) != recs[i].k || string(v) != recs[i].v {
			return fmt.Errorf("record %d is %q->%q", i, k, v)
		}
		i++
		return nil
	})
	if err != nil || i != len(recs) {
		t.Fatalf("ForEach: %v after %d of %d records", err, i, len(recs))
	}
}

func million() []record {
	recs := make([]record, 1000000)
	for i := range recs {
		recs[i] = record{fmt.Sprintf("key%07d", i), fmt.Sprintf("v%d", i*7)}
	}
	return recs
}

// TestMillionRecords: a million records, both ways, byte-identical.
func TestMillionRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	needTinycdb(t)
	dir := t.TempDir()
	recs := million()
	ours, theirs := filepath.Join(dir, "ours.cdb"), filepath.Join(dir, "theirs.cdb")
	makeOurs(t, ours, recs)
	makeTheirs(t, theirs, recs)
	a, _ := os.ReadFile(ours)
	b, _ := os.ReadFile(theirs)
	if !bytes.Equal(a, b) {
		t.Fatalf("files differ: ours %d bytes, tinycdb %d bytes", len(a), len(b))
	}
	checkReads(t, theirs, recs)
	for _, k := range []string{"key0000000", "key0531441", "key0999999"} {
		got, err := exec.Command("cdb", "-q", ours, k).Output()
		want := ""
		fmt.Sscanf(k, "key%d", new(int))
		var n int
		fmt.Sscanf(k[3:], "%d", &n)
		want = fmt.Sprintf("v%d", n*7)
		if err != nil || string(got) != want {
			t.Errorf("cdb -q %s = %q, %v; want %q", k, got, err, want)
		}
	}
}

// TestHash: the examples of spec §18.
func TestHash(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint32
	}{{"", 5381}, {"a", 177604}, {"!joe\x00", 98843780}} {
		if got := Hash([]byte(c.in)); got != c.want {
			t.Errorf("Hash(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

// discard is a WriteSeeker that counts and forgets, to reach the 4 GiB
// limit without writing 4 GiB.
type discard struct{ pos, size int64 }

func (d *discard) Write(p []byte) (int, error) {
	d.pos += int64(len(p))
	if d.pos > d.size {
		d.size = d.pos
	}
	return len(p), nil
}

func (d *discard) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		d.pos = off
	case io.SeekCurrent:
		d.pos += off
	case io.SeekEnd:
		d.pos = d.size + off
	}
	return d.pos, nil
}

// TestTooBig: a database past 4 GiB is refused with ErrTooBig, whether
// the records or the hash tables push it over, and the writer stays
// refused afterwards.
func TestTooBig(t *testing.T) {
	huge := make([]byte, 1<<30) // shared, never written anywhere
	cases := []struct {
		name  string
		fill  func(w *Writer) error
		atAdd bool // the slots are counted when a record is added
	}{
		{"records", func(w *Writer) error {
			for range 4 {
				if err := w.Add([]byte("k"), huge); err != nil {
					return err
				}
			}
			return nil
		}, true},
		{"tables", func(w *Writer) error {
			// just under 4 GiB of records, then the tables overflow
			for range 3 {
				if err := w.Add(nil, huge); err != nil {
					return err
				}
			}
			// records end 40 bytes short of 4 GiB; the 4 records'
			// 64 bytes of slots do not fit
			rest := 0xffffffff - 2048 - 3*(8+1<<30) - 8 - 40
			if err := w.Add(nil, huge[:rest]); err != nil {
				return err
			}
			return nil
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &discard{}
			w, err := NewWriter(d)
			if err != nil {
				t.Fatal(err)
			}
			err = c.fill(w)
			if c.atAdd && !errors.Is(err, ErrTooBig) {
				t.Fatalf("Add: %v, want ErrTooBig", err)
			}
			if err := w.Finish(); !errors.Is(err, ErrTooBig) {
				t.Fatalf("Finish: %v, want ErrTooBig", err)
			}
			if err := w.Add([]byte("x"), []byte("y")); !errors.Is(err, ErrTooBig) {
				t.Fatalf("Add after the limit: %v", err)
			}
		})
	}
	// Just under the limit is fine.
	d := &discard{}
	w, _ := NewWriter(d)
	if err := w.Add([]byte("k"), huge); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
}
