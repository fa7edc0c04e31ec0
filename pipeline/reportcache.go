package pipeline

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"siteinspect/domain"
	"siteinspect/report"
)

// renderVersion names the way reports and their pictures are drawn. Bump
// it when report/ or this package changes what a report shows, so that
// copies and pictures made by older code are not served.
const renderVersion = "1"

// storedKey names the report of d in one format for readers of
// verifyURL's site: a hash of everything the report shows except what
// changes with each issue (the generation time, the verification code) and
// the audit head (each issue appends to the chain, so the head moves with
// every report served), plus each evidence item's state, which decides the
// pictures. Any change to the case's records that the report shows changes
// the key; an event that shows nowhere in it (a download read, an issued
// report) does not.
func storedKey(d *report.Data, byID map[string]*domain.Evidence, asJSON bool, verifyURL string) string {
	c := *d
	c.GeneratedAt, c.VerifyURL, c.AuditHeadSeq, c.AuditHeadHash = time.Time{}, "", 0, ""
	h := sha256.New()
	format := "pdf"
	if asJSON {
		format = "json"
	}
	// The code is the URL's last segment; the rest is the site.
	site := verifyURL[:strings.LastIndex(verifyURL, "/")+1]
	fmt.Fprintf(h, "report %s\n%s\n%q\n", renderVersion, format, site)
	json.NewEncoder(h).Encode(&c)
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		e := byID[id]
		fmt.Fprintf(h, "%s %s %s %s\n", e.ID, e.Status, e.SHA256, e.ObjectKey)
		if e.Media != nil && e.Media.FPS != nil {
			fmt.Fprintf(h, "fps %v\n", *e.Media.FPS)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// reportKey is the object holding the stored report key of the case: the
// verification URL printed on it and a newline, then the report. One
// object, so a reader never pairs a report with another's URL.
func reportKey(caseID, key string, asJSON bool) string {
	ext := ".pdf"
	if asJSON {
		ext = ".json"
	}
	return "cases/" + caseID + "/derived/reports/" + key + ext
}

// writeStoredCopy writes the stored report key to w if there is one, and
// returns the URL printed on it. ok is false, with no error, when there
// is none (or it cannot be read before anything was written: the report
// is then made afresh).
func (r *Reports) writeStoredCopy(ctx context.Context, caseID, key string, asJSON bool, w io.Writer) (url string, ok bool, err error) {
	obj, err := r.Objects.Open(ctx, reportKey(caseID, key, asJSON))
	if err != nil {
		if !errors.Is(err, domain.ErrNotFound) {
			r.logger().Warn("report: stored copy", "case", caseID, "err", err)
		}
		return "", false, nil
	}
	defer obj.Close()
	br := bufio.NewReaderSize(obj, 64<<10)
	line, err := br.ReadString('\n')
	if err != nil {
		r.logger().Warn("report: stored copy", "case", caseID, "err", err)
		return "", false, nil
	}
	if _, err := br.WriteTo(w); err != nil {
		return "", false, fmt.Errorf("stored report: %w", err)
	}
	r.reused.Add(1)
	return strings.TrimSuffix(line, "\n"), true, nil
}

// store keeps the report in f (whole, just written) as the stored report
// key, printed with verifyURL.
func (r *Reports) store(ctx context.Context, caseID, key string, asJSON bool, f *os.File, verifyURL string) error {
	if strings.ContainsRune(verifyURL, '\n') {
		return fmt.Errorf("verification URL %q holds a newline", verifyURL)
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	head := verifyURL + "\n"
	if err := r.Objects.Put(ctx, reportKey(caseID, key, asJSON), io.MultiReader(strings.NewReader(head), f), int64(len(head))+st.Size(), "application/octet-stream"); err != nil {
		return fmt.Errorf("put report: %w", err)
	}
	return nil
}
