package objects

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"strings"
	"time"

	"siteinspect/domain"
)

// CodeOriginalLocked refuses a delete or an overwrite of an original (an
// uploaded file, a live recording or snapshot): originals are evidence,
// kept unchanged for their retention period.
const CodeOriginalLocked = "original_locked"

// errOriginalLocked is the refusal both stores give for an original.
func errOriginalLocked(key string) error {
	return domain.Coded(domain.ErrForbidden, CodeOriginalLocked,
		"an original is kept unchanged for its retention period and cannot be deleted or replaced ("+key+")")
}

// Lock is how an original is locked when it is written: retained in
// COMPLIANCE mode until Until (nobody, an administrator included, can delete
// or change it before then), and held while Hold is set.
type Lock struct {
	// Until ends the retention; the zero time leaves the object unlocked.
	Until time.Time
	// Hold puts a legal hold on the object: its case is under appeal or
	// marked as evidence, and the object outlives Until until it is lifted.
	Hold bool
}

// RetentionFunc says how the original at key is locked when written. It is
// asked for originals only (IsOriginal); an error fails the write, so that
// no original is ever stored without its lock.
type RetentionFunc func(ctx context.Context, key string) (Lock, error)

// FixedRetention locks every original for d from the moment it is written.
func FixedRetention(d time.Duration) RetentionFunc {
	return func(context.Context, string) (Lock, error) {
		return Lock{Until: time.Now().Add(d)}, nil
	}
}

// IsOriginal reports whether key holds an original: an uploaded file
// (domain.EvidenceKey), a live recording or a live snapshot. Derived files
// (posters, proxies, pages), partial uploads and reports are not originals:
// they can be rebuilt or are not evidence, so they are never locked.
func IsOriginal(key string) bool {
	p := strings.Split(key, "/")
	if len(p) < 5 || p[0] != "cases" {
		return false
	}
	switch p[2] {
	case "evidence":
		return len(p) == 5 && p[4] == "original"
	case "live":
		return len(p) == 5 && strings.HasPrefix(p[4], "recording") || len(p) == 6 && p[4] == "snapshots"
	}
	return false
}

// CaseOfKey is the case id a key belongs to ("cases/{id}/…"), or "".
func CaseOfKey(key string) string {
	p := strings.SplitN(key, "/", 3)
	if len(p) < 3 || p[0] != "cases" {
		return ""
	}
	return p[1]
}

// CasePrefix is the prefix every object of a case shares.
func CasePrefix(caseID string) string { return "cases/" + caseID + "/" }

// Holder is implemented by stores that can put a legal hold on an object
// (MinIO with object locking). A held object cannot be deleted, whatever
// its retention date, until the hold is lifted.
type Holder interface {
	// SetLegalHold puts (on) or lifts the legal hold of the object key's
	// current version. It returns ErrNotFound for a missing key.
	SetLegalHold(ctx context.Context, key string, on bool) error
}

// PurgeResult says what a purge removed and what it had to leave.
type PurgeResult struct {
	// Removed counts the objects (each version on MinIO) deleted.
	Removed int
	// Kept lists the keys still locked (retention not yet passed, or held).
	Kept []string
}

// Purger is implemented by stores that can remove every object of a case,
// originals included, as far as their locks allow: the purge sweeper's
// path once a withdrawn case is past its retention. It is the only way an
// original leaves a store.
type Purger interface {
	// Purge deletes every object under prefix (every version of it) whose
	// lock has passed and keeps the rest, listed in the result.
	Purge(ctx context.Context, prefix string) (PurgeResult, error)
}

// sameContent reports whether the object key holds exactly size bytes
// whose SHA-256 is sum: a write refused because an original exists is a
// retry of the same write (a recording stored before its database record
// failed) when it is, and succeeds without touching the original.
func sameContent(ctx context.Context, s ObjectStore, key string, size int64, sum []byte) bool {
	info, err := s.Stat(ctx, key)
	if err != nil || info.Size != size {
		return false
	}
	o, err := s.Open(ctx, key)
	if err != nil {
		return false
	}
	defer o.Close()
	h := sha256.New()
	if n, err := io.Copy(h, o); err != nil || n != size {
		return false
	}
	return bytes.Equal(h.Sum(nil), sum)
}
