// Package report renders the inspection report of a case: the case and site, the
// evidence with its hashes, the checklist findings with the annotated frames and page
// regions behind them, the decision rounds with both officers, owed materials and the
// audit chain's head. WritePDF gives the signed-off document (A4, Chinese and English);
// WriteJSON the same content for machines.
//
// It is pure: the caller gathers Data from storage and extracts video frames and PDF
// page images to local files beforehand (media.Runner.Frames, media.Runner.RenderPDF);
// this package draws the shapes on them, crops and scales, and lays out the pages,
// keeping each drawn picture where Annotation.Picture says so that the next report
// need not draw it again. It knows nothing of the database or HTTP.
package report

import (
	"encoding/json"
	"io"
	"time"
)

// Data is everything a report shows. Times are printed in their own location, so the
// caller converts them to the office's zone first.
type Data struct {
	Case       Case       `json:"case"`
	PermitType PermitType `json:"permit_type"`
	Evidence   []Evidence `json:"evidence"`
	Checklist  []Item     `json:"checklist"`
	// Decisions are the decision rounds, oldest first.
	Decisions []Decision `json:"decisions"`
	// Owed are the materials still owed (or handed in late) on a commitment basis.
	Owed []Owed `json:"owed"`
	// Commitment is the applicant's signed commitment (承诺书), if any.
	Commitment *Commitment `json:"commitment,omitempty"`
	// Tracks are the phone's GPS tracks of the case's live inspections.
	Tracks []Track `json:"tracks,omitempty"`
	// AuditHeadSeq and AuditHeadHash identify the newest audit event of the case when
	// the report was made: anyone holding the chain can check the record against it.
	AuditHeadSeq  int64     `json:"audit_head_seq"`
	AuditHeadHash string    `json:"audit_head_hash"`
	GeneratedAt   time.Time `json:"generated_at"`
	// VerifyURL is where anyone holding this report can ask the office
	// whether it is genuine (GET /verify/{code}); printed on the report.
	VerifyURL string `json:"verify_url,omitempty"`
	// Lang picks the labels: "zh" Chinese only, "en" English only, anything else
	// (the default) both, "检查项 Checklist". Checklist texts are always shown in both
	// languages when both are given.
	Lang string `json:"lang,omitempty"`
}

// Case is the inspection case and the site it is about.
type Case struct {
	Number      string `json:"number"`
	Status      string `json:"status"`
	SiteName    string `json:"site_name"`
	SiteAddress string `json:"site_address"`
	Description string `json:"description,omitempty"`
	Office      string `json:"office,omitempty"`
	// OfficeName is the office as people read it (--office-name); the
	// report's heading prints it, or Office (its code) when empty.
	OfficeName  string     `json:"office_name,omitempty"`
	Applicant   Person     `json:"applicant"`
	Inspector   *Person    `json:"inspector,omitempty"`
	Reviewer    *Person    `json:"reviewer,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	SubmittedAt *time.Time `json:"submitted_at,omitempty"`
	DueAt       *time.Time `json:"due_at,omitempty"`
}

// Person is a user as the report names them; Org is the applicant's company or the
// officer's unit.
type Person struct {
	Name     string `json:"name"`
	Username string `json:"username,omitempty"`
	Org      string `json:"org,omitempty"`
}

// PermitType is the licence applied for.
type PermitType struct {
	Code              string `json:"code"`
	NameZH            string `json:"name_zh"`
	NameEN            string `json:"name_en"`
	CommitmentAllowed bool   `json:"commitment_allowed"`
	// Version is the version of the type the case was opened with, whose
	// checklist the report lists (docs/CATALOGUE.md).
	Version int `json:"version,omitempty"`
}

// Evidence is one uploaded or recorded file. Kind is video, image, pdf or recording;
// DurationMS is set for video, Pages for PDF.
type Evidence struct {
	ID         string    `json:"id"`
	Filename   string    `json:"filename"`
	Kind       string    `json:"kind"`
	SHA256     string    `json:"sha256"`
	Size       int64     `json:"size"`
	DurationMS int64     `json:"duration_ms,omitempty"`
	Pages      int       `json:"pages,omitempty"`
	CapturedAt string    `json:"captured_at,omitempty"`
	Location   string    `json:"location,omitempty"`
	UploadedAt time.Time `json:"uploaded_at"`
}

// Item is a checklist item with its finding: Result is pass, fail, na, or "" when
// no finding was recorded.
type Item struct {
	ID          string       `json:"id"`
	TextZH      string       `json:"text_zh"`
	TextEN      string       `json:"text_en"`
	Result      string       `json:"result"`
	Note        string       `json:"note,omitempty"`
	Annotations []Annotation `json:"annotations"`
}

// Annotation is a comment on a piece of evidence that supports a finding. A video
// annotation has StartMS (EndMS for a range) and Frame; a PDF annotation has Page
// (1-based); an image annotation neither.
type Annotation struct {
	ID           string    `json:"id"`
	EvidenceID   string    `json:"evidence_id"`
	EvidenceName string    `json:"evidence_name"`
	Author       string    `json:"author"`
	Body         string    `json:"body"`
	Severity     string    `json:"severity"`
	StartMS      *int64    `json:"start_ms,omitempty"`
	EndMS        *int64    `json:"end_ms,omitempty"`
	Frame        *int64    `json:"frame,omitempty"`
	Page         *int      `json:"page,omitempty"`
	Shape        *Shape    `json:"shape,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	// Image is the path of a local PNG or JPEG to draw Shape on: the video frame,
	// the PDF page image or the photo; "" when there is none. It is not part of
	// the JSON, which refers to the image by evidence, frame and page instead.
	Image string `json:"-"`
	// Picture, if set, is where the picture drawn for this annotation (Image
	// cropped, scaled, with Shape drawn, as JPEG) is kept between reports: a
	// file already there is embedded as it is and Image is not read; else
	// the picture made from Image is written there. The caller names it by
	// everything the picture depends on (the evidence, the frame or page, the
	// shape), so an unchanged annotation is never drawn twice.
	Picture string `json:"-"`
}

