package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"siteinspect/domain"
	"siteinspect/storage/objects"
)

// The audit actions of retention: a legal hold set or lifted by an officer,
// and a case purged by the sweeper. The hold's state is its case's latest
// hold event, so the chain itself is the record of who held what and why.
const (
	AuditLegalHoldSet    = "case.legal_hold_set"
	AuditLegalHoldLifted = "case.legal_hold_lifted"
	AuditPurged          = "case.purged"
)

// Codes of the retention errors a person meets.
const (
	CodeHoldReasonRequired = "legal_hold_reason_required"
	CodeHoldAlreadySet     = "legal_hold_already_set"
	CodeHoldNotSet         = "legal_hold_not_set"
	CodeCasePurged         = "case_purged"
)

// LegalHold is a case's hold as its audit chain records it.
type LegalHold struct {
	On     bool      `json:"on"`
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at,omitzero"`
}

// Purge is a case's purge as its audit chain records it.
type Purge struct {
	At      time.Time `json:"at"`
	Removed int       `json:"removed"`
}

// holdData is the data of the hold events.
type holdData struct {
	Reason  string `json:"reason"`
	Objects int    `json:"objects"`
}

// LegalHold returns the case's hold: the latest set or lifted event.
func (d *DB) LegalHold(ctx context.Context, caseID string) (LegalHold, error) {
	return legalHold(ctx, d.sql, caseID)
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func legalHold(ctx context.Context, q rowQuerier, caseID string) (LegalHold, error) {
	var action string
	var actor sql.NullString
	var data string
	var at int64
	err := q.QueryRowContext(ctx, `SELECT action, actor_id, data, at FROM audit_events WHERE case_id = ? AND action IN (?, ?) ORDER BY seq DESC LIMIT 1`,
		caseID, AuditLegalHoldSet, AuditLegalHoldLifted).Scan(&action, &actor, &data, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return LegalHold{}, nil
	}
	if err != nil {
		return LegalHold{}, fmt.Errorf("legal hold of case %s: %w", caseID, err)
	}
	var hd holdData
	json.Unmarshal([]byte(data), &hd)
	return LegalHold{On: action == AuditLegalHoldSet, By: actor.String, Reason: hd.Reason, At: time.UnixMilli(at).UTC()}, nil
}

// Purged returns the case's purge, or nil while it has not been purged.
func (d *DB) Purged(ctx context.Context, caseID string) (*Purge, error) {
	var data string
	var at int64
	err := d.queryRow(ctx, `SELECT data, at FROM audit_events WHERE case_id = ? AND action = ? ORDER BY seq DESC LIMIT 1`,
		caseID, AuditPurged).Scan(&data, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("purge of case %s: %w", caseID, err)
	}
	p := &Purge{At: time.UnixMilli(at).UTC()}
	json.Unmarshal([]byte(data), p)
	return p, nil
}

// SetLegalHold records that actor set (on) or lifted the case's legal hold,
// for reason, over n originals; the policy's ActionLegalHold decides who may.
// Setting a held case's hold, or lifting one not set, is ErrConflict with
// its code; a purged case cannot be held (ErrGone).
func (d *DB) SetLegalHold(ctx context.Context, c *domain.Case, actor *domain.User, on bool, reason string, n int) (LegalHold, error) {
	if err := c.Authorize(actor, domain.ActionLegalHold); err != nil {
		return LegalHold{}, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return LegalHold{}, domain.Coded(domain.ErrInvalid, CodeHoldReasonRequired, "say why the hold is set or lifted (reason)")
	}
	if p, err := d.Purged(ctx, c.ID); err != nil {
		return LegalHold{}, err
	} else if p != nil {
		return LegalHold{}, domain.Coded(domain.ErrGone, CodeCasePurged, "the case's files were purged after their retention")
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	action := AuditLegalHoldLifted
	if on {
		action = AuditLegalHoldSet
	}
	err := d.tx(ctx, func(tx *wtx) error {
		// The case's row lock (and the policy again, on the case as it is
		// now) before the hold is read: a concurrent set or lift waits
		// here, then reads the event this one appends, so the trail
		// alternates set, lifted, … (on SQLite the writer lock already
		// does this).
		if err := lockCaseFor(ctx, tx, c.ID, actor, domain.ActionLegalHold); err != nil {
			return err
		}
		cur, err := legalHold(ctx, tx, c.ID)
		if err != nil {
			return err
		}
		switch {
		case on && cur.On:
			return domain.Coded(domain.ErrConflict, CodeHoldAlreadySet, "the case is already held")
		case !on && !cur.On:
			return domain.Coded(domain.ErrConflict, CodeHoldNotSet, "the case is not held")
		}
		_, err = appendAudit(ctx, tx, now, Audit{CaseID: c.ID, ActorID: actor.ID, Action: action, Data: holdData{Reason: reason, Objects: n}})
		return err
	})
	if err != nil {
		return LegalHold{}, fmt.Errorf("legal hold of case %s: %w", c.ID, err)
	}
	return LegalHold{On: on, By: actor.ID, Reason: reason, At: now}, nil
}

// OriginalKeys lists the object keys of the case's originals.
func (d *DB) OriginalKeys(ctx context.Context, caseID string) ([]string, error) {
	rows, err := d.query(ctx, `SELECT object_key FROM evidence WHERE case_id = ? ORDER BY created_at, id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("originals of case %s: %w", caseID, err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// withdrawnCase is a purge candidate.
type withdrawnCase struct {
	id, permitType string
	withdrawnAt    time.Time
}

// withdrawnCases lists the withdrawn cases that are not purged yet. A
// withdrawn case changes no more, so its updated_at is its withdrawal.
func (d *DB) withdrawnCases(ctx context.Context) ([]withdrawnCase, error) {
	rows, err := d.query(ctx, `SELECT id, permit_type, updated_at FROM cases c WHERE status = ?
		AND NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.case_id = c.id AND a.action = ?) ORDER BY updated_at`,
		domain.StatusWithdrawn, AuditPurged)
	if err != nil {
		return nil, fmt.Errorf("withdrawn cases: %w", err)
	}
	defer rows.Close()
	var out []withdrawnCase
	for rows.Next() {
		var w withdrawnCase
		var at int64
		if err := rows.Scan(&w.id, &w.permitType, &at); err != nil {
			return nil, err
		}
		w.withdrawnAt = time.UnixMilli(at).UTC()
		out = append(out, w)
	}
	return out, rows.Err()
}

// markPurged records the purge of a case (by the system: no actor).
func (d *DB) markPurged(ctx context.Context, caseID string, removed int) error {
	now := d.now().UTC().Truncate(time.Millisecond)
	return d.tx(ctx, func(tx *wtx) error {
		_, err := appendAudit(ctx, tx, now, Audit{CaseID: caseID, Action: AuditPurged, Data: Purge{At: now, Removed: removed}})
		return err
	})
}

// permitTypeOfCase is the permit type of a case, or ErrNotFound.
func (d *DB) permitTypeOfCase(ctx context.Context, caseID string) (string, error) {
	var pt string
	err := d.queryRow(ctx, `SELECT permit_type FROM cases WHERE id = ?`, caseID).Scan(&pt)
	return pt, notFound(err, "case "+caseID)
}

// Retention keeps every original for its retention period, holds the
// originals of a case under legal hold, and purges withdrawn cases once
// their retention has passed. Its Lock is the object store's
// RetentionFunc; set Objects after the store is opened.
type Retention struct {
	// DB holds the cases, their evidence and the hold and purge events.
	DB *DB
	// Objects is the object store; a Holder (MinIO with locking) gets the
	// legal holds on its objects, a Purger is purged by Sweep.
	Objects objects.ObjectStore
	// Default is how long originals are kept (--retention-days), unless
	// an admin set the office's retention (OfficeSettings of Office).
	Default time.Duration
	// Office is the office whose settings may override Default; "" uses
	// Default alone.
	Office string
	// ByPermitType overrides Default for a permit type's cases.
	ByPermitType map[string]time.Duration
	// Logger gets what Sweep does; nil discards it.
	Logger *slog.Logger
}

// Period is how long the originals of a permit type's cases are kept.
func (r *Retention) Period(permitType string) time.Duration {
	if d, ok := r.ByPermitType[permitType]; ok && d > 0 {
		return d
	}
	if r.Office != "" && r.DB != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if st, err := r.DB.OfficeSettings(ctx, r.Office); err == nil && st.RetentionDays > 0 {
			return time.Duration(st.RetentionDays) * 24 * time.Hour
		}
	}
	return r.Default
}

// Lock implements objects.RetentionFunc: an original is kept for its case's
// permit type's period from now, and held while its case is held.
func (r *Retention) Lock(ctx context.Context, key string) (objects.Lock, error) {
	caseID := objects.CaseOfKey(key)
	pt, err := r.DB.permitTypeOfCase(ctx, caseID)
	if err != nil {
		return objects.Lock{}, err
	}
	hold, err := r.DB.LegalHold(ctx, caseID)
	if err != nil {
		return objects.Lock{}, err
	}
	return objects.Lock{Until: time.Now().Add(r.Period(pt)), Hold: hold.On}, nil
}

// SetLegalHold sets (on) or lifts the case's legal hold: on a store that can
// hold objects, every original of the case is held or released, and the
// change is recorded in the audit chain with who and why. Objects are held
// before the record (a failure leaves them held, never unrecorded-free)
// and released after it; a lift of a case not held releases them too (and
// is refused), so a lift tried again after a failed release converges.
func (r *Retention) SetLegalHold(ctx context.Context, c *domain.Case, actor *domain.User, on bool, reason string) (LegalHold, error) {
	if err := c.Authorize(actor, domain.ActionLegalHold); err != nil {
		return LegalHold{}, err
	}
	keys, err := r.DB.OriginalKeys(ctx, c.ID)
	if err != nil {
		return LegalHold{}, err
	}
	holder := r.holder()
	apply := func(on bool) error {
		if holder == nil {
			return nil
		}
		for _, k := range keys {
			if err := holder.SetLegalHold(ctx, k, on); err != nil && !errors.Is(err, domain.ErrNotFound) {
				return err
			}
		}
		return nil
	}
	if on {
		if strings.TrimSpace(reason) == "" {
			return LegalHold{}, domain.Coded(domain.ErrInvalid, CodeHoldReasonRequired, "say why the hold is set or lifted (reason)")
		}
		if err := apply(true); err != nil {
			return LegalHold{}, err
		}
	}
	h, err := r.DB.SetLegalHold(ctx, c, actor, on, reason, len(keys))
	var se *domain.Error
	if !on && errors.As(err, &se) && se.Code == CodeHoldNotSet {
		// A lift recorded before its release failed (the store did not
		// answer) left originals held that no later lift would reach:
		// release them, and still tell that the case is not held.
		if rerr := apply(false); rerr != nil {
			return LegalHold{}, rerr
		}
	}
	if err != nil {
		return LegalHold{}, err
	}
	if !on {
		if err := apply(false); err != nil {
			return LegalHold{}, err
		}
	}
	return h, nil
}

// holder is the store's Holder when it can hold objects.
func (r *Retention) holder() objects.Holder {
	type locking interface{ Locking() bool }
	h, ok := r.Objects.(objects.Holder)
	if !ok {
		return nil
	}
	if l, ok := r.Objects.(locking); ok && !l.Locking() {
		return nil
	}
	return h
}

// Sweep purges the withdrawn cases whose retention has passed and that are
// not held: every object of the case (originals, derived files, every
// version) is deleted and the case's purge is recorded. A case is purged
// whole or not at all: when the store still keeps an original (its lock
// runs longer, e.g. a retention extended by hand), the case waits for a
// later sweep and is not marked purged. It returns how many cases it
// purged.
func (r *Retention) Sweep(ctx context.Context) (int, error) {
	purger, ok := r.Objects.(objects.Purger)
	if !ok {
		return 0, nil
	}
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cases, err := r.DB.withdrawnCases(ctx)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	purged := 0
	var errs []error
	for _, c := range cases {
		if now.Before(c.withdrawnAt.Add(r.Period(c.permitType))) {
			continue
		}
		hold, err := r.DB.LegalHold(ctx, c.id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if hold.On {
			continue
		}
		if ok, err := r.originalsExpired(ctx, c.id, now); err != nil || !ok {
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		res, err := purger.Purge(ctx, objects.CasePrefix(c.id))
		if err != nil {
			errs = append(errs, fmt.Errorf("purge case %s: %w", c.id, err))
			continue
		}
		if len(res.Kept) > 0 {
			log.Warn("purge: the store keeps objects of a case past its retention; retried at the next sweep",
				"case", c.id, "removed", res.Removed, "kept", res.Kept)
			continue
		}
		if err := r.DB.markPurged(ctx, c.id, res.Removed); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("purged a withdrawn case past its retention", "case", c.id, "objects", res.Removed)
		purged++
	}
	return purged, errors.Join(errs...)
}

// originalsExpired reports whether every original of the case is past the
// store's own retention date (a store that keeps none, the disk, always
// is); the sweep leaves the case whole until then.
func (r *Retention) originalsExpired(ctx context.Context, caseID string, now time.Time) (bool, error) {
	type retainer interface {
		RetainUntil(ctx context.Context, key string) (time.Time, error)
		LegalHold(ctx context.Context, key string) (bool, error)
	}
	rs, ok := r.Objects.(retainer)
	if !ok {
		return true, nil
	}
	keys, err := r.DB.OriginalKeys(ctx, caseID)
	if err != nil {
		return false, err
	}
	for _, k := range keys {
		until, err := rs.RetainUntil(ctx, k)
		if errors.Is(err, domain.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		if until.After(now) {
			return false, nil
		}
		if held, err := rs.LegalHold(ctx, k); err != nil || held {
			return false, err
		}
	}
	return true, nil
}

// DefaultRetention is --retention-days' default: six months, the least the
// rules on on-site enforcement recordings ask for (docs/SECURITY.md).
const DefaultRetention = 180 * 24 * time.Hour

// RetentionStatus is what GET /api/v1/cases/{id}/retention shows.
type RetentionStatus struct {
	// RetentionDays is how long the case's originals are kept.
	RetentionDays int `json:"retention_days"`
	// WORM says the object store enforces it (MinIO with object locking);
	// false means only siteinspect's own refusal does (docs/SECURITY.md).
	WORM bool `json:"worm"`
	// LegalHold is the case's hold.
	LegalHold LegalHold `json:"legal_hold"`
	// Purged is set once the sweeper removed the case's files.
	Purged *Purge `json:"purged"`
}

// Status tells the case's retention, hold and purge.
func (r *Retention) Status(ctx context.Context, c *domain.Case) (RetentionStatus, error) {
	type worm interface{ WORM() bool }
	st := RetentionStatus{RetentionDays: int(r.Period(c.PermitType) / (24 * time.Hour))}
	if w, ok := r.Objects.(worm); ok {
		st.WORM = w.WORM()
	}
	var err error
	if st.LegalHold, err = r.DB.LegalHold(ctx, c.ID); err != nil {
		return st, err
	}
	st.Purged, err = r.DB.Purged(ctx, c.ID)
	return st, err
}
