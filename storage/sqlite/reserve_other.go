//go:build !linux

package sqlite

import "errors"

// reserve allocates nothing ahead on systems without fallocate.
func reserve(string) error { return errors.ErrUnsupported }
