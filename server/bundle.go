package server

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// BundleFormat names the layout of a case bundle; `siteinspect verify`
// refuses others.
const BundleFormat = "siteinspect-bundle/1"

// The fixed names inside a bundle.
const (
	BundleManifestName = "manifest.json"
	BundleEventsName   = "events.jsonl"
)

// BundleManifest is manifest.json, the bundle's last entry: every other
// file with its size and SHA-256, and the head of the case's events.
type BundleManifest struct {
	Format     string       `json:"format"`
	CaseID     string       `json:"case_id"`
	CaseNumber string       `json:"case_number"`
	CreatedAt  time.Time    `json:"created_at"`
	Files      []BundleFile `json:"files"`
	Events     BundleEvents `json:"events"`
	// Timestamps are the case's RFC 3161 tokens, each a file of Files
	// (timestamps/ID.tst, DER, with the TSA's certificate in it).
	Timestamps []BundleTimestamp `json:"timestamps,omitempty"`
}

// BundleTimestamp is one time-stamp token of a bundle and what it covers:
// the SHA-256 of an original or recording (EvidenceID), or the hash of
// audit event AuditSeq (the chain's head at a decision or countersign).
// Digest is that hash, in hex, as the token's message imprint holds it.
type BundleTimestamp struct {
	Path       string    `json:"path"`
	Kind       string    `json:"kind"`
	EvidenceID string    `json:"evidence_id,omitempty"`
	AuditSeq   int64     `json:"audit_seq,omitempty"`
	Digest     string    `json:"digest"`
	GenTime    time.Time `json:"gen_time"`
	TSA        string    `json:"tsa,omitempty"`
}

