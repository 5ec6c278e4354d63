// Package durable makes file-system changes survive a power cut.
//
// A file's data is durable after fsync(file); a name created, renamed or
// removed by link, rename or unlink is durable only after fsync of its
// folder (hardening.md §3.2). qmail relied on BSD file systems doing the
// latter synchronously; on ext4 and xfs it must be asked for.
package durable

import "os"

// SyncDir fsyncs a folder, making the names changed in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
