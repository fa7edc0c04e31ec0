package domain

import (
	"fmt"
	"time"
)

// Kind is what an evidence item is.
type Kind string

// The evidence kinds.
const (
	KindVideo     Kind = "video"
	KindImage     Kind = "image"
	KindPDF       Kind = "pdf"
	KindRecording Kind = "recording"
)

// Media holds what the media pipeline learns about a file; nil until then.
type Media struct {
	DurationMS *int64   `json:"duration_ms,omitempty"`
	Width      *int     `json:"width,omitempty"`
	Height     *int     `json:"height,omitempty"`
	VideoCodec string   `json:"video_codec,omitempty"`
	AudioCodec string   `json:"audio_codec,omitempty"`
	FPS        *float64 `json:"fps,omitempty"`
	Pages      *int     `json:"pages,omitempty"`
	CapturedAt *string  `json:"captured_at,omitempty"`
	Location   *string  `json:"location,omitempty"`
}

// Evidence is one file of a case: its original bytes are immutable and
// identified by their SHA-256.
type Evidence struct {
	ID           string    `json:"id"`
	CaseID       string    `json:"case_id"`
	Kind         Kind      `json:"kind"`
	Filename     string    `json:"filename"`
	ContentType  string    `json:"content_type"`
	Size         int64     `json:"size"`
	SHA256       string    `json:"sha256"`
	Status       string    `json:"status"`
	StatusReason string    `json:"status_reason,omitempty"`
	UploadedBy   string    `json:"uploaded_by"`
	CreatedAt    time.Time `json:"created_at"`
	Media        *Media    `json:"media"`
	Derived      *Derived  `json:"derived"`
	ObjectKey    string    `json:"-"`
	// Slot is the permit type material (its Chinese name) the applicant
	// filed the item under, or empty.
	Slot string `json:"slot"`
	// RemovedAt is when the applicant removed the item from their draft:
	// it is no longer part of the case (lists, counts, the API by id), and
	// its original stays stored for the audit trail.
	RemovedAt *time.Time `json:"removed_at,omitempty"`
}

// Evidence statuses: processing until the media pipeline has made the item
// reviewable (ready) or given up on it (failed, with a reason).
const (
	EvidenceProcessing = "processing"
	EvidenceReady      = "ready"
	EvidenceFailed     = "failed"
)

// Derived lists what the pipeline made from an original; each file lives at
// DerivedKey(case, evidence, name).
type Derived struct {
	// Playable says a browser can play the video now: the original once
	// the probe found it playable, else the proxy once it is stored. The
	// pipeline records it before it makes the poster and filmstrip, so an
	// item may be playable while still processing.
	Playable bool `json:"playable,omitempty"`
	// Poster is a JPEG frame of a video, or the preview of an image.
	Poster bool `json:"poster,omitempty"`
	// Proxy is an H.264/AAC MP4 made because the original does not play in
	// browsers.
	Proxy bool `json:"proxy,omitempty"`
	// Filmstrip describes the thumbnail sprite for hover-scrubbing.
	Filmstrip *Filmstrip `json:"filmstrip,omitempty"`
	// Thumbnail is a small JPEG of an image.
	Thumbnail bool `json:"thumbnail,omitempty"`
	// Pages is how many page images a PDF has (pages/N.png, pages/thumbs/N.png).
	Pages int `json:"pages,omitempty"`
	// Text says a PDF's text per page is stored (text.json).
	Text bool `json:"text,omitempty"`
}

// Filmstrip is the index of a thumbnail sprite: Count tiles of TileWidth ×
// TileHeight, Columns per row, one every IntervalMS.
type Filmstrip struct {
	IntervalMS int64 `json:"interval_ms"`
	Columns    int   `json:"columns"`
	Rows       int   `json:"rows"`
	TileWidth  int   `json:"tile_width"`
	TileHeight int   `json:"tile_height"`
	Count      int   `json:"count"`
}

// Names of derived files.
const (
	DerivedPoster    = "poster.jpg"
	DerivedProxy     = "proxy.mp4"
	DerivedFilmstrip = "filmstrip.jpg"
	DerivedThumbnail = "thumb.jpg"
	DerivedText      = "text.json"
)

// DerivedPage names page n's image (or its thumbnail) of a PDF.
func DerivedPage(n int, thumb bool) string {
	if thumb {
		return fmt.Sprintf("pages/thumbs/%d.png", n)
	}
	return fmt.Sprintf("pages/%d.png", n)
}

// DerivedKey is where a derived file of an evidence item lives.
func DerivedKey(caseID, evidenceID, name string) string {
	return "cases/" + caseID + "/evidence/" + evidenceID + "/derived/" + name
}

// EvidenceKey is where an evidence item's original bytes live.
func EvidenceKey(caseID, evidenceID string) string {
	return "cases/" + caseID + "/evidence/" + evidenceID + "/original"
}
