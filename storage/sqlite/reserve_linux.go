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
// size (what SQLite reads and writes is unchanged). A missing file is
// nothing to do. It reports errors.ErrUnsupported where the file system
// cannot allocate ahead.
func reserve(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.ErrUnsupported
	}
	if st.Blocks*512-fi.Size() >= logAhead/2 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	err = syscall.Fallocate(int(f.Fd()), fallocKeepSize, fi.Size(), logAhead)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return errors.ErrUnsupported
	}
	return err
}
