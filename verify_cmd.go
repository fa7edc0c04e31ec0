package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"siteinspect/domain"
	"siteinspect/server"
	"siteinspect/timestamp"
)

// runVerifyBundle checks a case bundle (GET /api/v1/cases/{id}/bundle.zip)
// offline: the case's audit events against their hashes and links, and
// every file against the manifest and against the SHA-256 its audit event
// recorded. It fails naming the first thing that does not hold.
func runVerifyBundle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", stderr)
	tsaCA := fs.String("tsa-ca", "", "PEM file of the time-stamping authority's CA: the tokens' signers are checked against it (without it, each token's signature and what it covers are still checked)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: siteinspect verify [--tsa-ca CA.pem] BUNDLE.zip")
	}
	var roots *x509.CertPool
	if *tsaCA != "" {
		var err error
		if roots, err = timestamp.LoadRoots(*tsaCA); err != nil {
			return fmt.Errorf("--tsa-ca: %w", err)
		}
	}
	zr, err := zip.OpenReader(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("open bundle: %w", err)
	}
	defer zr.Close()
	sum, err := verifyBundle(ctx, &zr.Reader, roots, stderr)
	if err != nil {
		return fmt.Errorf("bundle %s fails: %w", fs.Arg(0), err)
	}
	fmt.Fprintln(stdout, sum)
	return nil
}

// bundleFailure names the item of a bundle that failed a check.
type bundleFailure struct {
	Item   string
	Reason string
}

func (f *bundleFailure) Error() string { return f.Item + ": " + f.Reason }

func fail(item, format string, args ...any) error {
	return &bundleFailure{Item: item, Reason: fmt.Sprintf(format, args...)}
}

// bigBundle is the size past which the check reports its progress on
// stderr, every tenth of the way.
const bigBundle = 16 << 20

// verifyBundle runs the checks in the order that names the cause rather
// than a consequence: the manifest, the events' chain, the events file,
// then each file.
func verifyBundle(ctx context.Context, zr *zip.Reader, roots *x509.CertPool, stderr io.Writer) (string, error) {
	entries := map[string]*zip.File{}
	for _, f := range zr.File {
		if _, dup := entries[f.Name]; dup {
			return "", fail(f.Name, "appears twice in the archive")
		}
		entries[f.Name] = f
	}
	mf := entries[server.BundleManifestName]
	if mf == nil {
		return "", fail(server.BundleManifestName, "missing from the bundle")
	}
	raw, err := readEntry(mf)
	if err != nil {
		return "", err
	}
	var m server.BundleManifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return "", fail(server.BundleManifestName, "not a valid manifest: %v", err)
	}
	if m.Format != server.BundleFormat {
		return "", fail(server.BundleManifestName, "format %q, want %q", m.Format, server.BundleFormat)
	}
	listed := map[string]server.BundleFile{}
	var total int64
	for _, f := range m.Files {
		if _, dup := listed[f.Path]; dup {
			return "", fail(server.BundleManifestName, "lists %s twice", f.Path)
		}
		listed[f.Path] = f
		total += f.Size
	}
	for _, f := range zr.File {
		if _, ok := listed[f.Name]; !ok && f.Name != server.BundleManifestName {
			return "", fail(f.Name, "in the bundle but not in %s", server.BundleManifestName)
		}
	}

	// The events: each one's hash, their order and, where they are
	// consecutive in the office's chain, their links.
	ef, ok := listed[server.BundleEventsName]
	if !ok || entries[server.BundleEventsName] == nil {
		return "", fail(server.BundleEventsName, "missing from the bundle")
	}
	evRaw, err := readEntry(entries[server.BundleEventsName])
	if err != nil {
		return "", err
	}
	recorded, err := checkEvents(evRaw, &m)
	if err != nil {
		return "", err
	}
	if got := bundleSHA256(evRaw); got != ef.SHA256 || int64(len(evRaw)) != ef.Size {
		return "", fail(server.BundleManifestName, "the entry for %s says %d bytes, SHA-256 %s; the file has %d bytes, SHA-256 %s",
			server.BundleEventsName, ef.Size, ef.SHA256, len(evRaw), got)
	}

	p := &progress{w: stderr, total: total}
	for _, f := range m.Files {
		if f.Path == server.BundleEventsName {
			p.add(f.Size)
			continue
		}
		if err := ctx.Err(); err != nil {
			return "", err
		}
		ze := entries[f.Path]
		if ze == nil {
			return "", fail(f.Path, "listed in %s but missing from the bundle", server.BundleManifestName)
		}
		size, got, err := hashEntry(ze, p)
		if err != nil {
			return "", err
		}
		var want, source string
		switch {
		case f.EvidenceID != "":
			want, source = recorded.evidence[f.EvidenceID], "evidence "+f.EvidenceID
		case f.ReportCode != "":
			want, source = recorded.reports[f.ReportCode], "report "+f.ReportCode
		}
		if source != "" && want == "" {
			return "", fail(f.Path, "no audit event in %s records the SHA-256 of %s", server.BundleEventsName, source)
		}
		if got != f.SHA256 || size != f.Size {
			if want != "" && got == want {
				return "", fail(server.BundleManifestName, "the entry for %s says %d bytes, SHA-256 %s; the file and its audit event say %d bytes, SHA-256 %s",
					f.Path, f.Size, f.SHA256, size, got)
			}
			return "", fail(f.Path, "%d bytes, SHA-256 %s; %s says %d bytes, SHA-256 %s", size, got, server.BundleManifestName, f.Size, f.SHA256)
		}
		if want != "" && got != want {
			return "", fail(f.Path, "SHA-256 %s, but the audit event of %s recorded %s", got, source, want)
		}
	}
	p.finish()
	if err := checkReportHead(entries["report.json"], recorded); err != nil {
		return "", err
	}
	stamps, err := checkTimestamps(entries, listed, &m, recorded, roots)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("bundle intact: case %s, %d files (%d bytes) match the manifest and their audit events; %d events, head %d %s; %s",
		m.CaseNumber, len(m.Files), total, m.Events.Count, m.Events.HeadSeq, m.Events.HeadHash, stamps), nil
}

