package storage

import (
	"context"
	"database/sql"
	"fmt"
	"siteinspect/domain"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// An admin's work on the accounts (docs/ADMIN.md). Every change is one
// transaction that records its audit event (who, what, before and after)
// in the same commit. A change that touches who a person is (disabled,
// role, unit, password) ends or refreshes their sessions here and, through
// the session cache's "*" notification (peers.go), on every replica.

// UserFilter selects accounts for the admin's list. Zero fields select
// everything.
type UserFilter struct {
	// Text keeps users whose username, display name or org contains it.
	Text string
	// Role keeps users of this role.
	Role domain.Role
	// Unit keeps members of this unit id.
	Unit string
	// Disabled keeps only disabled (true) or only enabled (false) users.
	Disabled *bool
	// Limit bounds the list (default and most 1000).
	Limit int
}

// ListUsers returns the accounts f selects, by username.
func (d *DB) ListUsers(ctx context.Context, f UserFilter) ([]*domain.User, error) {
	var where []string
	var args []any
	if t := strings.TrimSpace(f.Text); t != "" {
		like := "%" + likeEscaper.Replace(strings.ToLower(t)) + "%"
		where = append(where, `(LOWER(username) LIKE ? ESCAPE '\' OR LOWER(display_name) LIKE ? ESCAPE '\' OR LOWER(org) LIKE ? ESCAPE '\')`)
		args = append(args, like, like, like)
	}
	if f.Role != "" {
		where = append(where, `role = ?`)
		args = append(args, string(f.Role))
	}
	if f.Unit != "" {
		where = append(where, `unit_id = ?`)
		args = append(args, f.Unit)
	}
	if f.Disabled != nil {
		if *f.Disabled {
			where = append(where, `disabled_at IS NOT NULL`)
		} else {
			where = append(where, `disabled_at IS NULL`)
		}
	}
	if f.Limit < 1 || f.Limit > 1000 {
		f.Limit = 1000
	}
	q := `SELECT ` + userColumns + ` FROM users`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	return queryAll(ctx, d, "list users", scanUser, q+` ORDER BY username LIMIT ?`, append(args, f.Limit)...)
}

// NewUserInput is an account an admin creates.
type NewUserInput struct {
	Username    string      `json:"username"`
	Password    string      `json:"password"`
	Role        domain.Role `json:"role"`
	DisplayName string      `json:"display_name"`
	// Org is the company of an applicant, the office of anyone else.
	Org    string `json:"org"`
	UnitID string `json:"unit_id"`
}

// CreateUserAs is an admin creating an account (audited "user.created").
// It returns username_taken (ErrConflict), unknown_unit when the unit is
// not one of the user's office, and CreateUser's refusals.
func (d *DB) CreateUserAs(ctx context.Context, actor *domain.User, in NewUserInput) (*domain.User, error) {
	u, hash, err := d.newUser(in.Username, in.Password, in.Role, strings.TrimSpace(in.DisplayName), strings.TrimSpace(in.Org))
	if err != nil {
		return nil, err
	}
	u.UnitID = in.UnitID
	err = d.tx(ctx, func(tx *wtx) error {
		if err := checkUnit(ctx, tx, u.UnitID, u.Org); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, insertUser, u.ID, u.Username, hash, string(u.Role), u.DisplayName, u.Org, ms(u.CreatedAt), nullString(u.UnitID))
		if err := userInsertError(d.dialect, err, u.Username); err != nil {
			return err
		}
		_, err = appendAudit(ctx, tx, d.now(), Audit{ActorID: actor.ID, Action: "user.created", Target: u.ID,
			Data: map[string]any{"username": u.Username, "role": u.Role, "display_name": u.DisplayName, "org": u.Org, "unit_id": u.UnitID}})
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// checkUnit refuses a unit id that is not one of office's units ("" is
// none, always allowed).
func checkUnit(ctx context.Context, tx *wtx, unitID, office string) error {
	if unitID == "" {
		return nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM units WHERE id = ? AND office = ?`, unitID, office).Scan(&n); err != nil {
		return fmt.Errorf("check unit: %w", err)
	}
	if n == 0 {
		return domain.Coded(domain.ErrInvalid, domain.CodeUnknownUnit, fmt.Sprintf("office %q has no unit %q", office, unitID))
	}
	return nil
}

// UpdateUser is an admin changing an account's display name, role, unit or
// whether it is disabled (audited "user.updated" with each changed
// field's before and after). A disabled user's sessions are deleted at
// once, on every replica. It refuses cannot_disable_self (an admin
// disabling their own account) and last_admin (the change would leave no
// enabled admin). Changing nothing records nothing. A password in the edit
// is a reset as ResetPassword's (audited "user.password_reset", the
// user's sessions end), in the same transaction.
func (d *DB) UpdateUser(ctx context.Context, actor *domain.User, id string, e domain.UserEdit) (*domain.User, error) {
	if e.Role != nil && !e.Role.Valid() {
		return nil, domain.Coded(domain.ErrInvalid, "unknown_role", fmt.Sprintf("unknown role %q: want applicant, inspector, reviewer, supervisor or admin", *e.Role))
	}
	if e.DisplayName != nil {
		n := strings.TrimSpace(*e.DisplayName)
		if n == "" || utf8.RuneCountInString(n) > 100 {
			return nil, domain.Coded(domain.ErrInvalid, "display_name_invalid", "the display name must have 1 to 100 characters")
		}
		e.DisplayName = &n
	}
	if e.Disabled != nil && *e.Disabled && id == actor.ID {
		return nil, domain.Coded(domain.ErrForbidden, domain.CodeSelfDisable, "you cannot disable your own account")
	}
	var hash []byte
	if e.Password != nil {
		var err error
		if hash, err = d.tempPasswordHash(*e.Password); err != nil {
			return nil, err
		}
	}
	changed := false
	err := d.tx(ctx, func(tx *wtx) error {
		old, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`+d.dialect.LockRows(), id))
		if err != nil {
			return notFound(err, "user "+id)
		}
		nu := *old
		if e.DisplayName != nil {
			nu.DisplayName = *e.DisplayName
		}
		if e.Role != nil {
			nu.Role = *e.Role
		}
		if e.UnitID != nil {
			nu.UnitID = *e.UnitID
		}
		now := d.now().UTC().Truncate(time.Millisecond)
		if e.Disabled != nil {
			switch {
			case *e.Disabled && old.DisabledAt == nil:
				nu.DisabledAt = &now
			case !*e.Disabled:
				nu.DisabledAt = nil
			}
		}
		before, after := map[string]any{}, map[string]any{}
		diff := func(name string, was, is any) {
			if was != is {
				before[name], after[name] = was, is
			}
		}
		diff("display_name", old.DisplayName, nu.DisplayName)
		diff("role", string(old.Role), string(nu.Role))
		diff("unit_id", old.UnitID, nu.UnitID)
		diff("disabled", old.DisabledAt != nil, nu.DisabledAt != nil)
		if hash != nil {
			// A reset in the same edit, as ResetPassword's.
			changed = true
			if err := resetPasswordTx(ctx, tx, now, actor, id, old.Username, hash); err != nil {
				return err
			}
		}
		if len(after) == 0 {
			return nil
		}
		changed = true
		if nu.UnitID != old.UnitID {
			if err := checkUnit(ctx, tx, nu.UnitID, nu.Org); err != nil {
				return err
			}
		}
		wasAdmin := old.Role == domain.RoleAdmin && old.DisabledAt == nil
		isAdmin := nu.Role == domain.RoleAdmin && nu.DisabledAt == nil
		if wasAdmin && !isAdmin {
			// Lock the enabled admins' rows so that two admins removing
			// each other at once are serialised and the second one counts
			// what the first left.
			rows, err := tx.QueryContext(ctx, `SELECT id FROM users WHERE role = ? AND disabled_at IS NULL AND id <> ?`+d.dialect.LockRows(), string(domain.RoleAdmin), id)
			if err != nil {
				return fmt.Errorf("count admins: %w", err)
			}
			others := 0
			for rows.Next() {
				others++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("count admins: %w", err)
			}
			if others == 0 {
				return domain.Coded(domain.ErrConflict, domain.CodeLastAdmin, "this is the last enabled admin; make another admin first")
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET display_name = ?, role = ?, unit_id = ?, disabled_at = ? WHERE id = ?`,
			nu.DisplayName, string(nu.Role), nullString(nu.UnitID), nullMS(nu.DisabledAt), id)
		if err != nil {
			return fmt.Errorf("update user %s: %w", id, err)
		}
		if nu.DisabledAt != nil && old.DisabledAt == nil {
			if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
				return fmt.Errorf("end the sessions of user %s: %w", id, err)
			}
		}
		_, err = appendAudit(ctx, tx, now, Audit{ActorID: actor.ID, Action: "user.updated", Target: id,
			Data: map[string]any{"username": old.Username, "before": before, "after": after}})
		return err
	})
	if err != nil {
		return nil, err
	}
	if changed {
		// Cached sessions hold the user as they were (role, unit, name):
		// every replica forgets them and reads the user again.
		d.cache.dropSession("")
	}
	return d.UserByID(ctx, id)
}

// ResetPassword is an admin setting a temporary password for a user
// (audited "user.password_reset", without the password); the user's
// sessions end at once on every replica.
func (d *DB) ResetPassword(ctx context.Context, actor *domain.User, id, password string) error {
	hash, err := d.tempPasswordHash(password)
	if err != nil {
		return err
	}
	err = d.tx(ctx, func(tx *wtx) error {
		var username string
		if err := tx.QueryRowContext(ctx, `SELECT username FROM users WHERE id = ?`+d.dialect.LockRows(), id).Scan(&username); err != nil {
			return notFound(err, "user "+id)
		}
		return resetPasswordTx(ctx, tx, d.now(), actor, id, username, hash)
	})
	if err != nil {
		return err
	}
	d.cache.dropSession("")
	return nil
}

// tempPasswordHash checks a temporary password an admin sets
// (password_length) and hashes it.
func (d *DB) tempPasswordHash(password string) ([]byte, error) {
	if err := checkPassword(password); err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), d.passwordCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return hash, nil
}

// resetPasswordTx sets the password hash of user id (username), ends their
// sessions and audits the reset ("user.password_reset", without the
// password) in tx.
func resetPasswordTx(ctx context.Context, tx *wtx, now time.Time, actor *domain.User, id, username string, hash []byte) error {
	if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, string(hash), id); err != nil {
		return fmt.Errorf("reset password of %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
		return fmt.Errorf("end the sessions of user %s: %w", id, err)
	}
	_, err := appendAudit(ctx, tx, now, Audit{ActorID: actor.ID, Action: "user.password_reset", Target: id,
		Data: map[string]any{"username": username}})
	return err
}

// Units returns the office's units by Chinese name.
func (d *DB) Units(ctx context.Context, office string) ([]*domain.Unit, error) {
	rows, err := d.query(ctx, `SELECT id, office, name_zh, name_en, created_at FROM units WHERE office = ? ORDER BY name_zh, id`, office)
	if err != nil {
		return nil, fmt.Errorf("list units: %w", err)
	}
	defer rows.Close()
	out := []*domain.Unit{}
	for rows.Next() {
		var u domain.Unit
		var created int64
		if err := rows.Scan(&u.ID, &u.Office, &u.NameZh, &u.NameEn, &created); err != nil {
			return nil, fmt.Errorf("list units: %w", err)
		}
		u.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, &u)
	}
	return out, rows.Err()
}

// checkUnitNames refuses empty or overlong names.
func checkUnitNames(zh, en string) (string, string, error) {
	zh, en = strings.TrimSpace(zh), strings.TrimSpace(en)
	if zh == "" || en == "" || utf8.RuneCountInString(zh) > 100 || utf8.RuneCountInString(en) > 100 {
		return "", "", domain.Coded(domain.ErrInvalid, "unit_name_invalid", "a unit needs a Chinese and an English name of 1 to 100 characters")
	}
	return zh, en, nil
}

// CreateUnit is an admin adding a unit to office (audited "unit.created").
// It returns unit_name_taken (ErrConflict) when the office has a unit of
// that Chinese name.
func (d *DB) CreateUnit(ctx context.Context, actor *domain.User, office, nameZh, nameEn string) (*domain.Unit, error) {
	zh, en, err := checkUnitNames(nameZh, nameEn)
	if err != nil {
		return nil, err
	}
	u := &domain.Unit{ID: domain.NewID(), Office: office, NameZh: zh, NameEn: en, CreatedAt: d.now().UTC().Truncate(time.Millisecond)}
	err = d.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO units (id, office, name_zh, name_en, created_at) VALUES (?, ?, ?, ?, ?)`, u.ID, u.Office, u.NameZh, u.NameEn, ms(u.CreatedAt))
		if err != nil {
			return unitNameError(d.dialect, err, zh)
		}
		_, err = appendAudit(ctx, tx, d.now(), Audit{ActorID: actor.ID, Action: "unit.created", Target: u.ID,
			Data: map[string]any{"office": office, "name_zh": zh, "name_en": en}})
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func unitNameError(dialect Dialect, err error, name string) error {
	if dialect.IsUniqueViolation(err) {
		return domain.Coded(domain.ErrConflict, domain.CodeUnitNameTaken, fmt.Sprintf("the office has a unit named %q", name))
	}
	return fmt.Errorf("save unit: %w", err)
}

// RenameUnit is an admin renaming one of office's units (audited
// "unit.updated" with the names before and after).
func (d *DB) RenameUnit(ctx context.Context, actor *domain.User, office, id, nameZh, nameEn string) (*domain.Unit, error) {
	return d.PatchUnit(ctx, actor, office, id, &nameZh, &nameEn)
}

// PatchUnit is RenameUnit of the names given: a nil name keeps the unit's
// own, read under the row's lock, so two admins each changing one name
// at once both keep theirs.
func (d *DB) PatchUnit(ctx context.Context, actor *domain.User, office, id string, nameZh, nameEn *string) (*domain.Unit, error) {
	if nameZh != nil && nameEn != nil {
		if _, _, err := checkUnitNames(*nameZh, *nameEn); err != nil {
			return nil, err
		}
	}
	var u domain.Unit
	err := d.tx(ctx, func(tx *wtx) error {
		var created int64
		err := tx.QueryRowContext(ctx, `SELECT id, office, name_zh, name_en, created_at FROM units WHERE id = ? AND office = ?`+d.dialect.LockRows(), id, office).
			Scan(&u.ID, &u.Office, &u.NameZh, &u.NameEn, &created)
		if err != nil {
			return notFound(err, "unit "+id)
		}
		u.CreatedAt = time.UnixMilli(created).UTC()
		zh, en := u.NameZh, u.NameEn
		if nameZh != nil {
			zh = *nameZh
		}
		if nameEn != nil {
			en = *nameEn
		}
		if zh, en, err = checkUnitNames(zh, en); err != nil {
			return err
		}
		if u.NameZh == zh && u.NameEn == en {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE units SET name_zh = ?, name_en = ? WHERE id = ?`, zh, en, id); err != nil {
			return unitNameError(d.dialect, err, zh)
		}
		_, err = appendAudit(ctx, tx, d.now(), Audit{ActorID: actor.ID, Action: "unit.updated", Target: id,
			Data: map[string]any{"before": map[string]string{"name_zh": u.NameZh, "name_en": u.NameEn}, "after": map[string]string{"name_zh": zh, "name_en": en}}})
		u.NameZh, u.NameEn = zh, en
		return err
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// RouteCase is an admin routing a case to one of its office's units, or
// back to the whole office (unitID ""), while its slots may still change
// (audited "case.routed" with the unit before and after). Only the open
// slots follow the routing: an officer who holds the case keeps it.
func (d *DB) RouteCase(ctx context.Context, c *domain.Case, actor *domain.User, unitID string) (*domain.Case, error) {
	if err := c.Authorize(actor, domain.ActionRoute); err != nil {
		return nil, err
	}
	err := d.tx(ctx, func(tx *wtx) error {
		if err := checkUnit(ctx, tx, unitID, c.Office); err != nil {
			return err
		}
		var st domain.Status
		var was sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT status, unit_id FROM cases WHERE id = ?`+d.dialect.LockRows(), c.ID).Scan(&st, &was); err != nil {
			return notFound(err, "case "+c.ID)
		}
		if was.String == unitID {
			return nil
		}
		if !domain.Grants(domain.ActionRoute, []domain.Relation{domain.RelAdmin}, st) {
			return (&domain.Case{ID: c.ID, Status: st}).StateRefusal(domain.ActionRoute)
		}
		now := d.now().UTC().Truncate(time.Millisecond)
		if _, err := tx.ExecContext(ctx, `UPDATE cases SET unit_id = ?, updated_at = ? WHERE id = ?`, nullString(unitID), ms(now), c.ID); err != nil {
			return fmt.Errorf("route case %s: %w", c.ID, err)
		}
		_, err := appendAudit(ctx, tx, now, Audit{CaseID: c.ID, ActorID: actor.ID, Action: "case.routed", Target: unitID,
			Data: map[string]any{"from": was.String, "to": unitID}})
		return err
	})
	if err != nil {
		return nil, err
	}
	return d.Case(ctx, c.ID)
}

// TargetAudit returns the events whose target is target (an account, a
// unit or an office: the administration history of one thing), oldest
// first, at most limit. Administration is rare, so it reads the chain
// without an index of its own.
func (d *DB) TargetAudit(ctx context.Context, target string, limit int) ([]*domain.AuditEvent, error) {
	return queryAll(ctx, d, "audit of "+target, scanAudit, `SELECT `+auditColumns+` FROM audit_events WHERE target = ? ORDER BY seq LIMIT ?`, target, limit)
}
