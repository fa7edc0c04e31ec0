package domain

import (
	"fmt"
	"slices"
	"strings"
)

// This file is the one authorization policy: who may do what to which case,
// in which of its states. The HTTP handlers, the visibility query behind the
// case list, the live service, the storage transactions that change state
// and the UI's buttons (a case's allowed_actions) all read it; nothing else
// decides. docs/SECURITY.md explains the rules and names the tests that
// hold them.

// Action is something a person does to a case.
type Action string

// The actions on a case. Each route of the API names the one it performs
// (server/policy.go); a route without one fails the policy matrix test.
const (
	// ActionView reads the case, its evidence and the evidence's files.
	ActionView Action = "view"
	// ActionReadNotes reads the office's working record: annotations, the
	// whole audit trail, live sessions.
	ActionReadNotes Action = "read_notes"
	// ActionReadProgress reads the case's progress events (the applicant's
	// filtered view of the audit trail).
	ActionReadProgress Action = "read_progress"
	// ActionReadOutcome reads findings, decisions and the report: the office
	// at any time, the company once the decision is final.
	ActionReadOutcome Action = "read_outcome"
	// ActionReadOwed reads the materials owed on the case.
	ActionReadOwed Action = "read_owed"
	// ActionSubmit hands the case to the office.
	ActionSubmit Action = "submit"
	// ActionWithdraw withdraws the application.
	ActionWithdraw Action = "withdraw"
	// ActionUpload adds the company's evidence (tus uploads).
	ActionUpload Action = "upload"
	// ActionEditEvidence files a draft's evidence under a document slot or
	// removes it (soft: the original stays in the store).
	ActionEditEvidence Action = "edit_evidence"
	// ActionTake is an inspector taking the inspector slot of an open case.
	ActionTake Action = "take"
	// ActionTakeReview is a reviewer taking the countersigning slot. The
	// inspector never picks their own countersigner: reviewers take the slot
	// themselves, or an admin assigns it.
	ActionTakeReview Action = "take_review"
	// ActionReleaseReview is the reviewer giving the slot back before
	// countersigning.
	ActionReleaseReview Action = "release_review"
	// ActionAssign is an admin setting either slot (audited).
	ActionAssign Action = "assign"
	// ActionRoute is an admin routing the case to a unit (分中心) of the
	// office, or back to the whole office (audited).
	ActionRoute Action = "route"
	// ActionAnnotate writes annotations and replies.
	ActionAnnotate Action = "annotate"
	// ActionRecordFinding records a checklist finding.
	ActionRecordFinding Action = "record_finding"
	// ActionDecide proposes the decision.
	ActionDecide Action = "decide"
	// ActionCountersign agrees with or returns the pending decision.
	ActionCountersign Action = "countersign"
	// ActionConfirmOwed confirms that an owed material was handed in, or
	// returns a delivered one to the applicant with a reason.
	ActionConfirmOwed Action = "confirm_owed"
	// ActionSignCommitment is the applicant signing the commitment (承诺书)
	// of a commitment-based case before submitting it: which materials
	// follow later and by when.
	ActionSignCommitment Action = "sign_commitment"
	// ActionDeliverOwed is the applicant handing in an owed material after
	// approval: an upload that names its owed item (Upload-Metadata
	// owed_item). Storage checks that the item is still open; any other
	// upload to a decided case stays refused (ActionUpload).
	ActionDeliverOwed Action = "deliver_owed"
	// ActionStartLive opens a live inspection.
	ActionStartLive Action = "start_live"
	// ActionJoinLive watches, talks to, snapshots and ends a live inspection.
	ActionJoinLive Action = "join_live"
	// ActionLegalHold sets or lifts the legal hold on a case's originals
	// (under appeal, or marked as evidence): while held nothing of the case
	// is purged, whatever its retention date. Audited.
	ActionLegalHold Action = "legal_hold"
	// ActionAddLiveEvidence is a live inspection's material joining the
	// case: its recording, a snapshot, the phone's own recording.
	ActionAddLiveEvidence Action = "add_live_evidence"
	// ActionRate is the applicant rating the service after the final
	// decision (好差评). Storage also checks that the rater is the person
	// who applied and that the decision was not rated yet.
	ActionRate Action = "rate"
	// ActionReadRating reads the case's rating and its follow-up: the
	// company, the office's supervisors and admins, never the case's
	// officers (they see only their own aggregate, not who rated).
	ActionReadRating Action = "read_rating"
	// ActionMarkUrgent sets or clears the case's urgent mark (特事特办):
	// the office's officers who see the case and its supervisors, the one
	// change a supervisor may make to a case (issue #20).
	ActionMarkUrgent Action = "mark_urgent"
)

