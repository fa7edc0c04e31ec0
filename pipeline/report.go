package pipeline

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"siteinspect/domain"
	"siteinspect/media"
	"siteinspect/report"
	"siteinspect/report/pades"
	"siteinspect/storage/objects"
)

// ReportRecords is what a report needs from the records: everything it
// shows of a case besides the case itself.
type ReportRecords interface {
	// CasePermitType returns the version of its permit type the case was
	// opened with, or ErrNotFound.
	CasePermitType(ctx context.Context, c *domain.Case) (*domain.PermitType, error)
	// ListEvidence returns a case's evidence, oldest first.
	ListEvidence(ctx context.Context, caseID string) ([]*domain.Evidence, error)
	// ListAnnotations returns live annotations in playback order.
	ListAnnotations(ctx context.Context, f domain.AnnotationFilter) ([]*domain.Annotation, error)
	// Findings returns a case's findings by checklist item.
	Findings(ctx context.Context, caseID string) ([]*domain.Finding, error)
	// Decisions returns a case's decision rounds, oldest first.
	Decisions(ctx context.Context, caseID string) ([]*domain.Decision, error)
	// OwedItems returns what the applicant owes (and owed) on a case.
	OwedItems(ctx context.Context, caseID string) ([]*domain.Owed, error)
	// Commitment returns the case's signed commitment, or nil.
	Commitment(ctx context.Context, caseID string) (*domain.Commitment, error)
	// CaseAudit returns a case's events in order after seq after, at most
	// limit.
	CaseAudit(ctx context.Context, caseID string, after int64, limit int) ([]*domain.AuditEvent, error)
	// ListLiveSessions returns a case's live sessions, newest first.
	ListLiveSessions(ctx context.Context, caseID string) ([]*domain.LiveSession, error)
	// LiveTrack returns a session's GPS positions in time order.
	LiveTrack(ctx context.Context, sessionID string) ([]domain.Position, error)
}

// Reports assembles a case's inspection report from the records, with the
// annotated frames and page crops it shows.
type Reports struct {
	// DB holds the case's records.
	DB      ReportRecords
	Objects objects.ObjectStore
	Media   media.Runner
	// WorkDir holds a temporary folder per report being made.
	WorkDir string
	// Location is the office's time zone, in which the report prints times.
	Location *time.Location
	// OfficeName is the office's name as people read it (--office-name),
	// printed at the head of the report and in its seal box; empty prints
	// the case's office code.
	OfficeName string
	// Logger hears of pictures that could not be made.
	Logger *slog.Logger
	// Jobs bounds the media work one report does at once (an ffmpeg pass
	// over a video, a page image fetched); zero means 2.
	Jobs int
	// Signer, when set, signs every PDF report once it is made (PAdES, see
	// report/pades), so that the copy served, the copy kept and the SHA-256
	// the caller records are of the signed file; nil leaves reports
	// unsigned.
	Signer *pades.Signer
	// LocationWarnM is how far from the site a live track may go before
	// the report warns (--location-warn-km); zero means 1000 m.
	LocationWarnM float64

	made, reused, sources, picturesReused atomic.Int64
}

// ReportCounts tells how the reports of a Reports were answered.
type ReportCounts struct {
	// Made counts reports rendered; Reused, reports answered with the
	// stored copy of an earlier one.
	Made, Reused int64
	// Sources counts the video frames extracted and the page images and
	// previews fetched to draw pictures on; PicturesReused, the pictures
	// taken as drawn for an earlier report.
	Sources, PicturesReused int64
}

// Counts returns how the reports so far were answered.
func (r *Reports) Counts() ReportCounts {
	return ReportCounts{Made: r.made.Load(), Reused: r.reused.Load(), Sources: r.sources.Load(), PicturesReused: r.picturesReused.Load()}
}

