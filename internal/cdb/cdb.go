// Package cdb reads and writes djb's constant databases, byte for byte
// the files cdbmake, tcprules, qmail-newu and qmail-newmrh write, so that a
// cdb made by any of them is read by the others (spec §18).
//
// Layout: a 2048-byte header of 256 (position, slot count) pairs; the
// records (key length, data length, key, data) in the order they were
// added; then the 256 hash tables of (hash, record position) slots. Every
// number is a 32-bit little-endian unsigned integer, so a cdb is smaller
// than 4 GiB; the writer reports an error rather than wrap around.
package cdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"goqmail/internal/durable"
	"io"
	"os"
	"strings"
)

// Hash is djb's cdb hash: h = 5381; h = ((h << 5) + h) ^ c.
func Hash(key []byte) uint32 {
	h := uint32(5381)
	for _, c := range key {
		h = ((h << 5) + h) ^ uint32(c)
	}
	return h
}

const headerSize = 2048

// ErrTooBig is returned when a database would not fit in 4 GiB.
var ErrTooBig = errors.New("cdb: database would exceed the 4 GiB limit of the cdb format")

// ErrCorrupt is returned when a file is not a well-formed cdb.
var ErrCorrupt = errors.New("cdb: file is corrupt")

// Reader looks keys up in a cdb. It is safe for concurrent use.
type Reader struct {
	r    io.ReaderAt
	size int64
	hdr  [headerSize]byte
	f    *os.File // set by Open, closed by Close
}

// Open opens the cdb file at path.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	r, err := NewReader(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.f = f
	return r, nil
}

// NewReader reads a cdb of the given size from r.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	c := &Reader{r: r, size: size}
	if size < headerSize {
		return nil, ErrCorrupt
	}
	if _, err := r.ReadAt(c.hdr[:], 0); err != nil {
		return nil, err
	}
	return c, nil
}

// Close closes the file opened by Open.
func (c *Reader) Close() error {
	if c.f != nil {
		return c.f.Close()
	}
	return nil
}

func (c *Reader) read(buf []byte, pos int64) error {
	if pos+int64(len(buf)) > c.size {
		return ErrCorrupt
	}
	_, err := c.r.ReadAt(buf, pos)
	if err == io.EOF {
		return ErrCorrupt
	}
	return err
}

// Get returns the data of the first record whose key is key.
func (c *Reader) Get(key []byte) (data []byte, ok bool, err error) {
	err = c.each(key, func(d []byte) bool {
		data, ok = d, true
		return false
	})
	return data, ok, err
}

// GetAll returns the data of every record whose key is key, in the order
// they were added.
func (c *Reader) GetAll(key []byte) ([][]byte, error) {
	var all [][]byte
	err := c.each(key, func(d []byte) bool {
		all = append(all, d)
		return true
	})
	return all, err
}

// each calls fn with the data of each record for key until fn says stop.
func (c *Reader) each(key []byte, fn func([]byte) bool) error {
	h := Hash(key)
	i := (h & 255) * 8
	tpos := binary.LittleEndian.Uint32(c.hdr[i:])
	tslots := binary.LittleEndian.Uint32(c.hdr[i+4:])
	if tslots == 0 {
		return nil
	}
	// A table must lie inside the file: this also bounds the probe loop
	// of a corrupt header (slots 0xffffffff would otherwise wrap around
	// and probe four billion times).
	if int64(tpos)+int64(tslots)*8 > c.size {
		return ErrCorrupt
	}
	slot := (h >> 8) % tslots
	var buf [8]byte
	for n := uint32(0); n < tslots; n++ {
		if err := c.read(buf[:], int64(tpos)+int64(slot)*8); err != nil {
			return err
		}
		sh := binary.LittleEndian.Uint32(buf[:])
		rpos := binary.LittleEndian.Uint32(buf[4:])
		if rpos == 0 {
			return nil
		}
		if sh == h {
			if err := c.read(buf[:], int64(rpos)); err != nil {
				return err
			}
			klen := binary.LittleEndian.Uint32(buf[:])
			dlen := binary.LittleEndian.Uint32(buf[4:])
			// Check every record the probe lands on, not only those
			// whose key length matches: a damaged record must not be
			// skipped in favour of a later one with the same key.
			if int64(rpos)+8+int64(klen)+int64(dlen) > c.size {
				return ErrCorrupt
			}
			if int(klen) == len(key) {
				rec := make([]byte, int(klen)+int(dlen))
				if err := c.read(rec, int64(rpos)+8); err != nil {
					return err
				}
				if string(rec[:klen]) == string(key) {
					if !fn(rec[klen:]) {
						return nil
					}
				}
			}
		}
		slot++
		if slot == tslots {
			slot = 0
		}
	}
	return nil
}

// ForEach calls fn for every record in file order, as cdbdump does.
// It stops early and returns fn's error if fn returns one.
func (c *Reader) ForEach(fn func(key, data []byte) error) error {
	end := binary.LittleEndian.Uint32(c.hdr[0:]) // first table follows the records
	if end < headerSize || int64(end) > c.size {
		return ErrCorrupt // else a corrupt header would read as "no records"
	}
	pos := uint32(headerSize)
	var buf [8]byte
	for pos < end {
		if err := c.read(buf[:], int64(pos)); err != nil {
			return err
		}
		klen := binary.LittleEndian.Uint32(buf[:])
		dlen := binary.LittleEndian.Uint32(buf[4:])
		n := int64(klen) + int64(dlen)
		if int64(pos)+8+n > int64(end) {
			return ErrCorrupt
		}
		rec := make([]byte, n)
		if err := c.read(rec, int64(pos)+8); err != nil {
			return err
		}
		if err := fn(rec[:klen], rec[klen:]); err != nil {
			return err
		}
		pos += 8 + uint32(n)
	}
	return nil
}

