package localdelivery

import (
	"io"
	"os"
	"strings"
	"syscall"
)

// maxQmailFile bounds how much of a .qmail file is read (hardening.md
// O6: a user can point .qmail at a huge file). 16 MiB holds hundreds of
// thousands of forwarding addresses; qmail 1.03 had no bound at all.
const maxQmailFile = 16 << 20

// asciiLower lowercases ASCII letters only, as qmail does; other bytes
// (UTF-8 included) are left as they are.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// safeExt is ext as it appears in .qmail file names: lowercased, with
// every '.' written ':' (so an extension can never be "..").
func safeExt(ext string) string {
	return strings.ReplaceAll(asciiLower(ext), ".", ":")
}

// candidate is one .qmail file name to try and the DEFAULT it implies.
type candidate struct {
	name       string
	def        string
	hasDefault bool
}

// candidates lists the .qmail names tried for dash and ext, in order
// (spec §8.3): the exact name, then each "-default" from the longest
// prefix of ext to the shortest. With dash and ext both empty that is
// ".qmail" then ".qmaildefault", qmail's quirk (spec §22 item 7).
func candidates(dash, ext string) []candidate {
	safe := safeExt(ext)
	exact := candidate{name: ".qmail" + dash + safe}
	if n := len(safe); n >= 7 && safe[n-7:] == "default" {
		exact.def, exact.hasDefault = ext[n-7:], true
	}
	out := []candidate{exact}
	for i := len(safe); i >= 0; i-- {
		if i == 0 || safe[i-1] == '-' {
			out = append(out, candidate{name: ".qmail" + dash + safe[:i] + "default", def: ext[i:], hasDefault: true})
		}
	}
	return out
}

// qmailFile is the .qmail file chosen for a delivery.
type qmailFile struct {
	candidate
	data        []byte
	forwardOnly bool
}

// findQmail opens the first candidate that is a regular file and reads
// it. It returns nil if there is none.
func (d *delivery) findQmail() (*qmailFile, *exit) {
	for _, c := range candidates(d.dash, d.ext) {
		// O_NONBLOCK: a FIFO named .qmail-x must not hang the delivery.
		f, err := os.OpenFile(d.home+"/"+c.name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			if absent(err) {
				continue
			}
			return nil, tempf("Unable to open %s: %s. (#4.3.0)", c.name, errText(err))
		}
		q, ex := readQmail(f, c)
		f.Close()
		if q == nil && ex == nil {
			continue
		}
		return q, ex
	}
	return nil, nil
}

// readQmail checks and reads an open candidate; (nil, nil) means it is
// not a regular file and is skipped.
func readQmail(f *os.File, c candidate) (*qmailFile, *exit) {
	fi, err := f.Stat()
	if err != nil {
		return nil, tempf("Unable to open %s: %s. (#4.3.0)", c.name, errText(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, nil
	}
	if fi.Mode().Perm()&0o002 != 0 {
		return nil, temp("Uh-oh: .qmail file is writable. (#4.7.0)")
	}
	data, err := io.ReadAll(io.LimitReader(f, maxQmailFile+1))
	if err != nil {
		return nil, tempf("Unable to read %s: %s. (#4.3.0)", c.name, errText(err))
	}
	if len(data) > maxQmailFile {
		return nil, tempf("Unable to read %s: file too big. (#4.3.0)", c.name)
	}
	return &qmailFile{candidate: c, data: data, forwardOnly: fi.Mode().Perm()&0o100 != 0}, nil
}

// exists says whether a file of any type is at name in the home.
func (d *delivery) exists(name string) (bool, *exit) {
	_, err := os.Stat(d.home + "/" + name)
	if err == nil {
		return true, nil
	}
	if absent(err) {
		return false, nil
	}
	return false, tempf("Unable to open %s: %s. (#4.3.0)", name, errText(err))
}

// newSender computes NEWSENDER (spec §8.6): the sender, unless there is
// a sender to replace and the -owner file exists, then local-owner@domain,
// or with -owner-default too the VERP form local-owner-@domain-@[] that
// qmail-send expands per recipient. The owner files use the full
// extension whichever file handles the delivery.
func (d *delivery) newSender() (string, *exit) {
	if d.sender == "" || d.sender == "#@[]" {
		return d.sender, nil
	}
	base := ".qmail" + d.dash + safeExt(d.ext) + "-owner"
	ok, ex := d.exists(base)
	if ex != nil || !ok {
		return d.sender, ex
	}
	verp, ex := d.exists(base + "-default")
	if ex != nil {
		return "", ex
	}
	if verp {
		return d.local + "-owner-@" + d.domain + "-@[]", nil
	}
	return d.local + "-owner@" + d.domain, nil
}
