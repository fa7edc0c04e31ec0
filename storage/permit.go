package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"siteinspect/domain"
	"strconv"
	"time"
)

const permitColumns = `code, name_zh, name_en, commitment_allowed, supplement_days, target_days, checklist, materials, version, slots_required`

// PermitTypes returns the catalogue's current versions in display order,
// retired types included (with RetiredAt): a case of a retired type still
// needs its type's name.
func (d *DB) PermitTypes(ctx context.Context) ([]domain.PermitType, error) {
	rows, err := d.query(ctx, `SELECT `+permitColumns+`, retired_at FROM permit_types ORDER BY position, code`)
	if err != nil {
		return nil, fmt.Errorf("list permit types: %w", err)
	}
	defer rows.Close()
	var out []domain.PermitType
	for rows.Next() {
		p, err := scanPermitType(rows, true)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

// PermitType returns the current version of one type, or ErrNotFound. It
// is cached (see permitTypeCacheTTL): a version published through this DB
// shows at once, one published by another replica within the TTL. Callers
// must not modify the slices of the type they get.
func (d *DB) PermitType(ctx context.Context, code string) (*domain.PermitType, error) {
	if p, ok := d.cache.permit(code); ok {
		return p, nil
	}
	p, err := scanPermitType(d.queryRow(ctx, `SELECT `+permitColumns+`, retired_at FROM permit_types WHERE code = ?`, code), true)
	if err != nil {
		return nil, notFound(err, "permit type "+code)
	}
	d.cache.putPermit(code, p)
	return p, nil
}

// PermitTypeVersion returns one published version of a type, or
// ErrNotFound. Versions never change once published, so they are cached
// like the current ones. RetiredAt is left nil: it belongs to the type.
func (d *DB) PermitTypeVersion(ctx context.Context, code string, version int) (*domain.PermitType, error) {
	key := code + "@" + strconv.Itoa(version)
	if p, ok := d.cache.permit(key); ok {
		return p, nil
	}
	p, err := scanPermitType(d.queryRow(ctx, `SELECT `+permitColumns+` FROM permit_type_versions WHERE code = ? AND version = ?`, code, version), false)
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("permit type %s version %d", code, version))
	}
	d.cache.putPermit(key, p)
	return p, nil
}

// CasePermitType is the version of its permit type that c was opened with:
// what its checklist, findings, decision and report go by.
func (d *DB) CasePermitType(ctx context.Context, c *domain.Case) (*domain.PermitType, error) {
	v := c.PermitVersion
	if v == 0 {
		v = 1 // a Case built by hand rather than read
	}
	return d.PermitTypeVersion(ctx, c.PermitType, v)
}

// Catalogue returns every type with all its versions, newest first, for
// the admins' catalogue page.
func (d *DB) Catalogue(ctx context.Context) ([]domain.CatalogueEntry, error) {
	types, err := d.PermitTypes(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := d.query(ctx, `SELECT `+permitColumns+`, created_at, created_by FROM permit_type_versions ORDER BY code, version DESC`)
	if err != nil {
		return nil, fmt.Errorf("list permit type versions: %w", err)
	}
	defer rows.Close()
	byCode := map[string][]domain.PermitTypeVersion{}
	var ids []string
	for rows.Next() {
		var v domain.PermitTypeVersion
		var at int64
		var by sql.NullString
		p, err := scanPermitType(rows, false, &at, &by)
		if err != nil {
			return nil, err
		}
		v.PermitType, v.CreatedAt = *p, time.UnixMilli(at).UTC()
		if by.Valid {
			v.CreatedBy = &domain.UserRef{ID: by.String}
			ids = append(ids, by.String)
		}
		byCode[p.Code] = append(byCode[p.Code], v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list permit type versions: %w", err)
	}
	refs, err := d.userRefs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]domain.CatalogueEntry, 0, len(types))
	for _, t := range types {
		vs := byCode[t.Code]
		for i := range vs {
			if vs[i].CreatedBy != nil && refs[vs[i].CreatedBy.ID] != nil {
				vs[i].CreatedBy = refs[vs[i].CreatedBy.ID]
			}
		}
		if vs == nil {
			vs = []domain.PermitTypeVersion{}
		}
		out = append(out, domain.CatalogueEntry{Current: t, Versions: vs})
	}
	return out, nil
}

func scanPermitType(row scanner, withRetired bool, extra ...any) (*domain.PermitType, error) {
	var p domain.PermitType
	var commitment, slots int
	var checklist, materials string
	var retired sql.NullInt64
	dest := []any{&p.Code, &p.Name.ZH, &p.Name.EN, &commitment, &p.SupplementDays, &p.TargetDays, &checklist, &materials, &p.Version, &slots}
	if withRetired {
		dest = append(dest, &retired)
	}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	p.CommitmentAllowed, p.SlotsRequired = commitment != 0, slots != 0
	p.RetiredAt = fromMS(retired)
	if err := json.Unmarshal([]byte(checklist), &p.Checklist); err != nil {
		return nil, fmt.Errorf("permit type %s checklist: %w", p.Code, err)
	}
	if err := json.Unmarshal([]byte(materials), &p.Materials); err != nil {
		return nil, fmt.Errorf("permit type %s materials: %w", p.Code, err)
	}
	return &p, nil
}

