package sqlite

import (
	"errors"
	"os"
	"syscall"
)

// fallocKeepSize is FALLOC_FL_KEEP_SIZE: allocate blocks past the end of
// the file without changing its size.
const fallocKeepSize = 0x1

// reserve keeps at least logAhead/2, and after a refill logAhead, of disk
// blocks allocated past the end of the file at path without changing its
// size (what SQLite reads and writes is unchanged), while the file grows:
// only when it is at least logGrowing larger than before (its size at the
// previous call). A file that grows slowly or not at all, as an idle
// server's log, gets nothing ahead. It returns the file's size; a missing
// file is nothing to do. It reports errors.ErrUnsupported where the file
// system cannot allocate ahead.
func reserve(path string, before int64) (int64, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return before, err
	}
	size := fi.Size()
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return size, errors.ErrUnsupported
	}
	if size-before < logGrowing || st.Blocks*512-size >= logAhead/2 {
		return size, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return size, err
	}
	defer f.Close()
	err = syscall.Fallocate(int(f.Fd()), fallocKeepSize, size, logAhead)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return size, errors.ErrUnsupported
	}
	return size, err
}
