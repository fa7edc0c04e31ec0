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

// relationSQL is Case.Relations' rule for rel as a condition on cases c
// for u, and false when u can never stand in rel (an applicant is never a
// case's inspector). The publisher relation comes from a token, not from
// the case row: it has none.
func relationSQL(rel domain.Relation, u *domain.User) (string, []any, bool) {
	officer := u.Role == domain.RoleInspector || u.Role == domain.RoleReviewer
	switch {
	case rel == domain.RelAdmin && u.Role == domain.RoleAdmin:
		return `1 = 1`, nil, true
	case rel == domain.RelCompany && u.Role == domain.RoleApplicant:
		if u.Org != "" {
			return `(c.applicant_id = ? OR c.applicant_org = ?)`, []any{u.ID, u.Org}, true
		}
		return `c.applicant_id = ?`, []any{u.ID}, true
	case rel == domain.RelInspector && officer:
		return `c.office = ? AND c.inspector_id = ?`, []any{u.Org, u.ID}, true
	case rel == domain.RelReviewer && officer:
		return `c.office = ? AND c.reviewer_id = ?`, []any{u.Org, u.ID}, true
	case rel == domain.RelOpenInspectorSlot && u.Role == domain.RoleInspector:
		return `c.office = ? AND c.inspector_id IS NULL AND ` + openToUnit, []any{u.Org, u.UnitID}, true
	case rel == domain.RelOpenReviewerSlot && u.Role == domain.RoleReviewer:
		return `c.office = ? AND c.reviewer_id IS NULL AND ` + openToUnit, []any{u.Org, u.UnitID}, true
	case rel == domain.RelSupervisor && u.Role == domain.RoleSupervisor:
		return `c.office = ?`, []any{u.Org}, true
	}
	return "", nil, false
}

// grantSQL is the policy's rows for action as a WHERE condition on cases
// c for u (Grants on the row as it is): some row grants action to a
// relation u holds to the case, in the case's state, and the four-eyes
// rule does not refuse it. Built from the table, so that a statement that
// checks it and Case.Authorize cannot disagree; args follow the
// condition's marks. The condition depends only on the action, u's role
// and whether u has an org, so it is built once for each, when the
// package loads (grantPlans), and only its arguments are u's: every
// annotation create asks for one.
func grantSQL(u *domain.User, action domain.Action) (string, []any) {
	plan, ok := grantPlans[grantKey{action: action, role: u.Role, org: u.Org != ""}]
	if !ok {
		return buildGrantSQL(u, action)
	}
	if len(plan.args) == 0 {
		return plan.cond, nil
	}
	args := make([]any, len(plan.args))
	for i, a := range plan.args {
		switch a {
		case markID:
			a = u.ID
		case markOrg:
			a = u.Org
		case markUnit:
			a = u.UnitID
		}
		args[i] = a
	}
	return plan.cond, args
}

// The marks that stand for a user's fields in a grantPlan's arguments: no
// id, org, unit or state is spelt so.
const (
	markID   = "\x00user.id"
	markOrg  = "\x00user.org"
	markUnit = "\x00user.unit"
)

// grantKey is what grantSQL's condition depends on.
type grantKey struct {
	action domain.Action
	role   domain.Role
	org    bool
}

// grantPlan is a grantSQL condition and its arguments, with marks where
// the user's fields go.
type grantPlan struct {
	cond string
	args []any
}

// grantPlans is every action's grantPlan for every role, with an org and
// without; never changed after the package loads.
var grantPlans = func() map[grantKey]grantPlan {
	out := map[grantKey]grantPlan{}
	for _, action := range domain.Actions {
		for _, role := range []domain.Role{domain.RoleApplicant, domain.RoleInspector, domain.RoleReviewer, domain.RoleSupervisor, domain.RoleAdmin} {
			for _, org := range []bool{false, true} {
				// Built for a user whose fields are marks.
				mark := &domain.User{ID: markID, Role: role, UnitID: markUnit}
				if org {
					mark.Org = markOrg
				}
				cond, args := buildGrantSQL(mark, action)
				out[grantKey{action, role, org}] = grantPlan{cond: cond, args: args}
			}
		}
	}
	return out
}()

// buildGrantSQL is grantSQL built from the table.
func buildGrantSQL(u *domain.User, action domain.Action) (string, []any) {
	var conds []string
	var args []any
	for _, r := range domain.Policy {
		if r.Action != action {
			continue
		}
		for _, rel := range r.Relations {
			cond, a, ok := relationSQL(rel, u)
			if !ok {
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
	cond := `(` + strings.Join(conds, ` OR `) + `)`
	if domain.FourEyes(action) {
		cond += ` AND (c.inspector_id IS NULL OR c.inspector_id <> ?)`
		args = append(args, u.ID)
	}
	return cond, args
}

// visibilitySQL is ActionView's rows as a WHERE condition on cases c for u,
// built from the table so that the list and VisibleTo cannot disagree.
func visibilitySQL(u *domain.User) (string, []any) {
	return grantSQL(u, domain.ActionView)
}
