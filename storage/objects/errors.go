package objects

import (
	"errors"
	"net"
	"net/http"
	"syscall"

	"github.com/minio/minio-go/v7"
)

// DiskFull reports whether err says a disk is full: the local one (the
// disk store, the upload spool) or the object store's.
func DiskFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	var me minio.ErrorResponse
	return errors.As(err, &me) && (me.StatusCode == http.StatusInsufficientStorage || me.Code == "XMinioStorageFull")
}

// Unavailable reports whether err says the object store cannot serve for
// now: it refused the connection, reset it, timed out, or answered that it
// cannot serve now (503: starting up, slow down, no quorum). A network
// error on a request path is taken to be the object store's: it is the one
// remote dependency nearly every request has (the database's own are
// recognised first, by its adapter).
func Unavailable(err error) bool {
	var me minio.ErrorResponse
	if errors.As(err, &me) {
		return me.StatusCode == http.StatusServiceUnavailable || me.Code == "SlowDown" || me.Code == "XMinioServerNotInitialized"
	}
	var op *net.OpError
	var ne net.Error
	return errors.As(err, &op) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		(errors.As(err, &ne) && ne.Timeout())
}
