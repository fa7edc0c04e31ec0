package domain

import (
	"io"
	"log/slog"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// UploadConfig tunes resumable uploads.
type UploadConfig struct {
	// SpoolDir holds, per upload, the bytes of parts not yet in the object
	// store, and a copy of the upload's tail (its bytes after the last full
	// part, kept in the object store too). It is a cache: an upload
	// continues without it, on this replica or another.
	SpoolDir string
	// PartSize is the multipart part size: larger parts mean fewer requests
	// to the object store but more bytes re-sent when a part's upload fails.
	// At least MinPartSize; 8 GiB in 16 MiB parts is 512 parts, far below
	// S3's 10,000.
	PartSize int64
	// PartConcurrency is how many parts of one upload go to the object store
	// at once while the next ones are received. It also bounds the spool:
	// at most PartConcurrency+2 parts of an upload wait on disk.
	PartConcurrency int
	// PartTimeout bounds one part's trip to the object store, a part sent
	// while its bytes arrive included (a client that stalls mid-part fails
	// that PUT after it; the part is then sent again from the spool). Zero
	// means 10 minutes.
	PartTimeout time.Duration
	// Limits is the largest file of each kind, in bytes.
	Limits map[Kind]int64
	// TTL is how long an upload may stay untouched before it expires and its
	// bytes are discarded.
	TTL time.Duration
	// LeaseTTL is how long a writer's claim on an upload lasts without
	// renewal; a process that died holding one blocks the upload this long.
	LeaseTTL time.Duration
	// CompanyDailyBytes bounds the bytes a company's uploads of the last
	// 24 hours declare, over all its cases (an upload of deferred length
	// counts as the largest file until it names its length); zero means
	// DefaultCompanyDailyBytes.
	CompanyDailyBytes int64
	// CompanyDailyUploads bounds how many uploads a company starts in 24
	// hours; zero means DefaultCompanyDailyUploads.
	CompanyDailyUploads int
	// Logger receives background failures.
	Logger *slog.Logger
}

// Default company quotas: eight of the largest videos, a thousand files,
// two hundred cases (each takes a case number, drafts too).
const (
	DefaultCompanyDailyBytes   = 64 << 30
	DefaultCompanyDailyUploads = 1000
	DefaultCompanyDailyCases   = 200
)

// DefaultLimits are the default size limits per kind.
var DefaultLimits = map[Kind]int64{KindVideo: 8 << 30, KindImage: 50 << 20, KindPDF: 500 << 20, KindRecording: 8 << 30}

// Upload states.
const (
	UploadOpen     = "open"
	UploadComplete = "complete"
	UploadExpired  = "expired"
)

// Upload is a resumable upload's record.
type Upload struct {
	ID          string            `json:"id"`
	CaseID      string            `json:"case_id"`
	UserID      string            `json:"-"`
	EvidenceID  string            `json:"-"`
	Filename    string            `json:"filename"`
	Filetype    string            `json:"filetype"`
	Metadata    map[string]string `json:"-"`
	RawMetadata string            `json:"-"`
	Length      int64             `json:"length"`
	Offset      int64             `json:"offset"`
	State       string            `json:"state"`
	CreatedAt   time.Time         `json:"created_at"`
	ExpiresAt   time.Time         `json:"expires_at"`
	// Concat is "" for a plain upload, or ConcatPartial or ConcatFinal
	// (tus concatenation extension).
	Concat string `json:"concat,omitempty"`
	// Parts are a final upload's partial upload ids, in order.
	Parts []string `json:"-"`
	// LengthDeferred says Length is not known yet (tus
	// creation-defer-length): a later PATCH declares it.
	LengthDeferred bool `json:"length_deferred,omitempty"`

	// The rest is the upload's state in the stores, kept by the storage
	// adapter and never shown to a client.

	// FinalID is the final upload a partial one was joined into.
	FinalID string `json:"-"`
	// LiveSessionID names the live session whose publish token made the
	// upload (the phone's own recording; MarkLive), else "".
	LiveSessionID string `json:"-"`
	// PartSize is the size of each multipart part but the last.
	PartSize int64 `json:"-"`
	// Kind is the kind the upload claims (ClaimedKind), then the one its
	// first bytes show.
	Kind        Kind   `json:"-"`
	ContentType string `json:"-"`
	// ObjectKey and MultipartID name the object the bytes go to and its
	// multipart upload.
	ObjectKey   string `json:"-"`
	MultipartID string `json:"-"`
	// HashState is the SHA-256 state over the bytes received so far.
	HashState []byte `json:"-"`
}

// ClaimedKind guesses the kind from the declared type or the file name; it
// only chooses the size limit that is checked before any byte arrives.
func ClaimedKind(filetype, filename string) Kind {
	ft := strings.ToLower(filetype)
	switch {
	case strings.HasPrefix(ft, "video/"):
		return KindVideo
	case strings.HasPrefix(ft, "image/"):
		return KindImage
	case ft == "application/pdf":
		return KindPDF
	}
	switch strings.ToLower(path.Ext(filename)) {
	case ".mp4", ".mov", ".m4v", ".webm", ".mkv", ".3gp":
		return KindVideo
	case ".jpg", ".jpeg", ".png", ".heic", ".heif":
		return KindImage
	case ".pdf":
		return KindPDF
	}
	return ""
}

// UploadSpec describes an upload to create.
type UploadSpec struct {
	// Length is the upload's size in bytes; ignored when DeferLength is set.
	Length int64
	// DeferLength leaves the size to a later PATCH (tus
	// creation-defer-length), for a file still being written.
	DeferLength bool
	// Partial makes a partial upload (tus concatenation): its bytes become
	// evidence only as part of a final upload, so it needs no file name and
	// its type is checked on the joined bytes.
	Partial bool
	// Metadata is the decoded tus Upload-Metadata; RawMetadata is the header
	// as sent, echoed back on HEAD.
	Metadata    map[string]string
	RawMetadata string
}

// CleanFileName is the file's base name from the metadata ("filename", or
// "name" as some clients send), or "" when it names none.
func CleanFileName(metadata map[string]string) string {
	name := metadata["filename"]
	if name == "" {
		name = metadata["name"]
	}
	name = strings.TrimSpace(strings.ReplaceAll(filepath.Base(strings.ReplaceAll(name, "\\", "/")), "\x00", ""))
	if name == "." || name == "/" {
		return ""
	}
	return name
}

// UTF8Name says whether a file name is valid UTF-8 of at most 255 characters.
func UTF8Name(name string) bool {
	return utf8.ValidString(name) && utf8.RuneCountInString(name) <= 255
}

// Checksum is a chunk's declared digest (tus checksum extension).
type Checksum struct {
	Algorithm string
	Sum       []byte
}

// Values of Upload.Concat.
const (
	ConcatPartial = "partial"
	ConcatFinal   = "final"
)

// MaxConcatParts is the most partial uploads one final upload may join.
const MaxConcatParts = 64

// Codes of the errors a final upload can meet.
const (
	CodePartialNotFound  = "partial_upload_not_found"
	CodePartialOtherCase = "partial_upload_other_case"
	CodePartialUsed      = "partial_upload_used"
	CodePartialOpen      = "partial_upload_incomplete"
	CodeNotPartial       = "not_a_partial_upload"
)

// PartialKey is where a complete partial upload's bytes wait for the final
// upload that joins them.
func PartialKey(caseID, uploadID string) string {
	return "cases/" + caseID + "/uploads/" + uploadID + "/partial"
}

// Rule is the policy action under which the upload joins its case (the
// live session's id is set before its first byte, and never changes).
func (up *Upload) Rule() Action {
	if up.LiveSessionID != "" {
		return ActionAddLiveEvidence
	}
	if up.Metadata[MetaOwedItem] != "" {
		return ActionDeliverOwed
	}
	return ActionUpload
}

// CodeChunkPastLength refuses a PATCH whose body runs past the upload's
// length (tus: 413).
const CodeChunkPastLength = "chunk_exceeds_length"

// UnsizedBody marks a PATCH body whose length the client did not declare
// (chunked transfer encoding). It is appended whole or not at all, so that
// a body running past the upload's length leaves nothing behind.
type UnsizedBody struct{ io.Reader }

// SizedBody marks a PATCH body whose length the client declared
// (Content-Length): it yields exactly Size bytes unless it breaks off.
// Knowing where the body ends lets Append send a part to the object store
// while its bytes arrive, when the body covers the whole part.
type SizedBody struct {
	io.Reader
	Size int64
}
