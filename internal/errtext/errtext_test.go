package errtext

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

func TestText(t *testing.T) {
	_, openErr := os.Open("/nonexistent/goqmail")
	for _, c := range []struct {
		err  error
		want string
	}{
		{syscall.ENOSPC, "out of disk space"},
		{syscall.EDQUOT, "disk quota exceeded"},
		{syscall.EACCES, "access denied"},
		{openErr, "file does not exist"},
		{fmt.Errorf("writing: %w", syscall.EIO), "input/output error"},
		{syscall.Errno(0x7ff), syscall.Errno(0x7ff).Error()},
		{errors.New("plain"), "plain"},
	} {
		if got := Text(c.err); got != c.want {
			t.Errorf("Text(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
