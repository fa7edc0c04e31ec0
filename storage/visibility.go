package storage

import (
	"siteinspect/domain"
	"strings"
)

// The policy itself is domain.Policy (domain/policy.go); this is the
// part of it that only SQL can say.

// openToUnit is Case.Relations' unit rule for the open slots: the case is
// unrouted or routed to the officer's unit (the argument, "" for none).
const openToUnit = `(c.unit_id IS NULL OR c.unit_id = ?)`

// visibilitySQL is ActionView's rows as a WHERE condition on cases c for u,
// built from the table so that the list and VisibleTo cannot disagree.
func visibilitySQL(u *domain.User) (string, []any) {
	var conds []string
	var args []any
	for _, r := range domain.Policy {
		if r.Action != domain.ActionView {
			continue
		}
		for _, rel := range r.Relations {
			var cond string
			var a []any
			switch {
			case rel == domain.RelAdmin && u.Role == domain.RoleAdmin:
				cond = `1 = 1`
			case rel == domain.RelCompany && u.Role == domain.RoleApplicant:
				cond, a = `c.applicant_id = ?`, []any{u.ID}
				if u.Org != "" {
					cond, a = `(c.applicant_id = ? OR c.applicant_org = ?)`, []any{u.ID, u.Org}
				}
			case rel == domain.RelInspector && u.Role == domain.RoleInspector:
				cond, a = `c.office = ? AND c.inspector_id = ?`, []any{u.Org, u.ID}
			case rel == domain.RelReviewer && u.Role == domain.RoleReviewer:
				cond, a = `c.office = ? AND c.reviewer_id = ?`, []any{u.Org, u.ID}
			case rel == domain.RelOpenInspectorSlot && u.Role == domain.RoleInspector:
				cond, a = `c.office = ? AND c.inspector_id IS NULL AND `+openToUnit, []any{u.Org, u.UnitID}
			case rel == domain.RelOpenReviewerSlot && u.Role == domain.RoleReviewer:
				cond, a = `c.office = ? AND c.reviewer_id IS NULL AND `+openToUnit, []any{u.Org, u.UnitID}
			case rel == domain.RelSupervisor && u.Role == domain.RoleSupervisor:
				cond, a = `c.office = ?`, []any{u.Org}
			default:
				continue
			}
			states := make([]string, len(r.States))
			for i, s := range r.States {
				states[i] = "?"
				a = append(a, string(s))
			}
			conds = append(conds, `(`+cond+` AND c.status IN (`+strings.Join(states, ", ")+`))`)
			args = append(args, a...)
		}
	}
	if len(conds) == 0 {
		return `1 = 0`, nil
	}
	return `(` + strings.Join(conds, ` OR `) + `)`, args
}
