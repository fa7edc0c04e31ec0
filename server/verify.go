package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"html/template"
	"io"
	"math"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
	"siteinspect/storage"
)

// Reports are verified by a code printed on them: the case's id, a dash
// and 128 random bits (storage.NewID), kept in the report's "report.issued"
// audit event. Nobody can guess one, and the event that holds it also holds
// the report's SHA-256, so /verify/{code} answers for exactly that report.
// No server secret is involved, so every replica answers alike.
const reportIssuedAction = "report.issued"

// verifyCodeRE is a code's shape: two storage ids (26 base32 letters each).
var verifyCodeRE = regexp.MustCompile(`^([a-z2-7]{26})-([a-z2-7]{26})$`)

// verifyRate and verifyBurst limit /verify per client address: a person
// checking a handful of reports never notices, a script trying codes gets
// one a second.
const (
	verifyRate  = 1.0 // tokens a second
	verifyBurst = 20
)

// issuedReport is what the audit chain keeps of an issued report.
type issuedReport struct {
	Code   string `json:"code"`
	Format string `json:"format"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Status is the case's state when the report was issued: a report
	// issued before the decision is a working draft.
	Status domain.Status `json:"status"`
}

// hashWriter counts and hashes what passes through it.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (hw *hashWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

// storedReportWriter is a reportWriter that may answer with a stored copy
// of an earlier report: WriteStored returns the verification URL printed
// on what it wrote, verifyURL or the copy's own.
type storedReportWriter interface {
	WriteStored(ctx context.Context, cs *domain.Case, w io.Writer, asJSON bool, verifyURL string) (string, error)
}

// issueReport writes cs's report to w with a fresh verification code on
// it (or, from a storedReportWriter, the stored copy of an unchanged case
// with the code it was first issued with). The report is made whole in a
// spool file first and its code and SHA-256 are committed to the audit
// chain as a "report.issued" event before any byte of it reaches w: a
// report whose event cannot be written is never sent (the caller answers
// the error), so every report a client holds is one /verify knows.
func issueReport(c echo.Context, db auditRecorder, reports reportWriter, cs *domain.Case, w io.Writer, asJSON bool, publicURL string) (*issuedReport, error) {
	ctx := c.Request().Context()
	code := cs.ID + "-" + domain.NewID()
	base := strings.TrimRight(publicURL, "/")
	if base == "" {
		base = c.Scheme() + "://" + c.Request().Host
	}
	spool, err := os.CreateTemp("", "report-*")
	if err != nil {
		return nil, fmt.Errorf("spool the report: %w", err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	hw := &hashWriter{w: spool, h: sha256.New()}
	if sw, ok := reports.(storedReportWriter); ok {
		// A stored copy carries the code it was first issued with.
		printed, err := sw.WriteStored(ctx, cs, hw, asJSON, base+"/verify/"+code)
		if err != nil {
			return nil, err
		}
		code = printed[strings.LastIndex(printed, "/")+1:]
	} else if err := reports.Write(ctx, cs, hw, asJSON, base+"/verify/"+code); err != nil {
		return nil, err
	}
	ir := &issuedReport{Code: code, Format: "pdf", SHA256: hex.EncodeToString(hw.h.Sum(nil)), Size: hw.n, Status: cs.Status}
	if asJSON {
		ir.Format = "json"
	}
	if _, err := db.RecordAudit(ctx, storage.Audit{CaseID: cs.ID, ActorID: currentUser(c).ID, Action: reportIssuedAction,
		Target: ir.Format, Data: ir}); err != nil {
		return nil, fmt.Errorf("record issued report: %w", err)
	}
	// On record: now it may go out.
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind the report: %w", err)
	}
	if _, err := io.Copy(w, spool); err != nil {
		return nil, fmt.Errorf("send the report: %w", err)
	}
	return ir, nil
}

// verifyAnswer is what /verify tells anyone: about the case and the one
// report, and nothing about the people (no names, company or address).
type verifyAnswer struct {
	Genuine    bool            `json:"genuine"`
	CaseNumber string          `json:"case_number"`
	PermitType verifyPermit    `json:"permit_type"`
	Status     domain.Status   `json:"status"`
	Decision   *verifyDecision `json:"decision"`
	Report     verifyReport    `json:"report"`
}

type verifyPermit struct {
	Code   string `json:"code"`
	NameZH string `json:"name_zh"`
	NameEN string `json:"name_en"`
}

type verifyDecision struct {
	Outcome         string     `json:"outcome"`
	DecidedAt       time.Time  `json:"decided_at"`
	CountersignedAt *time.Time `json:"countersigned_at"`
	// Final is true once the case is approved or rejected.
	Final bool `json:"final"`
}

type verifyReport struct {
	Format   string        `json:"format"`
	SHA256   string        `json:"sha256"`
	Size     int64         `json:"size"`
	IssuedAt time.Time     `json:"issued_at"`
	Status   domain.Status `json:"status_when_issued"`
}

// verifyStore is what /verify needs from the records: the audit events
// that hold issued reports and what the answer shows of their case.
type verifyStore interface {
	auditReader
	CaseCore(ctx context.Context, id string) (*domain.Case, error)
	Decisions(ctx context.Context, caseID string) ([]*domain.Decision, error)
	CasePermitType(ctx context.Context, c *domain.Case) (*domain.PermitType, error)
}

// handleVerify answers, without a login, whether a report with this code
// was issued, with the report's SHA-256 to compare. A code that was never
// issued is 404 "not found", the same as a malformed one.
func handleVerify(db verifyStore, lim *addressLimiter) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		c.Response().Header().Set("Vary", "Accept")
		if wait := lim.take(c.RealIP(), time.Now()); wait > 0 {
			c.Response().Header().Set("Retry-After", fmt.Sprint(max(1, int(math.Ceil(wait.Seconds())))))
			return newCodedError(http.StatusTooManyRequests, "rate_limited", "too many verification requests; try again shortly")
		}
		wantJSON := strings.Contains(c.Request().Header.Get(echo.HeaderAccept), echo.MIMEApplicationJSON)
		ans, err := lookupReport(c, db, c.Param("code"))
		if err != nil {
			return err
		}
		if ans == nil {
			if wantJSON {
				return newCodedError(http.StatusNotFound, "not_found", "not found")
			}
			return renderVerify(c, http.StatusNotFound, nil)
		}
		if wantJSON {
			return c.JSON(http.StatusOK, ans)
		}
		return renderVerify(c, http.StatusOK, ans)
	}
}

// lookupReport finds the issued report with this code; nil if there is none.
func lookupReport(c echo.Context, db verifyStore, code string) (*verifyAnswer, error) {
	ctx := c.Request().Context()
	m := verifyCodeRE.FindStringSubmatch(code)
	if m == nil {
		return nil, nil
	}
	cs, err := db.CaseCore(ctx, m[1])
	if errors.Is(err, domain.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	events, err := db.CaseAudit(ctx, cs.ID, 0, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	var found *issuedReport
	var at time.Time
	for _, e := range events {
		if e.Action != reportIssuedAction {
			continue
		}
		var ir issuedReport
		if json.Unmarshal(e.Data, &ir) != nil {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(ir.Code), []byte(code)) == 1 {
			found, at = &ir, e.At
			break
		}
	}
	if found == nil {
		return nil, nil
	}
	pt, err := db.CasePermitType(ctx, cs)
	if err != nil {
		return nil, err
	}
	ans := &verifyAnswer{Genuine: true, CaseNumber: cs.Number, Status: cs.Status,
		PermitType: verifyPermit{Code: pt.Code, NameZH: pt.Name.ZH, NameEN: pt.Name.EN},
		Report:     verifyReport{Format: found.Format, SHA256: found.SHA256, Size: found.Size, IssuedAt: at, Status: found.Status}}
	decisions, err := db.Decisions(ctx, cs.ID)
	if err != nil {
		return nil, err
	}
	if n := len(decisions); n > 0 {
		d := decisions[n-1]
		ans.Decision = &verifyDecision{Outcome: d.Outcome, DecidedAt: d.DecidedAt, CountersignedAt: d.CountersignedAt,
			Final: cs.Status == domain.StatusApproved || cs.Status == domain.StatusRejected}
	}
	return ans, nil
}

// verifyPage is the answer for a browser, in Chinese and English; the
// Content-Security-Policy allows no inline script or style, so it has none.
var verifyPage = template.Must(template.New("verify").Parse(`<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>报告核验 Report verification</title></head>
<body>
<h1>报告核验 Report verification</h1>
{{if .}}<p><strong>此报告由本机关签发。This report was issued by this office.</strong></p>
<p>请计算您所持报告文件的 SHA-256，并与下列值比对；一致即说明文件未被改动。<br>
Compute the SHA-256 of the report file you hold and compare it with the value below; if they match, the file is unchanged.</p>
<dl>
<dt>案件编号 Case number</dt><dd>{{.CaseNumber}}</dd>
<dt>许可类型 Permit type</dt><dd>{{.PermitType.NameZH}} {{.PermitType.NameEN}} ({{.PermitType.Code}})</dd>
<dt>案件状态 Case status</dt><dd>{{.Status}}</dd>
{{with .Decision}}<dt>决定 Decision</dt><dd>{{.Outcome}}{{if .Final}}（终局 final）{{else}}（待复核 not yet final）{{end}}</dd>
<dt>决定日期 Decided at</dt><dd>{{.DecidedAt.Format "2006-01-02 15:04 MST"}}</dd>
{{with .CountersignedAt}}<dt>复核日期 Countersigned at</dt><dd>{{.Format "2006-01-02 15:04 MST"}}</dd>{{end}}
{{else}}<dt>决定 Decision</dt><dd>尚无 none yet</dd>{{end}}
<dt>报告格式 Report format</dt><dd>{{.Report.Format}}</dd>
<dt>签发时间 Issued at</dt><dd>{{.Report.IssuedAt.Format "2006-01-02 15:04:05 MST"}}（案件状态 case status: {{.Report.Status}}）</dd>
<dt>大小 Size</dt><dd>{{.Report.Size}} bytes</dd>
<dt>SHA-256</dt><dd><code>{{.Report.SHA256}}</code></dd>
</dl>
{{else}}<p><strong>未找到。Not found.</strong></p>
<p>此核验码不对应本机关签发的任何报告。<br>This code matches no report issued by this office.</p>
{{end}}</body>
</html>
`))

func renderVerify(c echo.Context, status int, ans *verifyAnswer) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return verifyPage.Execute(c.Response(), ans)
}

// addressLimiter is a token bucket per key (a client address here, a live
// session's publish offers in live.go), in this process only: each replica
// limits on its own, which is enough to make trying 2^128 codes hopeless
// while a person checking reports never waits. (The login limit needs the
// database's shared counters; this does not.)
type addressLimiter struct {
	rate  float64 // tokens a second
	burst float64
	mu    sync.Mutex
	b     map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxLimiterAddresses bounds the map: past it, buckets that have filled
// up again (which behave exactly like absent ones) are dropped.
const maxLimiterAddresses = 10_000

func newAddressLimiter(rate float64, burst int) *addressLimiter {
	return &addressLimiter{rate: rate, burst: float64(burst), b: map[string]*bucket{}}
}

// take spends a token of addr's bucket; when there is none it returns how
// long until there is.
func (l *addressLimiter) take(addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.b[addr]
	if b == nil {
		if len(l.b) >= maxLimiterAddresses {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.b[addr] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return 0
}

func (l *addressLimiter) prune(now time.Time) {
	for k, b := range l.b {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.b, k)
		}
	}
}