// Write writes the report of cs as PDF, or JSON when asJSON. verifyURL,
// if set, is printed on the report: where anyone holding it can ask the
// office whether it is genuine. It is WriteStored without the printed URL.
func (r *Reports) Write(ctx context.Context, cs *domain.Case, w io.Writer, asJSON bool, verifyURL string) error {
	_, err := r.WriteStored(ctx, cs, w, asJSON, verifyURL)
	return err
}

// WriteStored writes the report of cs as Write does and returns the
// verification URL printed on what it wrote.
//
// Each report made is kept in the object store (reportObject: one per
// case, format and site, replaced by the next report made); when nothing
// the report shows has changed since (storedKey: the case, its evidence,
// findings, annotations, decisions, owed items, for the same format,
// language and verification address), that stored copy is written as it
// is, with the verification URL and generation time it was made with, and
// that URL is returned instead of verifyURL, so the caller records the
// issue of the code the reader holds. Any change makes a new report.
func (r *Reports) WriteStored(ctx context.Context, cs *domain.Case, w io.Writer, asJSON bool, verifyURL string) (string, error) {
	d, byID, err := r.data(ctx, cs)
	if err != nil {
		return "", err
	}
	key := storedKey(d, byID, asJSON, verifyURL) + r.signedBy(asJSON)
	if url, ok, err := r.writeStoredCopy(ctx, cs.ID, key, asJSON, verifyURL, w); ok || err != nil {
		return url, err
	}
	dir, err := os.MkdirTemp(r.WorkDir, "report-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	missing := 0
	if !asJSON {
		if missing, err = r.pictures(ctx, dir, cs.ID, byID, annotationsOf(d)); err != nil {
			return "", err
		}
	}
	pictured := time.Since(start)
	d.VerifyURL = verifyURL
	// The report is made whole in a file first: what is served and what is
	// kept are then the same finished bytes (and a step that needs the
	// whole document, such as signing it, has one place to go: here).
	f, err := os.Create(filepath.Join(dir, "report.out"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	if asJSON {
		err = report.WriteJSON(bw, d)
	} else {
		err = report.WritePDF(bw, d)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && !asJSON && r.Signer != nil {
		err = r.sign(ctx, f)
	}
	if err != nil {
		return "", err
	}
	r.made.Add(1)
	if !asJSON {
		r.prunePictures(cs.ID, d)
	}
	r.logger().Info("report made", "case", cs.ID, "json", asJSON, "sources", pictured.Round(time.Millisecond),
		"total", time.Since(start).Round(time.Millisecond))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if _, err := io.Copy(w, f); err != nil {
		return "", err
	}
	// A report lacking a picture that could not be made this time is not
	// kept: the next one tries again.
	if missing > 0 {
		return verifyURL, nil
	}
	if err := r.store(ctx, cs.ID, key, asJSON, f, verifyURL); err != nil {
		r.logger().Warn("report: keep a copy", "case", cs.ID, "err", err)
	}
	return verifyURL, nil
}

// sign replaces the PDF in f with the signed PDF.
func (r *Reports) sign(ctx context.Context, f *os.File) error {
	pdf, err := os.ReadFile(f.Name())
	if err != nil {
		return err
	}
	signed, err := r.Signer.Sign(ctx, pdf)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if _, err := f.WriteAt(signed, 0); err != nil { // longer: nothing is left over
		return fmt.Errorf("report: write signature: %w", err)
	}
	return nil
}

// signedBy tells stored reports apart by the certificate that signed
// them, so a new key or certificate makes new reports rather than serving
// ones signed by the old (or unsigned ones).
func (r *Reports) signedBy(asJSON bool) string {
	if asJSON || r.Signer == nil || len(r.Signer.Chain) == 0 {
		return ""
	}
	sum := sha256.Sum256(r.Signer.Chain[0].Raw)
	return " signed " + hex.EncodeToString(sum[:])
}

func person(u *domain.UserRef) *report.Person {
	if u == nil {
		return nil
	}
	return &report.Person{Name: u.DisplayName, Username: u.Username, Org: u.Org}
}

func (r *Reports) local(t time.Time) time.Time { return t.In(r.Location) }

// tracks gathers the GPS track of each of the case's live sessions that has
// one, oldest session first, measured against the case's site.
func (r *Reports) tracks(ctx context.Context, cs *domain.Case) ([]report.Track, error) {
	sessions, err := r.DB.ListLiveSessions(ctx, cs.ID)
	if err != nil {
		return nil, fmt.Errorf("live sessions of case %s: %w", cs.ID, err)
	}
	warnM := r.LocationWarnM
	if warnM <= 0 {
		warnM = 1000
	}
	var out []report.Track
	for i := len(sessions) - 1; i >= 0; i-- {
		pts, err := r.DB.LiveTrack(ctx, sessions[i].ID)
		if err != nil {
			return nil, fmt.Errorf("track of live session %s: %w", sessions[i].ID, err)
		}
		if len(pts) == 0 {
			continue
		}
		sum := domain.SummarizeTrack(pts, cs.SiteLat, cs.SiteLon, warnM)
		t := report.Track{SessionID: sessions[i].ID, SiteLat: cs.SiteLat, SiteLon: cs.SiteLon, MaxDistanceM: sum.MaxDistanceM, WarnM: warnM, Warning: sum.Warning}
		for _, p := range pts {
			t.Points = append(t.Points, report.TrackPoint{At: r.local(p.At), Lat: p.Lat, Lon: p.Lon, Accuracy: p.Accuracy})
		}
		out = append(out, t)
	}
	return out, nil
}

func (r *Reports) localPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	l := r.local(*t)
	return &l
}

// data gathers everything the report shows, without pictures (pictures
// adds them), and the case's evidence by id.
func (r *Reports) data(ctx context.Context, cs *domain.Case) (*report.Data, map[string]*domain.Evidence, error) {
	db := r.DB
	pt, err := db.CasePermitType(ctx, cs)
	if err != nil {
		return nil, nil, err
	}
	evidence, err := db.ListEvidence(ctx, cs.ID)
	if err != nil {
		return nil, nil, err
	}
	findings, err := db.Findings(ctx, cs.ID)
	if err != nil {
		return nil, nil, err
	}
	notes, err := db.ListAnnotations(ctx, domain.AnnotationFilter{CaseID: cs.ID})
	if err != nil {
		return nil, nil, err
	}
	decisions, err := db.Decisions(ctx, cs.ID)
	if err != nil {
		return nil, nil, err
	}
	owed, err := db.OwedItems(ctx, cs.ID)
	if err != nil {
		return nil, nil, err
	}
	commitment, err := db.Commitment(ctx, cs.ID)
	if err != nil {
		return nil, nil, err
	}
	events, err := db.CaseAudit(ctx, cs.ID, 0, 1<<30)
	if err != nil {
		return nil, nil, err
	}
	tracks, err := r.tracks(ctx, cs)
	if err != nil {
		return nil, nil, err
	}
	d := &report.Data{
		Case: report.Case{Number: cs.Number, Status: string(cs.Status), SiteName: cs.SiteName, SiteAddress: cs.SiteAddress, Description: cs.Description,
			Office: cs.Office, OfficeName: r.OfficeName, Applicant: *person(cs.Applicant), Inspector: person(cs.Inspector), Reviewer: person(cs.Reviewer),
			CreatedAt: r.local(cs.CreatedAt), SubmittedAt: r.localPtr(cs.SubmittedAt), DueAt: r.localPtr(cs.DueAt)},
		PermitType:  report.PermitType{Code: pt.Code, NameZH: pt.Name.ZH, NameEN: pt.Name.EN, CommitmentAllowed: pt.CommitmentAllowed, Version: pt.Version},
		GeneratedAt: r.local(time.Now()),
		Tracks:      tracks,
	}
	if n := len(events); n > 0 {
		d.AuditHeadSeq, d.AuditHeadHash = events[n-1].Seq, events[n-1].Hash
	}
	byID := map[string]*domain.Evidence{}
	for _, e := range evidence {
		byID[e.ID] = e
		re := report.Evidence{ID: e.ID, Filename: e.Filename, Kind: string(e.Kind), SHA256: e.SHA256, Size: e.Size, UploadedAt: r.local(e.CreatedAt)}
		if m := e.Media; m != nil {
			if m.DurationMS != nil {
				re.DurationMS = *m.DurationMS
			}
			if m.Pages != nil {
				re.Pages = *m.Pages
			}
			if m.CapturedAt != nil {
				re.CapturedAt = *m.CapturedAt
			}
			if m.Location != nil {
				re.Location = *m.Location
			}
		}
		d.Evidence = append(d.Evidence, re)
	}
	// An item shows the notes tied to it and those its finding cites.
	finding := map[string]*domain.Finding{}
	for _, f := range findings {
		finding[f.ChecklistItem] = f
	}
	noteByID := map[string]*domain.Annotation{}
	for _, a := range notes {
		noteByID[a.ID] = a
	}
	for _, c := range pt.Checklist {
		item := report.Item{ID: c.ID, TextZH: c.Text.ZH, TextEN: c.Text.EN}
		seen := map[string]bool{}
		var ids []string
		if f := finding[c.ID]; f != nil {
			item.Result, item.Note = f.Result, f.Note
			ids = append(ids, f.AnnotationIDs...)
		}
		for _, a := range notes {
			if a.ChecklistItem == c.ID {
				ids = append(ids, a.ID)
			}
		}
		for _, id := range ids {
			a := noteByID[id]
			if a == nil || seen[id] {
				continue
			}
			seen[id] = true
			ev := byID[a.EvidenceID]
			ra := report.Annotation{ID: a.ID, EvidenceID: a.EvidenceID, Author: a.Author.DisplayName, Body: a.Body, Severity: a.Severity,
				StartMS: a.StartMS, EndMS: a.EndMS, Frame: a.StartFrame, Page: a.Page, CreatedAt: r.local(a.CreatedAt)}
			if ev != nil {
				ra.EvidenceName = ev.Filename
			}
			if a.Shape != nil {
				ra.Shape = &report.Shape{Type: a.Shape.Type, Points: a.Shape.Points, Color: a.Shape.Color}
			}
			item.Annotations = append(item.Annotations, ra)
		}
		d.Checklist = append(d.Checklist, item)
	}
	for _, dc := range decisions {
		d.Decisions = append(d.Decisions, report.Decision{Outcome: dc.Outcome, Summary: dc.Summary, Inspector: *person(dc.Inspector),
			DecidedAt: r.local(dc.DecidedAt), Reviewer: person(dc.Reviewer), CountersignedAt: r.localPtr(dc.CountersignedAt), Agree: dc.Agree, Comment: dc.Comment,
			Reason: dc.Reason, CountersignReason: dc.CountersignReason})
	}
	for _, o := range owed {
		d.Owed = append(d.Owed, report.Owed{Text: o.Text, DueAt: r.local(o.DueAt), Fulfilled: o.FulfilledAt != nil, Overdue: o.Overdue})
	}
	if cm := commitment; cm != nil {
		rc := &report.Commitment{StatementZH: cm.Statement.ZH, StatementEN: cm.Statement.EN, SignerName: cm.SignerName,
			Signer: *person(cm.Signer), SignedAt: r.local(cm.SignedAt)}
		for _, it := range cm.Items {
			rc.Items = append(rc.Items, report.CommitmentItem{MaterialZH: it.Material.ZH, MaterialEN: it.Material.EN, DueAt: r.local(it.DueAt)})
		}
		d.Commitment = rc
	}
	return d, byID, nil
}

// annotationsOf lists the annotations of d's checklist, in order.
func annotationsOf(d *report.Data) []*report.Annotation {
	var out []*report.Annotation
	for i := range d.Checklist {
		for j := range d.Checklist[i].Annotations {
			out = append(out, &d.Checklist[i].Annotations[j])
		}
	}
	return out
}

// pictures fills in each annotation's Picture, and its Image where the
// picture must be drawn. A picture drawn for an earlier report with the same
// evidence, frame or page and shape is taken as it is (picturePath names
// it). For the others, each distinct frame or page is made once: all the
// frames of one video in one ffmpeg pass (media.Runner.Frames), page images
// and previews fetched, Jobs at a time. One that cannot be made is logged
// and leaves its annotations without a picture rather than failing the
// report; missing counts them. When the object store does not answer,
// though, the report fails with its error.
func (r *Reports) pictures(ctx context.Context, dir, caseID string, byID map[string]*domain.Evidence, notes []*report.Annotation) (missing int, err error) {
	type key struct {
		ev    string
		frame int64
		page  int
	}
	keyOf := func(a *report.Annotation) key {
		k := key{ev: a.EvidenceID}
		if a.Frame != nil {
			k.frame = *a.Frame
		} else if a.Page != nil {
			k.page = *a.Page
		}
		return k
	}
	need := map[key][]*report.Annotation{}
	for _, a := range notes {
		ev := byID[a.EvidenceID]
		if ev == nil || ev.Status != domain.EvidenceReady {
			continue
		}
		if p := r.picturePath(caseID, ev, a); p != "" {
			// Touched when used, so prunePictures keeps it.
			if now := time.Now(); os.Chtimes(p, now, now) == nil {
				a.Picture = p
				r.picturesReused.Add(1)
				continue
			}
		}
		need[keyOf(a)] = append(need[keyOf(a)], a)
	}
	// The frames of each video, and every other source alone.
	videos := map[string][]media.FrameOut{}
	var others []key
	for k := range need {
		switch ev := byID[k.ev]; ev.Kind {
		case domain.KindVideo, domain.KindRecording:
			videos[k.ev] = append(videos[k.ev], media.FrameOut{Frame: k.frame, Out: filepath.Join(dir, fmt.Sprintf("%s-f%d.img", ev.ID, k.frame))})
		default:
			others = append(others, k)
		}
	}
	made := map[key]string{}
	var mu sync.Mutex
	done := func(k key, p string, err error) {
		if err != nil {
			r.logger().Warn("report picture", "evidence", k.ev, "frame", k.frame, "page", k.page, "err", err)
			return
		}
		r.sources.Add(1)
		mu.Lock()
		made[k] = p
		mu.Unlock()
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, r.jobs())
	for id, frames := range videos {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := r.frames(ctx, dir, byID[id], frames)
			for _, f := range frames {
				if err != nil && f.Err == nil {
					f.Err = err
				}
				done(key{ev: id, frame: f.Frame}, f.Out, f.Err)
			}
		}()
	}
	for _, k := range others {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p, err := r.picture(ctx, dir, byID[k.ev], k.page)
			done(k, p, err)
		}()
	}
	wg.Wait()
	if len(made) < len(need) && r.Objects != nil {
		// A picture the store did not give is not one that cannot be
		// made: while the store does not answer, the report is refused
		// (503 storage_unavailable) rather than issued without it.
		if err := r.Objects.Ping(ctx); err != nil {
			return 0, err
		}
	}
	for k, notes := range need {
		p, ok := made[k]
		if !ok {
			missing++
			continue
		}
		for _, a := range notes {
			a.Image = p
			a.Picture = r.picturePath(caseID, byID[a.EvidenceID], a)
		}
	}
	return missing, ctx.Err()
}

// pictureTTL is how long a kept picture that no report uses stays: long
// enough that a report being made at the same time, from another state of
// the case, never loses one it found.
const pictureTTL = 24 * time.Hour

// prunePictures removes the case's kept pictures that the report d does not
// use and no report has used for pictureTTL (an edited shape's old
// picture, a deleted annotation's). The work folder is also cleared when the
// server starts (pipeline.New).
func (r *Reports) prunePictures(caseID string, d *report.Data) {
	if r.WorkDir == "" {
		return
	}
	used := map[string]bool{}
	for _, a := range annotationsOf(d) {
		used[filepath.Base(a.Picture)] = true
	}
	dir := filepath.Join(r.WorkDir, "report-pictures", caseID)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && !used[e.Name()] && time.Since(info.ModTime()) > pictureTTL {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func (r *Reports) jobs() int {
	if r.Jobs > 0 {
		return r.Jobs
	}
	return 2
}

// picturePath is where the picture of a is kept between reports: a file in
// the work folder named by a hash of everything it is drawn from (the
// evidence and its bytes' hash, the frame or page, the shape, and
// renderVersion). "" without a work folder.
func (r *Reports) picturePath(caseID string, ev *domain.Evidence, a *report.Annotation) string {
	if r.WorkDir == "" {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "picture %s\n%s %s %s\n", renderVersion, ev.ID, ev.SHA256, ev.Kind)
	if a.Frame != nil {
		fmt.Fprintf(h, "frame %d\n", *a.Frame)
	} else if a.Page != nil {
		fmt.Fprintf(h, "page %d\n", *a.Page)
	}
	if a.Shape != nil {
		json.NewEncoder(h).Encode(a.Shape)
	}
	return filepath.Join(r.WorkDir, "report-pictures", caseID, hex.EncodeToString(h.Sum(nil))+".jpg")
}

func (r *Reports) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// frames extracts frames of the video ev into their Out files.
func (r *Reports) frames(ctx context.Context, dir string, ev *domain.Evidence, frames []media.FrameOut) error {
	if ev.Media == nil || ev.Media.FPS == nil {
		return fmt.Errorf("no frame rate")
	}
	src, err := r.source(ctx, dir, ev)
	if err != nil {
		return err
	}
	return r.Media.Frames(ctx, src, *ev.Media.FPS, report.MaxImageWidth, frames)
}

// picture fetches the image a PDF page or photo annotation is drawn on.
func (r *Reports) picture(ctx context.Context, dir string, ev *domain.Evidence, page int) (string, error) {
	if ev.Kind == domain.KindPDF {
		return r.fetch(ctx, dir, ev, domain.DerivedPage(page, false), fmt.Sprintf("%s-p%d.png", ev.ID, page))
	}
	return r.fetch(ctx, dir, ev, domain.DerivedPoster, ev.ID+"-preview.jpg")
}

// source is where ffmpeg reads a video: in place when the store allows it,
// else a downloaded copy.
func (r *Reports) source(ctx context.Context, dir string, ev *domain.Evidence) (string, error) {
	if l, ok := r.Objects.(objects.Locator); ok {
		return l.Locate(ctx, ev.ObjectKey)
	}
	local := filepath.Join(dir, ev.ID+"-original")
	if _, err := os.Stat(local); err == nil {
		return local, nil
	}
	return local, copyObject(ctx, r.Objects, ev.ObjectKey, local)
}

func (r *Reports) fetch(ctx context.Context, dir string, ev *domain.Evidence, name, file string) (string, error) {
	out := filepath.Join(dir, file)
	return out, copyObject(ctx, r.Objects, domain.DerivedKey(ev.CaseID, ev.ID, name), out)
}

// copyObject downloads key to path. The bytes go to a temporary file that
// is renamed into place once whole, so that frames extracted at the same
// time never read a copy that another one is still writing (they may both
// download it; each then sees the whole file).
func copyObject(ctx context.Context, objects objects.ObjectStore, key, path string) error {
	obj, err := objects.Open(ctx, key)
	if err != nil {
		return err
	}
	defer obj.Close()
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".part-*")
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, obj); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}