// Relation is how a person stands to a case. One person may stand in
// several (an inspector assigned to a case whose reviewer slot is open is
// only RelInspector, but a reviewer may be assigned and see an open
// inspector slot's case), and the policy grants an action through any.
type Relation string

// The relations.
const (
	// RelCompany is a member of the applicant's company.
	RelCompany Relation = "company"
	// RelPublisher holds a live session's publish token: the phone at the
	// site, acting for the company without a login.
	RelPublisher Relation = "publisher"
	// RelInspector is the case's assigned inspector.
	RelInspector Relation = "inspector"
	// RelReviewer is the case's assigned reviewer (countersigner).
	RelReviewer Relation = "reviewer"
	// RelOpenInspectorSlot is an inspector of the case's office while the
	// case has no inspector.
	RelOpenInspectorSlot Relation = "open_inspector_slot"
	// RelOpenReviewerSlot is a reviewer of the case's office while the case
	// has no reviewer.
	RelOpenReviewerSlot Relation = "open_reviewer_slot"
	// RelAdmin is an administrator.
	RelAdmin Relation = "admin"
	// RelSupervisor is a supervisor of the case's office: granted what
	// reads the case, never what changes it.
	RelSupervisor Relation = "supervisor"
)

// Rule grants an action to the people in the given relations while the
// case is in one of the given states.
type Rule struct {
	Action    Action
	Relations []Relation
	States    []Status
}

var (
	allStates = []Status{StatusDraft, StatusSubmitted, StatusInReview, StatusSupplementRequested,
		StatusPendingCountersign, StatusApproved, StatusRejected, StatusWithdrawn}
	// withOffice: from submission on, the office holds the case.
	withOffice = []Status{StatusSubmitted, StatusInReview, StatusSupplementRequested,
		StatusPendingCountersign, StatusApproved, StatusRejected, StatusWithdrawn}
	// openToOffice: what an officer of the office may pick up.
	openToOffice = []Status{StatusSubmitted, StatusInReview, StatusSupplementRequested,
		StatusPendingCountersign, StatusApproved, StatusRejected}
	// undecided: before the inspector's decision; the evidence is still open.
	undecided = []Status{StatusSubmitted, StatusInReview, StatusSupplementRequested}
	// underReview: officers write notes from review until the countersign.
	underReview = []Status{StatusInReview, StatusSupplementRequested, StatusPendingCountersign}
	// beforeCountersign: the slots may still be filled or changed.
	beforeCountersign = []Status{StatusSubmitted, StatusInReview, StatusSupplementRequested, StatusPendingCountersign}
	decided           = []Status{StatusApproved, StatusRejected}
	caseOfficers      = []Relation{RelInspector, RelReviewer}
	// supervisors read what the office holds (never the company's drafts).
	supervisors = []Relation{RelSupervisor}
)

