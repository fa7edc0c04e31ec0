package domain

import (
	"errors"
	"time"
)

// The error kinds every store method returns, wrapped with context. The HTTP
// layer maps each kind to one status code; anything else is an internal error.
var (
	// ErrNotFound means the record or object does not exist (or the caller may
	// not know that it exists).
	ErrNotFound = errors.New("not found")
	// ErrConflict means the request collides with the current state: a taken
	// username, a wrong upload offset.
	ErrConflict = errors.New("conflict")
	// ErrLocked means another writer holds the record for a short while (an
	// upload's lease); the same request succeeds once it ends. Error's
	// RetryAfter says when that is, if known.
	ErrLocked = errors.New("locked")
	// ErrInvalid means the input is malformed or out of range.
	ErrInvalid = errors.New("invalid")
	// ErrForbidden means the caller is known but may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrInvalidState means the action is not allowed in the record's current
	// lifecycle state.
	ErrInvalidState = errors.New("invalid state")
	// ErrTooLarge means a size limit was exceeded.
	ErrTooLarge = errors.New("too large")
	// ErrTooMany means the caller has used up a quota for now (a company's
	// cases of the last 24 hours); Error's RetryAfter says when it frees.
	ErrTooMany = errors.New("too many")
	// ErrUnsupportedType means the content is not a kind siteinspect accepts.
	ErrUnsupportedType = errors.New("unsupported media type")
	// ErrChecksumMismatch means a chunk's declared checksum did not match its
	// bytes; the chunk was not appended.
	ErrChecksumMismatch = errors.New("checksum mismatch")
	// ErrGone means the record existed but has expired.
	ErrGone = errors.New("gone")
	// ErrPrecondition means the caller's version of a record is stale.
	ErrPrecondition = errors.New("precondition failed")
	// ErrUnavailable means a store the request needs (the database, the
	// object store) did not answer or refused to write for now; the same
	// request may succeed later. Classify finds it in a dependency's error.
	ErrUnavailable = errors.New("unavailable")
	// ErrInsufficientStorage means the server's disk is full; the request
	// may succeed once space is freed. Classify finds it too.
	ErrInsufficientStorage = errors.New("insufficient storage")
)

// Error is an error kind with a message meant for the client. Wrap one of the
// kinds above so the HTTP layer can choose the status code and still show a
// useful sentence.
type Error struct {
	Kind    error
	Message string
	// Code is the stable code a client may rely on (API.md's errors, such
	// as "case_not_accepting_evidence"); empty falls back to the kind's.
	Code string
	// RetryAfter, when positive, is how long the client should wait before
	// sending the same request again (HTTP Retry-After).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// Unwrap lets errors.Is find the kind.
func (e *Error) Unwrap() error { return e.Kind }

// Errorf builds an Error of the given kind with a client-facing message.
func Errorf(kind error, msg string) error { return &Error{Kind: kind, Message: msg} }

// Coded is Errorf with a stable code of its own, for errors a person meets
// and the UI translates.
func Coded(kind error, code, msg string) error { return &Error{Kind: kind, Code: code, Message: msg} }
