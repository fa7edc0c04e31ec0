package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"siteinspect/domain"
)

// PermitTypes returns the catalogue in its display order.
func (d *DB) PermitTypes(ctx context.Context) ([]domain.PermitType, error) {
	rows, err := d.query(ctx, `SELECT code, name_zh, name_en, commitment_allowed, supplement_days, target_days, checklist, materials FROM permit_types ORDER BY position, code`)
	if err != nil {
		return nil, fmt.Errorf("list permit types: %w", err)
	}
	defer rows.Close()
	var out []domain.PermitType
	for rows.Next() {
		p, err := scanPermitType(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

// PermitType returns one type or ErrNotFound. The catalogue is read on
// every annotation, so it is cached (see permitTypeCacheTTL); callers must
// not modify the slices of the type they get.
func (d *DB) PermitType(ctx context.Context, code string) (*domain.PermitType, error) {
	if p, ok := d.cache.permit(code); ok {
		return p, nil
	}
	p, err := scanPermitType(d.queryRow(ctx, `SELECT code, name_zh, name_en, commitment_allowed, supplement_days, target_days, checklist, materials FROM permit_types WHERE code = ?`, code))
	if err != nil {
		return nil, notFound(err, "permit type "+code)
	}
	d.cache.putPermit(p)
	return p, nil
}

func scanPermitType(row interface{ Scan(...any) error }) (*domain.PermitType, error) {
	var p domain.PermitType
	var commitment int
	var checklist, materials string
	if err := row.Scan(&p.Code, &p.Name.ZH, &p.Name.EN, &commitment, &p.SupplementDays, &p.TargetDays, &checklist, &materials); err != nil {
		return nil, err
	}
	p.CommitmentAllowed = commitment != 0
	if err := json.Unmarshal([]byte(checklist), &p.Checklist); err != nil {
		return nil, fmt.Errorf("permit type %s checklist: %w", p.Code, err)
	}
	if err := json.Unmarshal([]byte(materials), &p.Materials); err != nil {
		return nil, fmt.Errorf("permit type %s materials: %w", p.Code, err)
	}
	return &p, nil
}

// SeedPermitTypes inserts the built-in catalogue when the table is empty, so
// that an admin's later edits are never overwritten on restart.
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
		for i, p := range domain.Catalogue {
			cl, _ := json.Marshal(p.Checklist)
			mt, _ := json.Marshal(p.Materials)
			commitment := 0
			if p.CommitmentAllowed {
				commitment = 1
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO permit_types (code, position, name_zh, name_en, commitment_allowed, supplement_days, target_days, checklist, materials) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				p.Code, i, p.Name.ZH, p.Name.EN, commitment, p.SupplementDays, p.TargetDays, string(cl), string(mt)); err != nil {
				return fmt.Errorf("seed permit type %s: %w", p.Code, err)
			}
		}
		return nil
	})
}
