//go:build !linux

package sqlite

import "errors"

// reserve allocates nothing ahead on systems without fallocate.
func reserve(string, int64) (int64, error) { return 0, errors.ErrUnsupported }
