package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"siteinspect/domain"
	"siteinspect/media"
	"siteinspect/report"
	"siteinspect/storage/objects"
)

// ReportRecords is what a report needs from the records: everything it
// shows of a case besides the case itself.
type ReportRecords interface {
	// PermitType returns one type or ErrNotFound.
	PermitType(ctx context.Context, code string) (*domain.PermitType, error)
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
	// CaseAudit returns a case's events in order after seq after, at most
	// limit.
	CaseAudit(ctx context.Context, caseID string, after int64, limit int) ([]*domain.AuditEvent, error)
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
	// Logger hears of pictures that could not be made.
	Logger *slog.Logger
}

// Write writes the report of cs as PDF, or JSON when asJSON. verifyURL,
// if set, is printed on the report: where anyone holding it can ask the
// office whether it is genuine.
func (r *Reports) Write(ctx context.Context, cs *domain.Case, w io.Writer, asJSON bool, verifyURL string) error {
	dir, err := os.MkdirTemp(r.WorkDir, "report-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d, err := r.data(ctx, cs, dir, !asJSON)
	if err != nil {
		return err
	}
	d.VerifyURL = verifyURL
	if asJSON {
		return report.WriteJSON(w, d)
	}
	return report.WritePDF(w, d)
}

func person(u *domain.UserRef) *report.Person {
	if u == nil {
		return nil
	}
	return &report.Person{Name: u.DisplayName, Username: u.Username, Org: u.Org}
}

func (r *Reports) local(t time.Time) time.Time { return t.In(r.Location) }

func (r *Reports) localPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	l := r.local(*t)
	return &l
}

// data gathers everything the report shows; with images, it also extracts
// each annotated frame (ffmpeg, two at a time) and fetches page images and
// photo previews into dir.
func (r *Reports) data(ctx context.Context, cs *domain.Case, dir string, images bool) (*report.Data, error) {
	db := r.DB
	pt, err := db.PermitType(ctx, cs.PermitType)
	if err != nil {
		return nil, err
	}
	evidence, err := db.ListEvidence(ctx, cs.ID)
	if err != nil {
		return nil, err
	}
	findings, err := db.Findings(ctx, cs.ID)
	if err != nil {
		return nil, err
	}
	notes, err := db.ListAnnotations(ctx, domain.AnnotationFilter{CaseID: cs.ID})
	if err != nil {
		return nil, err
	}
	decisions, err := db.Decisions(ctx, cs.ID)
	if err != nil {
		return nil, err
	}
	owed, err := db.OwedItems(ctx, cs.ID)
	if err != nil {
		return nil, err
	}
	events, err := db.CaseAudit(ctx, cs.ID, 0, 1<<30)
	if err != nil {
		return nil, err
	}
	d := &report.Data{
		Case: report.Case{Number: cs.Number, Status: string(cs.Status), SiteName: cs.SiteName, SiteAddress: cs.SiteAddress, Description: cs.Description,
			Office: cs.Office, Applicant: *person(cs.Applicant), Inspector: person(cs.Inspector), Reviewer: person(cs.Reviewer),
			CreatedAt: r.local(cs.CreatedAt), SubmittedAt: r.localPtr(cs.SubmittedAt), DueAt: r.localPtr(cs.DueAt)},
		PermitType:  report.PermitType{Code: pt.Code, NameZH: pt.Name.ZH, NameEN: pt.Name.EN, CommitmentAllowed: pt.CommitmentAllowed},
		GeneratedAt: r.local(time.Now()),
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
	var jobs []*report.Annotation
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
	for i := range d.Checklist {
		for j := range d.Checklist[i].Annotations {
			jobs = append(jobs, &d.Checklist[i].Annotations[j])
		}
	}
	for _, dc := range decisions {
		d.Decisions = append(d.Decisions, report.Decision{Outcome: dc.Outcome, Summary: dc.Summary, Inspector: *person(dc.Inspector),
			DecidedAt: r.local(dc.DecidedAt), Reviewer: person(dc.Reviewer), CountersignedAt: r.localPtr(dc.CountersignedAt), Agree: dc.Agree, Comment: dc.Comment})
	}
	for _, o := range owed {
		d.Owed = append(d.Owed, report.Owed{Text: o.Text, DueAt: r.local(o.DueAt), Fulfilled: o.FulfilledAt != nil, Overdue: o.Overdue})
	}
	if images {
		if err := r.pictures(ctx, dir, byID, jobs); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// pictures fills in each annotation's Image. Each distinct frame or page
// is made once, two at a time; one that cannot be made is logged and leaves
// its annotations without a picture rather than failing the report.
func (r *Reports) pictures(ctx context.Context, dir string, byID map[string]*domain.Evidence, notes []*report.Annotation) error {
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
	made := map[key]string{}
	for _, a := range notes {
		if ev := byID[a.EvidenceID]; ev != nil && ev.Status == domain.EvidenceReady {
			made[keyOf(a)] = ""
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for k := range made {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p, err := r.picture(ctx, dir, byID[k.ev], k.frame, k.page)
			if err != nil {
				r.logger().Warn("report picture", "evidence", k.ev, "frame", k.frame, "page", k.page, "err", err)
				return
			}
			mu.Lock()
			made[k] = p
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, a := range notes {
		a.Image = made[keyOf(a)]
	}
	return ctx.Err()
}

func (r *Reports) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// picture makes the image an annotation is drawn on.
func (r *Reports) picture(ctx context.Context, dir string, ev *domain.Evidence, frame int64, page int) (string, error) {
	switch ev.Kind {
	case domain.KindVideo, domain.KindRecording:
		if ev.Media == nil || ev.Media.FPS == nil {
			return "", fmt.Errorf("no frame rate")
		}
		src, err := r.source(ctx, dir, ev)
		if err != nil {
			return "", err
		}
		out := filepath.Join(dir, fmt.Sprintf("%s-f%d.png", ev.ID, frame))
		return out, r.Media.Frame(ctx, src, out, frame, *ev.Media.FPS)
	case domain.KindPDF:
		return r.fetch(ctx, dir, ev, domain.DerivedPage(page, false), fmt.Sprintf("%s-p%d.png", ev.ID, page))
	default:
		return r.fetch(ctx, dir, ev, domain.DerivedPoster, ev.ID+"-preview.jpg")
	}
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