// BundleFile is one file of a bundle. EvidenceID is set for originals
// (their SHA-256 is also in the audit event that added them) and
// ReportCode for reports (their SHA-256 is in their "report.issued" event).
type BundleFile struct {
	Path       string `json:"path"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	EvidenceID string `json:"evidence_id,omitempty"`
	ReportCode string `json:"report_code,omitempty"`
}

// BundleEvents describes events.jsonl: the case's audit events, one JSON
// object a line, in chain order, ending at HeadSeq/HeadHash.
type BundleEvents struct {
	Count    int    `json:"count"`
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
}

// bundleStore is what the bundle handler needs from the records.
type bundleStore interface {
	caseLoader
	auditRecorder
	auditReader
	ListEvidence(ctx context.Context, caseID string) ([]*domain.Evidence, error)
	// CaseTimestamps lists the case's time-stamps, obtained or not.
	CaseTimestamps(ctx context.Context, caseID string) ([]*domain.Timestamp, error)
}

// handleBundle streams a case's evidence bundle: the originals, the
// report as PDF and JSON (issued like any report), the case's audit events
// and the manifest, as a zip written straight to the response, so no
// original is ever held whole in memory. The download itself is an audit
// event, which the bundle's events include.
func handleBundle(db bundleStore, objects objects.ObjectStore, reports reportWriter, publicURL string) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionReadNotes)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		evidence, err := db.ListEvidence(ctx, cs.ID)
		if err != nil {
			return err
		}
		// The status goes out before the archive's first byte: a store
		// that does not answer is refused here (503 storage_unavailable),
		// not sent as a 200 with a cut archive, and nothing is recorded.
		if err := objects.Ping(ctx); err != nil {
			return err
		}
		if _, err := db.RecordAudit(ctx, storage.Audit{CaseID: cs.ID, ActorID: currentUser(c).ID, Action: "bundle.downloaded",
			Data: map[string]any{"evidence": len(evidence)}}); err != nil {
			return err
		}
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, "application/zip")
		h.Set("Content-Disposition", contentDisposition("attachment", "case-"+cs.Number+"-bundle.zip"))
		h.Set("Cache-Control", "no-store")
		c.Response().WriteHeader(http.StatusOK)
		// From here on the status is sent: a failure cuts the archive
		// short, and a zip without its central directory and manifest
		// fails verification.
		if err := writeBundle(c, db, objects, reports, publicURL, cs, evidence); err != nil {
			return fmt.Errorf("bundle of case %s: %w", cs.ID, err)
		}
		return nil
	}
}

func writeBundle(c echo.Context, db bundleStore, objects objects.ObjectStore, reports reportWriter, publicURL string, cs *domain.Case, evidence []*domain.Evidence) error {
	ctx := c.Request().Context()
	zw := zip.NewWriter(c.Response())
	m := BundleManifest{Format: BundleFormat, CaseID: cs.ID, CaseNumber: cs.Number, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	// entry starts a file; done closes its record in the manifest.
	entry := func(name string, method uint16) (*hashWriter, error) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: m.CreatedAt})
		if err != nil {
			return nil, fmt.Errorf("zip entry %s: %w", name, err)
		}
		return &hashWriter{w: w, h: sha256.New()}, nil
	}
	done := func(f BundleFile, hw *hashWriter) {
		f.Size, f.SHA256 = hw.n, hex.EncodeToString(hw.h.Sum(nil))
		m.Files = append(m.Files, f)
	}
	for _, ev := range evidence {
		// Media is compressed already: stored, not deflated.
		name := "evidence/" + ev.ID + "-" + downloadName(bundleName(ev.Filename), ev.ContentType)
		hw, err := entry(name, zip.Store)
		if err != nil {
			return err
		}
		obj, err := objects.Open(ctx, ev.ObjectKey)
		if err != nil {
			return fmt.Errorf("open evidence %s: %w", ev.ID, err)
		}
		_, err = io.Copy(hw, obj)
		obj.Close()
		if err != nil {
			return fmt.Errorf("copy evidence %s: %w", ev.ID, err)
		}
		done(BundleFile{Path: name, EvidenceID: ev.ID}, hw)
	}
	if reports != nil {
		for _, asJSON := range []bool{false, true} {
			name := "report.pdf"
			if asJSON {
				name = "report.json"
			}
			hw, err := entry(name, zip.Deflate)
			if err != nil {
				return err
			}
			ir, err := issueReport(c, db, reports, cs, hw, asJSON, publicURL)
			if err != nil {
				return err
			}
			done(BundleFile{Path: name, ReportCode: ir.Code}, hw)
		}
	}
	// The events come after the reports, so their "report.issued" events
	// are in it.
	events, err := db.CaseAudit(ctx, cs.ID, 0, math.MaxInt32)
	if err != nil {
		return err
	}
	events = hideRatings(events, cs, currentUser(c))
	hw, err := entry(BundleEventsName, zip.Deflate)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(hw)
	enc.SetEscapeHTML(false)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("write event %d: %w", e.Seq, err)
		}
	}
	done(BundleFile{Path: BundleEventsName}, hw)
	// The tokens obtained so far (one still pending is not in the bundle).
	stamps, err := db.CaseTimestamps(ctx, cs.ID)
	if err != nil {
		return err
	}
	for _, ts := range stamps {
		if ts.State != domain.TimestampDone || len(ts.Token) == 0 || ts.GenTime == nil {
			continue
		}
		name := "timestamps/" + ts.ID + ".tst"
		hw, err := entry(name, zip.Deflate)
		if err != nil {
			return err
		}
		if _, err := hw.Write(ts.Token); err != nil {
			return fmt.Errorf("write time-stamp %s: %w", ts.ID, err)
		}
		done(BundleFile{Path: name}, hw)
		m.Timestamps = append(m.Timestamps, BundleTimestamp{Path: name, Kind: ts.Kind, EvidenceID: ts.EvidenceID, AuditSeq: ts.AuditSeq,
			Digest: ts.Digest, GenTime: ts.GenTime.UTC(), TSA: ts.TSA})
	}
	m.Events.Count = len(events)
	if n := len(events); n > 0 {
		m.Events.HeadSeq, m.Events.HeadHash = events[n-1].Seq, events[n-1].Hash
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: BundleManifestName, Method: zip.Deflate, Modified: m.CreatedAt})
	if err != nil {
		return fmt.Errorf("zip entry %s: %w", BundleManifestName, err)
	}
	enc = json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return zw.Close()
}

// bundleName makes a file name safe inside a zip: no directories, no
// control characters, nothing that climbs out of the folder it unpacks to,
// and none of the characters Windows refuses in a file name (its Explorer
// stops at such an entry).
func bundleName(name string) string {
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`/:<>"|?*`, r) {
			return '_'
		}
		return r
	}, name)
	if name == "." || name == ".." || name == "" {
		name = "file"
	}
	return name
}