// Policy is the table. Order does not matter; a cell not granted by any
// row is refused.
var Policy = []Rule{
	{ActionView, []Relation{RelCompany, RelAdmin}, allStates},
	{ActionView, []Relation{RelInspector, RelReviewer}, withOffice},
	{ActionView, []Relation{RelOpenInspectorSlot, RelOpenReviewerSlot}, openToOffice},
	{ActionReadNotes, []Relation{RelAdmin}, allStates},
	{ActionReadNotes, []Relation{RelInspector, RelReviewer}, withOffice},
	{ActionReadNotes, []Relation{RelOpenInspectorSlot, RelOpenReviewerSlot}, openToOffice},
	{ActionReadProgress, []Relation{RelCompany, RelAdmin}, allStates},
	{ActionReadProgress, []Relation{RelInspector, RelReviewer}, withOffice},
	{ActionReadProgress, []Relation{RelOpenInspectorSlot, RelOpenReviewerSlot}, openToOffice},
	{ActionReadOutcome, []Relation{RelCompany}, decided},
	{ActionReadOutcome, []Relation{RelInspector, RelReviewer, RelAdmin}, withOffice},
	{ActionReadOutcome, []Relation{RelOpenInspectorSlot, RelOpenReviewerSlot}, openToOffice},
	{ActionReadOwed, []Relation{RelCompany, RelAdmin}, allStates},
	{ActionReadOwed, []Relation{RelInspector, RelReviewer}, withOffice},
	{ActionReadOwed, []Relation{RelOpenInspectorSlot, RelOpenReviewerSlot}, openToOffice},
	// The supervisor reads everything the office holds and changes nothing:
	// these five rows, ActionReadRating and ActionMarkUrgent below are all
	// it is granted (TestPolicyInvariants).
	{ActionView, supervisors, withOffice},
	{ActionReadNotes, supervisors, withOffice},
	{ActionReadProgress, supervisors, withOffice},
	{ActionReadOutcome, supervisors, withOffice},
	{ActionReadOwed, supervisors, withOffice},

	{ActionSubmit, []Relation{RelCompany}, []Status{StatusDraft, StatusSupplementRequested}},
	{ActionWithdraw, []Relation{RelCompany}, []Status{StatusDraft, StatusSubmitted}},
	{ActionUpload, []Relation{RelCompany}, []Status{StatusDraft, StatusSupplementRequested}},
	{ActionEditEvidence, []Relation{RelCompany}, []Status{StatusDraft}},
	{ActionSignCommitment, []Relation{RelCompany}, []Status{StatusDraft}},
	{ActionDeliverOwed, []Relation{RelCompany}, []Status{StatusApproved}},

	{ActionTake, []Relation{RelOpenInspectorSlot, RelInspector}, undecided},
	{ActionTakeReview, []Relation{RelOpenReviewerSlot, RelReviewer}, beforeCountersign},
	{ActionReleaseReview, []Relation{RelReviewer}, beforeCountersign},
	{ActionAssign, []Relation{RelAdmin}, beforeCountersign},
	{ActionRoute, []Relation{RelAdmin}, beforeCountersign},

	{ActionAnnotate, caseOfficers, underReview},
	{ActionRecordFinding, []Relation{RelInspector}, []Status{StatusInReview}},
	{ActionDecide, []Relation{RelInspector}, []Status{StatusInReview}},
	{ActionCountersign, []Relation{RelReviewer, RelOpenReviewerSlot}, []Status{StatusPendingCountersign}},
	{ActionConfirmOwed, []Relation{RelInspector}, []Status{StatusInReview, StatusSupplementRequested, StatusPendingCountersign, StatusApproved}},

	{ActionStartLive, []Relation{RelInspector}, []Status{StatusInReview}},
	{ActionJoinLive, []Relation{RelInspector, RelReviewer}, withOffice},
	{ActionJoinLive, []Relation{RelOpenInspectorSlot, RelOpenReviewerSlot}, openToOffice},
	// Live material joins the case until the decision; deciding waits for
	// open live inspections to end (Decide), so a recording always lands.
	{ActionAddLiveEvidence, []Relation{RelInspector, RelReviewer, RelOpenInspectorSlot, RelOpenReviewerSlot, RelPublisher}, undecided},
	// The case's officers and an administrator hold its evidence once the
	// office has it, withdrawn cases included (their purge waits).
	{ActionLegalHold, []Relation{RelInspector, RelReviewer, RelAdmin}, withOffice},

	// 好差评: the company rates after the final decision and reads its
	// rating; supervisors and admins read it; the case's officers never.
	{ActionRate, []Relation{RelCompany}, decided},
	{ActionReadRating, []Relation{RelCompany, RelAdmin}, allStates},
	{ActionReadRating, supervisors, withOffice},
	// An urgent case heads the queue until the countersign.
	{ActionMarkUrgent, []Relation{RelInspector, RelReviewer, RelOpenInspectorSlot, RelOpenReviewerSlot, RelSupervisor}, beforeCountersign},
}