// checkTimestamps checks each time-stamp token of the bundle: that it
// covers what the manifest says (an original's SHA-256 as its audit event
// recorded it, or an audit event's hash as events.jsonl holds it), that its
// signature holds, and, with roots, that its signer chains to the TSA's CA
// at the time it vouches for. Each token file was already checked against
// the manifest.
func checkTimestamps(entries map[string]*zip.File, listed map[string]server.BundleFile, m *server.BundleManifest, rec *recordedHashes, roots *x509.CertPool) (string, error) {
	for _, ts := range m.Timestamps {
		if _, ok := listed[ts.Path]; !ok || entries[ts.Path] == nil {
			return "", fail(ts.Path, "a time-stamp the manifest names but the bundle does not hold")
		}
		var want, what string
		switch ts.Kind {
		case domain.TimestampEvidence, domain.TimestampRecording:
			want, what = rec.evidence[ts.EvidenceID], "evidence "+ts.EvidenceID
		case domain.TimestampAuditHead:
			want, what = rec.events[ts.AuditSeq], fmt.Sprintf("audit event %d", ts.AuditSeq)
		default:
			return "", fail(ts.Path, "covers %q, a kind this program does not know", ts.Kind)
		}
		if want == "" {
			return "", fail(ts.Path, "covers %s, which the bundle's events do not record", what)
		}
		if ts.Digest != want {
			return "", fail(ts.Path, "the manifest says it covers %s, but %s is %s", ts.Digest, what, want)
		}
		token, err := readEntry(entries[ts.Path])
		if err != nil {
			return "", err
		}
		digest, err := hex.DecodeString(want)
		if err != nil {
			return "", fail(ts.Path, "the hash it covers is not hex: %v", err)
		}
		var info timestamp.Info
		if roots != nil {
			info, err = timestamp.Verify(token, digest, roots)
		} else {
			info, err = timestamp.VerifyIntegrity(token, digest)
		}
		if err != nil {
			return "", fail(ts.Path, "the time-stamp token over %s does not hold: %v", what, err)
		}
		if !info.GenTime.Truncate(time.Millisecond).Equal(ts.GenTime.Truncate(time.Millisecond)) {
			return "", fail(ts.Path, "vouches for %s, the manifest says %s", info.GenTime.UTC().Format(time.RFC3339), ts.GenTime.Format(time.RFC3339))
		}
	}
	switch {
	case len(m.Timestamps) == 0:
		return "no time-stamp tokens", nil
	case roots == nil:
		return fmt.Sprintf("%d time-stamp tokens hold (their signers not checked: give --tsa-ca)", len(m.Timestamps)), nil
	}
	return fmt.Sprintf("%d time-stamp tokens hold, signed under the given TSA CA", len(m.Timestamps)), nil
}

// recordedHashes are the SHA-256s that the audit events recorded: of each
// piece of evidence when it joined the case, of each report when issued.
type recordedHashes struct {
	evidence map[string]string // evidence id → sha256
	reports  map[string]string // report code → sha256
	events   map[int64]string  // seq → hash of each event in the bundle
}