// insertVersion records p (its Code and Version set) in the history.
func insertVersion(ctx context.Context, tx *wtx, p *domain.PermitType, now time.Time, by string) error {
	cl, err := json.Marshal(p.Checklist)
	if err != nil {
		return err
	}
	mt, err := json.Marshal(p.Materials)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO permit_type_versions (code, version, name_zh, name_en, commitment_allowed, supplement_days, target_days, checklist, materials, created_at, created_by, slots_required)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Code, p.Version, p.Name.ZH, p.Name.EN, boolInt(p.CommitmentAllowed), p.SupplementDays, p.TargetDays, string(cl), string(mt), ms(now), nullString(by), boolInt(p.SlotsRequired))
	if err != nil {
		return fmt.Errorf("record permit type %s version %d: %w", p.Code, p.Version, err)
	}
	return nil
}

// SeedPermitTypes inserts the built-in catalogue, as version 1 of each
// type, when the table is empty, so that an admin's later edits are never
// overwritten on restart.
func (d *DB) SeedPermitTypes(ctx context.Context) error {
	defer d.cache.dropPermits()
	return d.tx(ctx, func(tx *wtx) error {
		// Replicas starting together seed once.
		if err := d.dialect.LockMigrations(ctx, tx.Tx); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM permit_types`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		now := d.now().UTC()
		for i, p := range domain.Catalogue {
			p.Version = 1
			if err := insertPermitType(ctx, tx, &p, i); err != nil {
				return fmt.Errorf("seed permit type %s: %w", p.Code, err)
			}
			if err := insertVersion(ctx, tx, &p, now, ""); err != nil {
				return err
			}
		}
		return nil
	})
}

func insertPermitType(ctx context.Context, tx *wtx, p *domain.PermitType, position int) error {
	cl, err := json.Marshal(p.Checklist)
	if err != nil {
		return err
	}
	mt, err := json.Marshal(p.Materials)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO permit_types (code, position, name_zh, name_en, commitment_allowed, supplement_days, target_days, checklist, materials, version, slots_required) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Code, position, p.Name.ZH, p.Name.EN, boolInt(p.CommitmentAllowed), p.SupplementDays, p.TargetDays, string(cl), string(mt), p.Version, boolInt(p.SlotsRequired))
	return err
}

// CreatePermitType adds a type to the catalogue as its version 1, after
// the existing ones. An admin only (domain.ActionManageCatalogue);
// ErrInvalid with the codes of PermitType.Validate, ErrConflict
// (permit_type_exists) when the code is taken. Audited as
// "permit_type.created" with the version.
func (d *DB) CreatePermitType(ctx context.Context, actor *domain.User, in domain.PermitType) (*domain.PermitType, error) {
	if err := domain.AuthorizeCatalogue(actor); err != nil {
		return nil, err
	}
	if !domain.ValidPermitCode(in.Code) {
		return nil, domain.Coded(domain.ErrInvalid, domain.CodePermitCodeInvalid, "the code is 1 to 64 lower-case letters, digits and hyphens")
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	in.Version, in.RetiredAt, in.RetentionDays = 1, nil, 0
	now := d.now().UTC().Truncate(time.Millisecond)
	err := d.tx(ctx, func(tx *wtx) error {
		var taken, pos int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM permit_types WHERE code = ?`, in.Code).Scan(&taken); err != nil {
			return err
		}
		if taken > 0 {
			return domain.Coded(domain.ErrConflict, domain.CodePermitTypeExists, fmt.Sprintf("permit type %q exists; publish a new version of it instead", in.Code))
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(position), -1) + 1 FROM permit_types`).Scan(&pos); err != nil {
			return err
		}
		if err := insertPermitType(ctx, tx, &in, pos); err != nil {
			if d.dialect.IsUniqueViolation(err) { // created meanwhile by another replica
				return domain.Coded(domain.ErrConflict, domain.CodePermitTypeExists, fmt.Sprintf("permit type %q exists; publish a new version of it instead", in.Code))
			}
			return fmt.Errorf("insert permit type %s: %w", in.Code, err)
		}
		if err := insertVersion(ctx, tx, &in, now, actor.ID); err != nil {
			return err
		}
		_, err := appendAudit(ctx, tx, now, Audit{ActorID: actor.ID, Action: "permit_type.created", Target: in.Code,
			Data: map[string]any{"code": in.Code, "version": in.Version, "name_zh": in.Name.ZH, "name_en": in.Name.EN, "checklist": itemIDs(in.Checklist)}})
		return err
	})
	// Drop the cached current versions even after a failure: the commit
	// may have happened before the error.
	d.cache.dropPermits()
	if err != nil {
		return nil, fmt.Errorf("create permit type: %w", err)
	}
	return d.PermitType(ctx, in.Code)
}

// PublishPermitType makes in the next version of the type code: new cases
// get it, cases already opened keep theirs. base is the version the admin
// edited; when another version was published meanwhile the edit is refused
// (ErrConflict, permit_version_conflict) rather than silently undone. An
// admin only; ErrNotFound for an unknown code; ErrInvalid with the codes of
// PermitType.Validate. Audited as "permit_type.published" with the version
// and the checklist items added and removed.
func (d *DB) PublishPermitType(ctx context.Context, actor *domain.User, code string, base int, in domain.PermitType) (*domain.PermitType, error) {
	if err := domain.AuthorizeCatalogue(actor); err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	err := d.tx(ctx, func(tx *wtx) error {
		old, err := scanPermitType(tx.QueryRowContext(ctx, `SELECT `+permitColumns+`, retired_at FROM permit_types WHERE code = ?`, code), true)
		if err != nil {
			return notFound(err, "permit type "+code)
		}
		if base != old.Version {
			return domain.Coded(domain.ErrConflict, domain.CodePermitVersionConflict,
				fmt.Sprintf("version %d of %s was published after version %d you edited; reload and edit again", old.Version, code, base))
		}
		in.Code, in.Version, in.RetentionDays = code, old.Version+1, 0
		cl, err := json.Marshal(in.Checklist)
		if err != nil {
			return err
		}
		mt, err := json.Marshal(in.Materials)
		if err != nil {
			return err
		}
		// The version in the condition makes a concurrent publish of the
		// same base lose here even where nothing locked the row we read.
		res, err := tx.ExecContext(ctx, `UPDATE permit_types SET name_zh = ?, name_en = ?, commitment_allowed = ?, supplement_days = ?, target_days = ?, checklist = ?, materials = ?, version = ?, slots_required = ?
			WHERE code = ? AND version = ?`,
			in.Name.ZH, in.Name.EN, boolInt(in.CommitmentAllowed), in.SupplementDays, in.TargetDays, string(cl), string(mt), in.Version, boolInt(in.SlotsRequired), code, old.Version)
		if err != nil {
			return fmt.Errorf("update permit type %s: %w", code, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return domain.Coded(domain.ErrConflict, domain.CodePermitVersionConflict, fmt.Sprintf("another version of %s was published meanwhile; reload and edit again", code))
		}
		if err := insertVersion(ctx, tx, &in, now, actor.ID); err != nil {
			return err
		}
		added, removed := checklistDiff(old.Checklist, in.Checklist)
		_, err = appendAudit(ctx, tx, now, Audit{ActorID: actor.ID, Action: "permit_type.published", Target: code,
			Data: map[string]any{"code": code, "version": in.Version, "previous_version": old.Version,
				"checklist": itemIDs(in.Checklist), "items_added": added, "items_removed": removed}})
		return err
	})
	// Drop the cached current versions even after a failure: the commit
	// may have happened before the error.
	d.cache.dropPermits()
	if err != nil {
		return nil, fmt.Errorf("publish permit type %s: %w", code, err)
	}
	return d.PermitType(ctx, code)
}

// RetirePermitType retires the type (retire true: it takes no new cases;
// its cases go on under their versions) or offers it again. Doing what is
// already done changes nothing and records nothing. An admin only;
// ErrNotFound for an unknown code. Audited as "permit_type.retired" or
// "permit_type.reactivated" with the current version.
func (d *DB) RetirePermitType(ctx context.Context, actor *domain.User, code string, retire bool) (*domain.PermitType, error) {
	if err := domain.AuthorizeCatalogue(actor); err != nil {
		return nil, err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	err := d.tx(ctx, func(tx *wtx) error {
		var version int
		var retired sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT version, retired_at FROM permit_types WHERE code = ?`, code).Scan(&version, &retired); err != nil {
			return notFound(err, "permit type "+code)
		}
		if retired.Valid == retire {
			return nil
		}
		at, action := sql.NullInt64{Int64: ms(now), Valid: true}, "permit_type.retired"
		if !retire {
			at, action = sql.NullInt64{}, "permit_type.reactivated"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE permit_types SET retired_at = ? WHERE code = ?`, at, code); err != nil {
			return fmt.Errorf("retire permit type %s: %w", code, err)
		}
		_, err := appendAudit(ctx, tx, now, Audit{ActorID: actor.ID, Action: action, Target: code,
			Data: map[string]any{"code": code, "version": version}})
		return err
	})
	// Drop the cached current versions even after a failure: the commit
	// may have happened before the error.
	d.cache.dropPermits()
	if err != nil {
		return nil, fmt.Errorf("retire permit type %s: %w", code, err)
	}
	return d.PermitType(ctx, code)
}

func itemIDs(items []domain.ChecklistItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// checklistDiff names the item ids of next that old lacks, and those of
// old that next lacks.
func checklistDiff(old, next []domain.ChecklistItem) (added, removed []string) {
	in := func(items []domain.ChecklistItem, id string) bool {
		for _, it := range items {
			if it.ID == id {
				return true
			}
		}
		return false
	}
	added, removed = []string{}, []string{}
	for _, it := range next {
		if !in(old, it.ID) {
			added = append(added, it.ID)
		}
	}
	for _, it := range old {
		if !in(next, it.ID) {
			removed = append(removed, it.ID)
		}
	}
	return added, removed
}
