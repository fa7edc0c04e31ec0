package storage

import (
	"reflect"
	"testing"

	"siteinspect/domain"
)

// TestGrantPlansAreTheTable: for every action and role, with and without
// an org and a unit, grantSQL's condition and arguments from the plan
// built when the package loaded are those built from the table for that
// user.
func TestGrantPlansAreTheTable(t *testing.T) {
	roles := []domain.Role{domain.RoleApplicant, domain.RoleInspector, domain.RoleReviewer, domain.RoleSupervisor, domain.RoleAdmin}
	for _, action := range domain.Actions {
		for _, role := range roles {
			for _, u := range []*domain.User{{ID: "u1", Role: role}, {ID: "u2", Role: role, Org: "binhai", UnitID: "unit9"}} {
				gotCond, gotArgs := grantSQL(u, action)
				wantCond, wantArgs := buildGrantSQL(u, action)
				if gotCond != wantCond || !reflect.DeepEqual(gotArgs, wantArgs) {
					t.Errorf("%s by %s %+v: got %s %v, want %s %v", action, role, u, gotCond, gotArgs, wantCond, wantArgs)
				}
			}
		}
	}
	if n := len(grantPlans); n != len(domain.Actions)*len(roles)*2 {
		t.Errorf("plans: got %d, want %d", n, len(domain.Actions)*len(roles)*2)
	}
	cond, args := grantSQL(&domain.User{ID: "i1", Role: domain.RoleInspector, Org: "binhai"}, domain.ActionCountersign)
	if want := []any{"i1"}; !reflect.DeepEqual(args[len(args)-1:], want) || cond == "1 = 0" {
		t.Errorf("countersign by an inspector: got %s %v, want the four-eyes rule's last argument %v", cond, args, want)
	}
}