// checkEvents checks events.jsonl and gathers the hashes it records. The
// case's events are a subsequence of the office's chain: each is checked
// against its own hash (which covers its prev_hash), and the link to the
// previous one where the two are adjacent in the chain. Links across other
// cases' events can be checked only against the office's whole chain
// (`siteinspect audit verify`), or against the head printed on the report.
func checkEvents(raw []byte, m *server.BundleManifest) (*recordedHashes, error) {
	rec := &recordedHashes{evidence: map[string]string{}, reports: map[string]string{}, events: map[int64]string{}}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var prev *domain.AuditEvent
	n := 0
	for sc.Scan() {
		n++
		var e domain.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fail(fmt.Sprintf("%s line %d", server.BundleEventsName, n), "not a valid event: %v", err)
		}
		item := fmt.Sprintf("%s event %d (line %d)", server.BundleEventsName, e.Seq, n)
		switch {
		case e.ComputeHash() != e.Hash:
			return nil, fail(item, "content does not match its hash (the event was altered)")
		case e.CaseID != m.CaseID:
			return nil, fail(item, "belongs to case %q, not %q", e.CaseID, m.CaseID)
		case prev != nil && e.Seq <= prev.Seq:
			return nil, fail(item, "out of order after event %d", prev.Seq)
		case prev != nil && e.Seq == prev.Seq+1 && e.PrevHash != prev.Hash:
			return nil, fail(item, "prev_hash does not match event %d's hash", prev.Seq)
		case prev == nil && e.Seq == 1 && e.PrevHash != domain.GenesisHash:
			return nil, fail(item, "the chain's first event must follow the genesis hash")
		}
		var d struct {
			SHA256 string `json:"sha256"`
			Code   string `json:"code"`
		}
		_ = json.Unmarshal(e.Data, &d) // events without these fields record nothing here
		switch {
		case e.Action == "report.issued" && d.Code != "":
			rec.reports[d.Code] = d.SHA256
		case strings.HasPrefix(e.Action, "evidence.") && e.Target != "" && d.SHA256 != "":
			rec.evidence[e.Target] = d.SHA256
		}
		rec.events[e.Seq] = e.Hash
		prev = &e
	}
	if err := sc.Err(); err != nil {
		return nil, fail(server.BundleEventsName, "cannot be read: %v", err)
	}
	if n != m.Events.Count {
		return nil, fail(server.BundleManifestName, "says %d events; %s has %d", m.Events.Count, server.BundleEventsName, n)
	}
	if prev != nil && (prev.Seq != m.Events.HeadSeq || prev.Hash != m.Events.HeadHash) {
		return nil, fail(server.BundleManifestName, "says the events end at %d %s; %s ends at %d %s",
			m.Events.HeadSeq, m.Events.HeadHash, server.BundleEventsName, prev.Seq, prev.Hash)
	}
	return rec, nil
}

func readEntry(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fail(f.Name, "cannot be opened: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<30))
	if err != nil {
		return nil, fail(f.Name, "cannot be read: %v", err)
	}
	return b, nil
}

// hashEntry streams a file of the archive through SHA-256.
func hashEntry(f *zip.File, p *progress) (int64, string, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, "", fail(f.Name, "cannot be opened: %v", err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(h, p), rc)
	if err != nil {
		if errors.Is(err, zip.ErrChecksum) {
			return 0, "", fail(f.Name, "damaged in the archive (its zip CRC-32 does not match)")
		}
		return 0, "", fail(f.Name, "cannot be read: %v", err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

func bundleSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// progress reports on stderr, for a big bundle, how much has been checked.
type progress struct {
	w           io.Writer
	total, done int64
	shown       int64 // tenths reported
}

func (p *progress) Write(b []byte) (int, error) {
	p.add(int64(len(b)))
	return len(b), nil
}

func (p *progress) add(n int64) {
	p.done += n
	if p.total < bigBundle {
		return
	}
	if tenth := p.done * 10 / p.total; tenth > p.shown {
		p.shown = tenth
		fmt.Fprintf(p.w, "verify: %d of %d MiB checked (%d%%)\n", p.done>>20, p.total>>20, p.done*100/p.total)
	}
}

func (p *progress) finish() {
	if p.total >= bigBundle && p.shown < 10 {
		fmt.Fprintf(p.w, "verify: %d of %d MiB checked (100%%)\n", p.total>>20, p.total>>20)
	}
}

// checkReportHead ties the report to the events: the audit head that
// report.json names (the case's newest event when it was made) must be one
// of the bundle's events, with that hash.
func checkReportHead(f *zip.File, rec *recordedHashes) error {
	if f == nil {
		return nil
	}
	raw, err := readEntry(f)
	if err != nil {
		return err
	}
	var r struct {
		Seq  int64  `json:"audit_head_seq"`
		Hash string `json:"audit_head_hash"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return fail(f.Name, "not valid JSON: %v", err)
	}
	if r.Seq == 0 {
		return nil // a case without events yet
	}
	if got, ok := rec.events[r.Seq]; !ok || got != r.Hash {
		return fail(f.Name, "its audit head, event %d %s, is not among the events of %s", r.Seq, r.Hash, server.BundleEventsName)
	}
	return nil
}