// Actions lists every action, for the matrix test and allowed_actions.
var Actions = []Action{ActionView, ActionReadNotes, ActionReadProgress, ActionReadOutcome, ActionReadOwed,
	ActionSubmit, ActionWithdraw, ActionUpload, ActionEditEvidence, ActionSignCommitment, ActionDeliverOwed, ActionTake, ActionTakeReview, ActionReleaseReview, ActionAssign, ActionRoute,
	ActionAnnotate, ActionRecordFinding, ActionDecide, ActionCountersign, ActionConfirmOwed,
	ActionStartLive, ActionJoinLive, ActionAddLiveEvidence, ActionLegalHold,
	ActionRate, ActionReadRating, ActionMarkUrgent}

// Relations returns how u stands to c. A nil user has none.
func (c *Case) Relations(u *User) []Relation {
	if u == nil {
		return nil
	}
	switch u.Role {
	case RoleAdmin:
		return []Relation{RelAdmin}
	case RoleSupervisor:
		if c.Office == u.Org {
			return []Relation{RelSupervisor}
		}
	case RoleApplicant:
		if c.Applicant != nil && (c.Applicant.ID == u.ID || (u.Org != "" && c.Applicant.Org == u.Org)) {
			return []Relation{RelCompany}
		}
	case RoleInspector, RoleReviewer:
		if c.Office != u.Org {
			return nil
		}
		// The open slots go per unit (分中心): a case routed to a unit is
		// open only to that unit's officers, so the two officers of a
		// routed case (the inspector, and the reviewer who countersigns)
		// are both of its unit; an unrouted case is open to every officer
		// of the office. An officer keeps the cases they hold whatever
		// their or the case's unit.
		open := c.UnitID == "" || c.UnitID == u.UnitID
		var out []Relation
		if c.Inspector != nil && c.Inspector.ID == u.ID {
			out = append(out, RelInspector)
		}
		if c.Reviewer != nil && c.Reviewer.ID == u.ID {
			out = append(out, RelReviewer)
		}
		if u.Role == RoleInspector && c.Inspector == nil && open {
			out = append(out, RelOpenInspectorSlot)
		}
		if u.Role == RoleReviewer && c.Reviewer == nil && open {
			out = append(out, RelOpenReviewerSlot)
		}
		return out
	}
	return nil
}

// fourEyes are the actions that the case's inspector never performs,
// whatever other relation they hold (a user whose role was changed from
// inspector to reviewer still sees the open reviewer slot of their case).
var fourEyes = []Action{ActionTakeReview, ActionCountersign}

// FourEyes reports whether action is one the case's inspector never
// performs, whatever other relation they hold: the part of the policy
// outside the table, which the storage transactions check again too.
func FourEyes(action Action) bool { return slices.Contains(fourEyes, action) }

// excluded reports whether the four-eyes rule refuses action to rels.
func excluded(action Action, rels []Relation) bool {
	return FourEyes(action) && slices.Contains(rels, RelInspector)
}

