package storage

import (
	"context"
	"database/sql"
	"fmt"
	"siteinspect/domain"
	"strings"
	"time"
)

// CreateCase opens a draft case for the applicant in office, numbered
// PREFIX-YEAR-NNNNNN from a per-year counter.
func (d *DB) CreateCase(ctx context.Context, applicant *domain.User, office, prefix string, loc *time.Location, in domain.NewCase) (*domain.Case, error) {
	if applicant.Role != domain.RoleApplicant {
		return nil, domain.Coded(domain.ErrForbidden, "applicants_only", "only applicants open cases")
	}
	for _, f := range []struct {
		name, v string
		req     bool
		max     int
	}{{"site_name", in.SiteName, true, 200}, {"site_address", in.SiteAddress, true, 500}, {"description", in.Description, false, 5000}, {"permit_type", in.PermitType, true, 64}} {
		if err := domain.CheckText(f.name, f.v, f.req, f.max); err != nil {
			return nil, err
		}
	}
	if (in.SiteLat == nil) != (in.SiteLon == nil) ||
		in.SiteLat != nil && (*in.SiteLat < -90 || *in.SiteLat > 90 || *in.SiteLon < -180 || *in.SiteLon > 180) {
		return nil, domain.Coded(domain.ErrInvalid, "site_coordinates_invalid", "site_lat and site_lon go together, within ±90 and ±180 degrees")
	}
	if in.CreditCode != "" {
		code, err := domain.CheckCreditCode(in.CreditCode)
		if err != nil {
			return nil, err
		}
		in.CreditCode = code
	}
	if err := domain.CheckText("contact_name", in.ContactName, false, 100); err != nil {
		return nil, err
	}
	in.ContactName = strings.TrimSpace(in.ContactName)
	if in.ContactPhone != "" {
		phone, err := domain.CheckContactPhone(in.ContactPhone)
		if err != nil {
			return nil, err
		}
		in.ContactPhone = phone
	}
	pt, err := d.PermitType(ctx, in.PermitType)
	if err != nil {
		return nil, domain.Coded(domain.ErrInvalid, "unknown_permit_type", fmt.Sprintf("unknown permit type %q", in.PermitType))
	}
	if pt.RetiredAt != nil {
		return nil, domain.Coded(domain.ErrInvalid, domain.CodePermitTypeRetired, fmt.Sprintf("permit type %q takes no new applications", in.PermitType))
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	id := domain.NewID()
	year := now.In(loc).Year()
	err = d.tx(ctx, func(tx *wtx) error {
		if err := d.dialect.LockCompany(ctx, tx.Tx, applicant.Org); err != nil {
			return err
		}
		if err := d.checkCompanyCases(ctx, tx, applicant.Org, now); err != nil {
			return err
		}
		var seq int64
		err := tx.QueryRowContext(ctx, `INSERT INTO case_counters (prefix, year, last) VALUES (?, ?, 1)
			ON CONFLICT (prefix, year) DO UPDATE SET last = case_counters.last + 1 RETURNING last`, prefix, year).Scan(&seq)
		if err != nil {
			return fmt.Errorf("next case number: %w", err)
		}
		number := fmt.Sprintf("%s-%d-%06d", prefix, year, seq)
		// The case keeps the version current now (a version published
		// meanwhile by another replica may be up to permitTypeCacheTTL
		// newer): docs/CATALOGUE.md.
		_, err = tx.ExecContext(ctx, `INSERT INTO cases (id, number, office, permit_type, permit_version, status, applicant_id, applicant_org, site_name, site_address, site_lat, site_lon, description, created_at, updated_at, credit_code, contact_name, contact_phone)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, number, office, in.PermitType, pt.Version, string(domain.StatusDraft), applicant.ID, applicant.Org,
			strings.TrimSpace(in.SiteName), strings.TrimSpace(in.SiteAddress), in.SiteLat, in.SiteLon, in.Description, ms(now), ms(now),
			in.CreditCode, in.ContactName, in.ContactPhone)
		if err != nil {
			return err
		}
		_, err = appendAudit(ctx, tx, now, Audit{CaseID: id, ActorID: applicant.ID, Action: "case.created",
			Data: map[string]any{"number": number, "permit_type": in.PermitType, "permit_version": pt.Version, "site_name": in.SiteName, "site_address": in.SiteAddress,
				"credit_code": in.CreditCode, "contact_name": in.ContactName, "contact_phone": in.ContactPhone}})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create case: %w", err)
	}
	return d.Case(ctx, id)
}

// SetCompanyDailyCases sets how many cases a company may open in 24 hours,
// over all its applicants; n < 1 keeps the default.
func (d *DB) SetCompanyDailyCases(n int) {
	if n > 0 {
		d.companyDailyCases = n
	}
}

// checkCompanyCases refuses a case when the applicant's company opened
// companyDailyCases cases in the 24 hours before now: each takes the
// office's next case number, drafts too, and lands in every officer's
// search. It runs in the transaction that takes the number, under the
// company's lock (Dialect.LockCompany), so the bound is exact on every
// database, however many replicas take creations at once. The refusal's
// Retry-After is when the oldest of those cases leaves the 24 hours.
func (d *DB) checkCompanyCases(ctx context.Context, tx *wtx, org string, now time.Time) error {
	var n int
	var oldest sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at) FROM cases WHERE applicant_org = ? AND created_at > ?`,
		org, ms(now.Add(-24*time.Hour))).Scan(&n, &oldest)
	if err != nil {
		return fmt.Errorf("case quota: %w", err)
	}
	if n < d.companyDailyCases {
		return nil
	}
	return &domain.Error{Kind: domain.ErrTooMany, Code: domain.CodeCaseQuotaExceeded,
		Message:    fmt.Sprintf("the company opened %d cases in the last 24 hours; at most %d are allowed", n, d.companyDailyCases),
		RetryAfter: max(time.UnixMilli(oldest.Int64).Add(24*time.Hour).Sub(now), time.Second)}
}

const (
	// caseColumns: the applicant's company is the one the case was filed
	// by (cases.applicant_org), which the statements' rules read too
	// (visibilitySQL, grantSQL), not the applicant's company now.
	caseColumns = `SELECT c.id, c.number, c.office, c.permit_type, c.status, c.site_name, c.site_address, c.site_lat, c.site_lon, c.description,
	c.created_at, c.updated_at, c.submitted_at, c.due_at, c.owed_closed_at, c.permit_version, c.credit_code, c.contact_name, c.contact_phone, c.unit_id,
	c.urgent_reason, c.urgent_hours, c.urgent_set_at, c.urgent_until,
	a.id, a.username, a.display_name, c.applicant_org,
	i.id, i.username, i.display_name, i.org,
	r.id, r.username, r.display_name, r.org,
	`
	caseFrom = `
	FROM cases c
	JOIN users a ON a.id = c.applicant_id
	LEFT JOIN users i ON i.id = c.inspector_id
	LEFT JOIN users r ON r.id = c.reviewer_id`
	caseSelect = caseColumns + `(SELECT COUNT(*) FROM evidence e WHERE e.case_id = c.id AND e.removed_at IS NULL),
	(SELECT COUNT(*) FROM owed_items o WHERE o.case_id = c.id AND o.fulfilled_at IS NULL),
	(SELECT MIN(o.due_at) FROM owed_items o WHERE o.case_id = c.id AND o.fulfilled_at IS NULL AND o.evidence_id IS NULL)` + caseFrom
	// caseCoreSelect is caseSelect without the counts of evidence and owed
	// items, which cost three subqueries.
	caseCoreSelect = caseColumns + `0, 0, NULL` + caseFrom
)

func scanCase(row scanner) (*domain.Case, error) {
	var c domain.Case
	var created, updated int64
	var submitted, due sql.NullInt64
	var a domain.UserRef
	var i, r [4]sql.NullString
	var lat, lon sql.NullFloat64
	var owedDue, owedClosed sql.NullInt64
	var unit sql.NullString
	var urgentReason string
	var urgentHours, urgentSet, urgentUntil sql.NullInt64
	err := row.Scan(&c.ID, &c.Number, &c.Office, &c.PermitType, &c.Status, &c.SiteName, &c.SiteAddress, &lat, &lon, &c.Description,
		&created, &updated, &submitted, &due, &owedClosed, &c.PermitVersion, &c.CreditCode, &c.ContactName, &c.ContactPhone, &unit,
		&urgentReason, &urgentHours, &urgentSet, &urgentUntil,
		&a.ID, &a.Username, &a.DisplayName, &a.Org,
		&i[0], &i[1], &i[2], &i[3], &r[0], &r[1], &r[2], &r[3], &c.EvidenceCount, &c.OwedOpen, &owedDue)
	if err != nil {
		return nil, err
	}
	c.CreatedAt = time.UnixMilli(created).UTC()
	c.UpdatedAt = time.UnixMilli(updated).UTC()
	c.SubmittedAt, c.DueAt = fromMS(submitted), fromMS(due)
	c.Applicant = &a
	c.UnitID = unit.String
	c.OwedDueAt, c.OwedClosedAt = fromMS(owedDue), fromMS(owedClosed)
	if lat.Valid && lon.Valid {
		c.SiteLat, c.SiteLon = &lat.Float64, &lon.Float64
	}
	c.Inspector, c.Reviewer = refFrom(i), refFrom(r)
	if urgentSet.Valid {
		set := time.UnixMilli(urgentSet.Int64).UTC()
		c.Urgent = &domain.Urgent{Reason: urgentReason, TargetHours: int(urgentHours.Int64), SetAt: set,
			TargetAt: set.Add(time.Duration(urgentHours.Int64) * time.Hour), Active: urgentUntil.Valid}
	}
	return &c, nil
}

func refFrom(v [4]sql.NullString) *domain.UserRef {
	if !v[0].Valid {
		return nil
	}
	return &domain.UserRef{ID: v[0].String, Username: v[1].String, DisplayName: v[2].String, Org: v[3].String}
}

// Case returns one case or ErrNotFound. It does not check who is asking:
// callers apply VisibleTo.
func (d *DB) Case(ctx context.Context, id string) (*domain.Case, error) {
	c, err := scanCase(d.queryRow(ctx, caseSelect+` WHERE c.id = ?`, id))
	return c, notFound(err, "case "+id)
}

// CaseCore is Case without EvidenceCount, OwedOpen and OwedDueAt (left
// zero): enough to check who may see and work on the case, for the hot
// paths that do not show the case itself.
func (d *DB) CaseCore(ctx context.Context, id string) (*domain.Case, error) {
	c, err := scanCase(d.queryRow(ctx, caseCoreSelect+` WHERE c.id = ?`, id))
	return c, notFound(err, "case "+id)
}

// ListCases returns the cases u may see (the same rule as VisibleTo, in
// SQL), optionally only those with the given status, urgent first (soonest
// target first), then soonest due.
func (d *DB) ListCases(ctx context.Context, u *domain.User, status domain.Status, limit int) ([]*domain.Case, error) {
	cond, args := visibilitySQL(u)
	where := []string{cond}
	if status != "" {
		where = append(where, `c.status = ?`)
		args = append(args, string(status))
	}
	q := caseSelect
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY COALESCE(c.urgent_until - 4611686018427387904, c.due_at, 9223372036854775807), c.created_at DESC LIMIT ?`
	args = append(args, limit)
	return queryAll(ctx, d, "list cases", scanCase, q, args...)
}

// moveCase changes status from → to inside tx for actor's action, failing
// with ErrInvalidState when the lifecycle forbids it or another request
// moved the case first, and with the policy's refusal when actor lost
// their relation to the case meanwhile (an inspector replaced by an admin
// since the case was read): the statement that moves the case checks both
// (grantSQL), on the row it locks.
func moveCase(ctx context.Context, tx *wtx, c *domain.Case, actor *domain.User, action domain.Action, to domain.Status, now time.Time, data map[string]any, extra string, extraArgs ...any) error {
	if !domain.CanMove(c.Status, to) {
		return domain.Coded(domain.ErrInvalidState, "status_change_refused", fmt.Sprintf("a %s case cannot become %s", c.Status, to))
	}
	cond, condArgs := grantSQL(actor, action)
	args := append([]any{string(to), ms(now)}, extraArgs...)
	args = append(append(args, c.ID, string(c.Status)), condArgs...)
	res, err := tx.ExecContext(ctx, `UPDATE cases AS c SET status = ?, updated_at = ?`+extra+` WHERE c.id = ? AND c.status = ? AND `+cond, args...)
	if err != nil {
		return fmt.Errorf("update case %s: %w", c.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		now, err := caseInTx(ctx, tx, c.ID)
		if err != nil {
			return err
		}
		if now.Status != c.Status {
			return errCaseChanged
		}
		return refusalOn(now, actor, action)
	}
	if data == nil {
		data = map[string]any{}
	}
	data["from"], data["to"] = string(c.Status), string(to)
	_, err = appendAudit(ctx, tx, now, Audit{CaseID: c.ID, ActorID: actor.ID, Action: "case.status", Data: data})
	return err
}

// SubmitCase moves a draft or supplement_requested case to submitted and
// sets its due time from the permit type's target. The case must hold at
// least one evidence item: an inspection with nothing to inspect is not a
// submission.
func (d *DB) SubmitCase(ctx context.Context, c *domain.Case, actor *domain.User, loc *time.Location) (*domain.Case, error) {
	if err := c.Authorize(actor, domain.ActionSubmit); err != nil {
		return nil, err
	}
	if c.EvidenceCount == 0 {
		return nil, domain.Coded(domain.ErrInvalidState, "no_evidence", "upload at least one video, photo or PDF before submitting")
	}
	pt, err := d.CasePermitType(ctx, c)
	if err != nil {
		return nil, err
	}
	var commitment *domain.Commitment
	if pt.SlotsRequired && c.Status == domain.StatusDraft {
		if commitment, err = d.Commitment(ctx, c.ID); err != nil {
			return nil, err
		}
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	due := domain.DueAt(now, pt.TargetDays, loc)
	err = d.tx(ctx, func(tx *wtx) error {
		if c.Status == domain.StatusDraft {
			if err := checkSlots(ctx, tx, c.ID, pt, commitment); err != nil {
				return err
			}
		}
		if c.Status == domain.StatusSupplementRequested {
			// Resubmitting answers the supplement request.
			if _, err := tx.ExecContext(ctx, `UPDATE owed_items SET fulfilled_at = ? WHERE case_id = ? AND fulfilled_at IS NULL`, ms(now), c.ID); err != nil {
				return err
			}
		}
		return moveCase(ctx, tx, c, actor, domain.ActionSubmit, domain.StatusSubmitted, now, map[string]any{"due_at": due.Format(time.RFC3339)}, `, submitted_at = ?, due_at = ?`, ms(now), ms(due))
	})
	if err != nil {
		return nil, err
	}
	return d.Case(ctx, c.ID)
}

// WithdrawCase moves a draft or submitted case to withdrawn.
func (d *DB) WithdrawCase(ctx context.Context, c *domain.Case, actor *domain.User) (*domain.Case, error) {
	if err := c.Authorize(actor, domain.ActionWithdraw); err != nil {
		return nil, err
	}
	now := d.now().UTC()
	// A withdrawn case leaves the queue, urgent or not.
	if err := d.tx(ctx, func(tx *wtx) error {
		return moveCase(ctx, tx, c, actor, domain.ActionWithdraw, domain.StatusWithdrawn, now, nil, `, urgent_until = NULL`)
	}); err != nil {
		return nil, err
	}
	return d.Case(ctx, c.ID)
}