type slotEntry struct {
	hash, pos uint32
}

// Writer builds a cdb. Records are written as they are added; the hash
// tables are written by Finish.
type Writer struct {
	w       io.WriteSeeker
	pos     uint64
	entries []slotEntry
	buf     []byte
	err     error
}

// NewWriter starts a cdb on w, which must be positioned at its start.
func NewWriter(w io.WriteSeeker) (*Writer, error) {
	if _, err := w.Write(make([]byte, headerSize)); err != nil {
		return nil, err
	}
	return &Writer{w: w, pos: headerSize}, nil
}

func (w *Writer) grow(n uint64) error {
	if w.pos+n > 0xffffffff {
		return ErrTooBig
	}
	w.pos += n
	return nil
}

// Add appends a record.
func (w *Writer) Add(key, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if uint64(len(key)) > 0xffffffff || uint64(len(data)) > 0xffffffff {
		w.err = ErrTooBig
		return w.err
	}
	start := w.pos
	if err := w.grow(8 + uint64(len(key)) + uint64(len(data))); err != nil {
		w.err = err
		return err
	}
	// Each record also costs two 8-byte slots in the tables.
	if w.pos+uint64(len(w.entries)+1)*16 > 0xffffffff {
		w.err = ErrTooBig
		return w.err
	}
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(key)))
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(data)))
	w.buf = append(w.buf[:0], hdr[:]...)
	w.buf = append(w.buf, key...)
	big := len(w.buf)+len(data) > 1<<16
	if !big {
		w.buf = append(w.buf, data...)
	}
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = err
		return err
	}
	// A big value is written as it is rather than copied into buf,
	// which would double the memory a huge record needs.
	if big {
		if _, err := w.w.Write(data); err != nil {
			w.err = err
			return err
		}
	}
	w.entries = append(w.entries, slotEntry{Hash(key), uint32(start)})
	return nil
}

// Finish writes the hash tables and the header. The caller still owns
// w's file and must sync and close it.
func (w *Writer) Finish() error {
	if w.err != nil {
		return w.err
	}
	var count [256]uint32
	for _, e := range w.entries {
		count[e.hash&255]++
	}
	// Group entries by table, keeping insertion order within a table.
	var start [256]uint32
	var acc uint32
	for i := range 256 {
		start[i] = acc
		acc += count[i]
	}
	grouped := make([]slotEntry, len(w.entries))
	next := start
	for _, e := range w.entries {
		grouped[next[e.hash&255]] = e
		next[e.hash&255]++
	}
	var header [headerSize]byte
	var table []slotEntry
	var out []byte
	for i := range 256 {
		n := count[i] * 2
		binary.LittleEndian.PutUint32(header[i*8:], uint32(w.pos))
		binary.LittleEndian.PutUint32(header[i*8+4:], n)
		if n == 0 {
			continue
		}
		table = table[:0]
		for range n {
			table = append(table, slotEntry{})
		}
		for _, e := range grouped[start[i] : start[i]+count[i]] {
			s := (e.hash >> 8) % n
			for table[s].pos != 0 {
				s++
				if s == n {
					s = 0
				}
			}
			table[s] = e
		}
		out = out[:0]
		for _, e := range table {
			out = binary.LittleEndian.AppendUint32(out, e.hash)
			out = binary.LittleEndian.AppendUint32(out, e.pos)
		}
		if err := w.grow(uint64(len(out))); err != nil {
			return err
		}
		if _, err := w.w.Write(out); err != nil {
			return err
		}
	}
	if _, err := w.w.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := w.w.Write(header[:])
	return err
}

// Make builds the cdb at path from the records that fill adds, the way
// qmail's tools do: write tmp (created or truncated, mode 0644 less the
// umask), fsync it, close it, rename it over path, and fsync the folder.
// On any error tmp is removed and path is left as it was.
func Make(path, tmp string, fill func(w *Writer) error) (err error) {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := &bufferedWriteSeeker{f: f}
	w, err := NewWriter(bw)
	if err != nil {
		return err
	}
	if err = fill(w); err != nil {
		return err
	}
	if err = w.Finish(); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(path)
}

func syncDir(path string) error {
	dir := "."
	if i := strings.LastIndexByte(path, '/'); i == 0 {
		dir = "/"
	} else if i > 0 {
		dir = path[:i]
	}
	return durable.SyncDir(dir)
}

// bufferedWriteSeeker buffers the record writes, which are many and
// small, and flushes before a seek.
type bufferedWriteSeeker struct {
	f   *os.File
	buf []byte
}

func (b *bufferedWriteSeeker) Write(p []byte) (int, error) {
	if len(b.buf)+len(p) > 1<<16 {
		if err := b.Flush(); err != nil {
			return 0, err
		}
		if len(p) > 1<<16 {
			return b.f.Write(p)
		}
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *bufferedWriteSeeker) Flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.f.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

func (b *bufferedWriteSeeker) Seek(off int64, whence int) (int64, error) {
	if err := b.Flush(); err != nil {
		return 0, err
	}
	return b.f.Seek(off, whence)
}