// Grants reports whether the table grants action to someone in one of rels
// while the case is in state s.
func Grants(action Action, rels []Relation, s Status) bool {
	if excluded(action, rels) {
		return false
	}
	for _, r := range Policy {
		if r.Action != action || !slices.Contains(r.States, s) {
			continue
		}
		for _, rel := range rels {
			if slices.Contains(r.Relations, rel) {
				return true
			}
		}
	}
	return false
}

// StatesFor is every state in which the table grants action to anyone: the
// condition the storage transactions re-check when they change the case.
func StatesFor(action Action) []Status {
	var out []Status
	for _, s := range allStates {
		for _, r := range Policy {
			if r.Action == action && slices.Contains(r.States, s) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// grantedSomewhere reports whether action is granted to rels in any state.
func grantedSomewhere(action Action, rels []Relation) bool {
	for _, s := range allStates {
		if Grants(action, rels, s) {
			return true
		}
	}
	return false
}

// The codes of a refusal by the policy (API.md's errors).
const (
	// CodeNotPermitted: the person may never do this to this case.
	CodeNotPermitted = "not_permitted"
	// CodeWrongState: the person may do this, but not in the case's state.
	CodeWrongState = "action_not_allowed_in_state"
	// CodeNotAcceptingEvidence: the case takes no more evidence in its state.
	CodeNotAcceptingEvidence = "case_not_accepting_evidence"
)

// Authorize is the one check every caller makes before acting on a case:
// nil when the policy grants action to u on c now; ErrNotFound when u may
// not even see the case (so its existence does not leak); ErrForbidden when
// u stands in no relation that is ever granted the action; ErrInvalidState
// when it is granted, but not in the case's current state.
func (c *Case) Authorize(u *User, action Action) error {
	return c.authorize(c.Relations(u), action)
}

// AuthorizePublisher is Authorize for the holder of a live session's
// publish token.
func (c *Case) AuthorizePublisher(action Action) error {
	return c.authorize([]Relation{RelPublisher}, action)
}

func (c *Case) authorize(rels []Relation, action Action) error {
	// Who may not see the case learns nothing of it, whatever else a row
	// would grant; the publisher acts by token on its one case.
	if !slices.Contains(rels, RelPublisher) && !Grants(ActionView, rels, c.Status) {
		return Errorf(ErrNotFound, "no such case")
	}
	if excluded(action, rels) {
		return Coded(ErrForbidden, CodeReviewerIsInspector, "the inspector and the countersigning reviewer are two people")
	}
	if Grants(action, rels, c.Status) {
		return nil
	}
	if !grantedSomewhere(action, rels) {
		return Coded(ErrForbidden, CodeNotPermitted, fmt.Sprintf("you may not %s on this case", actionWords(action)))
	}
	return c.StateRefusal(action)
}

// StateRefusal is the refusal of action because of the case's state alone
// (who asks was allowed it in some state).
func (c *Case) StateRefusal(action Action) error {
	if action == ActionUpload || action == ActionAddLiveEvidence || action == ActionDeliverOwed {
		return Coded(ErrInvalidState, CodeNotAcceptingEvidence, fmt.Sprintf("a %s case takes no more evidence", c.Status))
	}
	if action == ActionEditEvidence {
		return Coded(ErrInvalidState, CodeEvidenceLocked, fmt.Sprintf("a %s case's files can no longer be removed or refiled", c.Status))
	}
	return Coded(ErrInvalidState, CodeWrongState, fmt.Sprintf("a %s case does not allow this (%s)", c.Status, actionWords(action)))
}

func actionWords(a Action) string { return strings.ReplaceAll(string(a), "_", " ") }

// VisibleTo is the one rule for who may see a case (ActionView of the
// policy): an applicant sees their company's cases; an officer sees, in
// their own office, submitted cases assigned to them or whose slot for
// their role (inspector or reviewer) is still open; an admin sees all.
// Drafts stay with the company until submitted. ListCases applies the same
// table in SQL (visibilitySQL).
func (c *Case) VisibleTo(u *User) bool {
	return Grants(ActionView, c.Relations(u), c.Status)
}

// AllowedActions lists what u may do to c now, for the UI's buttons.
func (c *Case) AllowedActions(u *User) []Action {
	rels := c.Relations(u)
	out := []Action{}
	for _, a := range Actions {
		if Grants(a, rels, c.Status) {
			out = append(out, a)
		}
	}
	return out
}

// OfficeAction is something a person does to the office as a whole rather
// than to one case.
type OfficeAction string

// The office actions.
const (
	// ActionReadStats reads the office's supervision figures
	// (GET /api/v1/stats).
	ActionReadStats OfficeAction = "read_stats"
	// ActionManageCatalogue creates permit types, publishes new versions
	// of them and retires or reactivates them (/api/v1/admin/permit-types,
	// docs/CATALOGUE.md). Audited with the version.
	ActionManageCatalogue OfficeAction = "manage_catalogue"
	// ActionReadFollowUps lists the office's follow-ups of bad ratings
	// (GET /api/v1/followups).
	ActionReadFollowUps OfficeAction = "read_followups"
	// ActionCloseFollowUp closes a follow-up with its outcome
	// (POST /api/v1/followups/:fid/close): the office's supervisors.
	ActionCloseFollowUp OfficeAction = "close_followup"
	// ActionReadOwnRatings reads the caller's own rating aggregate
	// (GET /api/v1/me/ratings): the office's inspectors and reviewers.
	ActionReadOwnRatings OfficeAction = "read_own_ratings"
	// ActionManageUsers lists, creates, edits, disables and enables
	// accounts and sets temporary passwords (/api/v1/admin/users).
	ActionManageUsers OfficeAction = "manage_users"
	// ActionManageUnits creates and renames the office's units (分中心).
	ActionManageUnits OfficeAction = "manage_units"
	// ActionManageSettings changes the office's name, time zone and
	// default retention (/api/v1/admin/settings).
	ActionManageSettings OfficeAction = "manage_settings"
	// ActionReadAudit searches and exports the office's audit trail
	// (GET /api/v1/audit, /api/v1/audit.csv); each search is itself
	// audited.
	ActionReadAudit OfficeAction = "read_audit"
)

// CodeOfficeNotPermitted is the refusal of an office action.
const CodeOfficeNotPermitted = "office_not_permitted"

// OfficePolicy grants each office action to roles: supervisors for their
// own office (their Org), admins for any. Officers and applicants are
// refused the figures (403 office_not_permitted): they compare the
// officers, which is the supervisors' to read.
var OfficePolicy = map[OfficeAction][]Role{
	ActionReadStats: {RoleSupervisor, RoleAdmin},
	// The catalogue is the whole office's rules: admins only.
	ActionManageCatalogue: {RoleAdmin},
	ActionReadFollowUps:   {RoleSupervisor, RoleAdmin},
	ActionCloseFollowUp:   {RoleSupervisor},
	ActionReadOwnRatings:  {RoleInspector, RoleReviewer},
	// Administration (docs/ADMIN.md): admins only. Admins manage the
	// office and decide no case (they hold no officer relation).
	ActionManageUsers:    {RoleAdmin},
	ActionManageUnits:    {RoleAdmin},
	ActionManageSettings: {RoleAdmin},
	ActionReadAudit:      {RoleSupervisor, RoleAdmin},
}

// AuthorizeOffice is the check before an office action on office: nil when
// OfficePolicy grants it to u, else ErrForbidden with CodeOfficeNotPermitted.
func AuthorizeOffice(u *User, action OfficeAction, office string) error {
	if u != nil && slices.Contains(OfficePolicy[action], u.Role) && (u.Role == RoleAdmin || u.Org == office) {
		return nil
	}
	return Coded(ErrForbidden, CodeOfficeNotPermitted, fmt.Sprintf("you may not %s of this office", actionWords(Action(action))))
}
