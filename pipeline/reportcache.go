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
const renderVersion = "3" // 2: Display P3 photos converted to sRGB; 3: HDR frames at BT.2408 levels

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

// reportObject is the object holding the stored report of the case in one
// format for readers of verifyURL's site: a line with its key (storedKey),
// a line with the verification URL printed on it, then the report. One
// object per case, format and site, overwritten by each new report, so
// the copies of a case's earlier states do not pile up, and a reader never
// pairs a report with another's URL.
func reportObject(caseID string, asJSON bool, verifyURL string) string {
	ext := ".pdf"
	if asJSON {
		ext = ".json"
	}
	site := sha256.Sum256([]byte(verifyURL[:strings.LastIndex(verifyURL, "/")+1]))
	return "cases/" + caseID + "/derived/reports/" + hex.EncodeToString(site[:8]) + ext
}

// writeStoredCopy writes the stored report to w if it is the one named key,
// and returns the URL printed on it. ok is false, with no error, when
// there is none (or it cannot be read before anything was written: the
// report is then made afresh).
func (r *Reports) writeStoredCopy(ctx context.Context, caseID, key string, asJSON bool, verifyURL string, w io.Writer) (url string, ok bool, err error) {
	obj, err := r.Objects.Open(ctx, reportObject(caseID, asJSON, verifyURL))
	if err != nil {
		if !errors.Is(err, domain.ErrNotFound) {
			r.logger().Warn("report: stored copy", "case", caseID, "err", err)
		}
		return "", false, nil
	}
	defer obj.Close()
	br := bufio.NewReaderSize(obj, 64<<10)
	stored, err := br.ReadString('\n')
	if err != nil || strings.TrimSuffix(stored, "\n") != key {
		return "", false, nil // a report of another state of the case
	}
	url, err = br.ReadString('\n')
	if err != nil {
		r.logger().Warn("report: stored copy", "case", caseID, "err", err)
		return "", false, nil
	}
	if _, err := br.WriteTo(w); err != nil {
		return "", false, fmt.Errorf("stored report: %w", err)
	}
	r.reused.Add(1)
	return strings.TrimSuffix(url, "\n"), true, nil
}

// store keeps the report in f (whole, just written), printed with
// verifyURL, as the stored report named key.
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
	head := key + "\n" + verifyURL + "\n"
	if err := r.Objects.Put(ctx, reportObject(caseID, asJSON, verifyURL), io.MultiReader(strings.NewReader(head), f), int64(len(head))+st.Size(), "application/octet-stream"); err != nil {
		return fmt.Errorf("put report: %w", err)
	}
	return nil
}