// Shape is what was drawn on the frame or page. Points are x, y in 0..1 of the
// image: two corners for rect and ellipse, tail and head for arrow, ends for line,
// the path for freehand, one point for point. Color is #rrggbb, red when empty.
type Shape struct {
	Type   string       `json:"type"`
	Points [][2]float64 `json:"points"`
	Color  string       `json:"color,omitempty"`
}

// Decision is one decision round: the inspector's proposal and the reviewer's
// countersignature (nil while pending). Agree false means the reviewer returned it.
type Decision struct {
	Outcome         string     `json:"outcome"`
	Summary         string     `json:"summary"`
	Inspector       Person     `json:"inspector"`
	DecidedAt       time.Time  `json:"decided_at"`
	Reviewer        *Person    `json:"reviewer,omitempty"`
	CountersignedAt *time.Time `json:"countersigned_at,omitempty"`
	Agree           *bool      `json:"agree,omitempty"`
	Comment         string     `json:"comment,omitempty"`
	// Reason is the inspector's written reason for approving over a failed
	// item or an open violation; CountersignReason the reviewer's for
	// agreeing to it.
	Reason            string `json:"reason,omitempty"`
	CountersignReason string `json:"countersign_reason,omitempty"`
}

// Owed is a material the applicant committed to hand in later.
type Owed struct {
	Text      string    `json:"text"`
	DueAt     time.Time `json:"due_at"`
	Fulfilled bool      `json:"fulfilled"`
	Overdue   bool      `json:"overdue"`
}

// Commitment is the applicant's signed commitment (承诺书): the materials
// that follow later and by when, the statement as signed, the signer's
// name and the time.
type Commitment struct {
	Items       []CommitmentItem `json:"items"`
	StatementZH string           `json:"statement_zh"`
	StatementEN string           `json:"statement_en"`
	SignerName  string           `json:"signer_name"`
	Signer      Person           `json:"signer"`
	SignedAt    time.Time        `json:"signed_at"`
}

// CommitmentItem is one committed material and its due date.
type CommitmentItem struct {
	MaterialZH string    `json:"material_zh"`
	MaterialEN string    `json:"material_en"`
	DueAt      time.Time `json:"due_at"`
}

// ImageRef names the picture behind an annotation in the JSON report: the evidence
// and, for video, the frame or, for PDF, the page. Clients fetch it through the API.
type ImageRef struct {
	EvidenceID string `json:"evidence_id"`
	Frame      *int64 `json:"frame,omitempty"`
	Page       *int   `json:"page,omitempty"`
}

// MarshalJSON adds the image reference and the printed time code to the fields.
func (a Annotation) MarshalJSON() ([]byte, error) {
	type plain Annotation // without this method
	out := struct {
		plain
		TimeCode string    `json:"time_code,omitempty"`
		Image    *ImageRef `json:"image,omitempty"`
	}{plain: plain(a), TimeCode: timeRange(a.StartMS, a.EndMS)}
	if a.Image != "" {
		out.Image = &ImageRef{EvidenceID: a.EvidenceID, Frame: a.Frame, Page: a.Page}
	}
	return json.Marshal(out)
}

// WriteJSON writes d as indented JSON with snake_case names: the same content as the
// PDF, with images as references (evidence id and frame or page) instead of bytes.
func WriteJSON(w io.Writer, d *Data) error {
	out := *d
	// Lists are [] rather than null, so clients need no special case.
	out.Evidence = nonNil(out.Evidence)
	out.Checklist = append([]Item{}, d.Checklist...) // a copy: d stays as it was
	for i := range out.Checklist {
		out.Checklist[i].Annotations = nonNil(out.Checklist[i].Annotations)
	}
	out.Decisions = nonNil(out.Decisions)
	out.Owed = nonNil(out.Owed)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&out)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
