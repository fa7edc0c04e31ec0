package server

import "siteinspect/domain"

// assignByRole marks the one route whose action depends on the caller's
// role: an inspector takes the inspector slot (storage.ActionTake), a
// reviewer the reviewer slot (ActionTakeReview), an admin assigns
// (ActionAssign); anyone else is refused as for ActionAssign.
const assignByRole domain.Action = "assign_by_role"

// routeActions names the policy action (domain/policy.go) that each route
// about one case performs. The handler asks the policy for exactly this
// action before it does anything, and the storage method re-checks the
// case's state in its transaction. TestPolicyMatrix walks every route ×
// user × case state from this table over HTTP; a route that is neither here
// nor in routesWithoutCase fails it.
var routeActions = map[string]domain.Action{
	"GET /api/v1/cases/:id":                    domain.ActionView,
	"POST /api/v1/cases/:id/submit":            domain.ActionSubmit,
	"POST /api/v1/cases/:id/withdraw":          domain.ActionWithdraw,
	"POST /api/v1/cases/:id/assign":            assignByRole,
	"POST /api/v1/cases/:id/release":           domain.ActionReleaseReview,
	"POST /api/v1/cases/:id/legal-hold":        domain.ActionLegalHold,
	"DELETE /api/v1/cases/:id/legal-hold":      domain.ActionLegalHold,
	"GET /api/v1/cases/:id/retention":          domain.ActionReadNotes,
	"POST /api/v1/cases/:id/uploads":           domain.ActionUpload,
	"PATCH /api/v1/uploads/:uid":               domain.ActionUpload,
	"GET /api/v1/cases/:id/evidence":           domain.ActionView,
	"GET /api/v1/evidence/:eid":                domain.ActionView,
	"GET /api/v1/evidence/:eid/content":        domain.ActionView,
	"GET /api/v1/evidence/:eid/playback":       domain.ActionView,
	"GET /api/v1/evidence/:eid/poster":         domain.ActionView,
	"GET /api/v1/evidence/:eid/thumbnails":     domain.ActionView,
	"GET /api/v1/evidence/:eid/thumbnail":      domain.ActionView,
	"GET /api/v1/evidence/:eid/text":           domain.ActionView,
	"GET /api/v1/evidence/:eid/pages/:n":       domain.ActionView,
	"POST /api/v1/evidence/:eid/annotations":   domain.ActionAnnotate,
	"GET /api/v1/evidence/:eid/annotations":    domain.ActionReadNotes,
	"GET /api/v1/cases/:id/annotations":        domain.ActionReadNotes,
	"PATCH /api/v1/annotations/:aid":           domain.ActionAnnotate,
	"DELETE /api/v1/annotations/:aid":          domain.ActionAnnotate,
	"GET /api/v1/annotations/:aid/versions":    domain.ActionReadNotes,
	"POST /api/v1/annotations/:aid/replies":    domain.ActionAnnotate,
	"POST /api/v1/annotations/:aid/resolve":    domain.ActionAnnotate,
	"POST /api/v1/annotations/:aid/reopen":     domain.ActionAnnotate,
	"POST /api/v1/cases/:id/findings":          domain.ActionRecordFinding,
	"GET /api/v1/cases/:id/findings":           domain.ActionReadOutcome,
	"POST /api/v1/cases/:id/decision":          domain.ActionDecide,
	"POST /api/v1/cases/:id/countersign":       domain.ActionCountersign,
	"GET /api/v1/cases/:id/decisions":          domain.ActionReadProgress,
	"GET /api/v1/cases/:id/review-summary":     domain.ActionReadNotes,
	"GET /api/v1/cases/:id/owed":               domain.ActionReadOwed,
	"POST /api/v1/cases/:id/owed/:oid/fulfill": domain.ActionConfirmOwed,
	"POST /api/v1/cases/:id/owed/:oid/return":  domain.ActionConfirmOwed,
	"POST /api/v1/cases/:id/commitment":        domain.ActionSignCommitment,
	"GET /api/v1/cases/:id/commitment":         domain.ActionReadOwed,
	"GET /api/v1/cases/:id/audit":              domain.ActionReadNotes,
	"GET /api/v1/cases/:id/events":             domain.ActionReadProgress,
	"GET /api/v1/cases/:id/report.pdf":         domain.ActionReadOutcome,
	"GET /api/v1/cases/:id/report.json":        domain.ActionReadOutcome,
	"GET /api/v1/cases/:id/bundle.zip":         domain.ActionReadNotes,
	"POST /api/v1/cases/:id/live":              domain.ActionStartLive,
	"GET /api/v1/cases/:id/live":               domain.ActionReadNotes,
	"GET /api/v1/cases/:id/coverage":           domain.ActionReadNotes,
	"POST /api/v1/live/:lid/end":               domain.ActionJoinLive,
	"POST /api/v1/live/:lid/link":              domain.ActionStartLive,
	"POST /api/v1/live/:lid/snapshots":         domain.ActionJoinLive,
	"POST /api/v1/live/:lid/whep":              domain.ActionJoinLive,
	"PATCH /api/v1/live/:lid/whep/:rid":        domain.ActionJoinLive,
	"DELETE /api/v1/live/:lid/whep/:rid":       domain.ActionJoinLive,
}

// routesWithoutCase are the routes that act on no one case, or whose caller
// holds a publish token rather than a login, with the check each makes and
// the test that holds it.
var routesWithoutCase = map[string]string{
	"GET /healthz":                                     "public: database and object store reachability",
	"GET /readyz":                                      "public: ready, or why not (database, object store, draining), no case data",
	"GET /metrics":                                     "public: Prometheus metrics, no case data",
	"GET /api/v1/openapi.yaml":                         "public: the API description",
	"GET /api/v1/config":                               "public: the office's code, name, time zone, languages and upload limits, no case data (TestConfig*)",
	"GET /verify/:code":                                "public, rate-limited per address: a report's 128-bit code, nothing personal (TestVerify*)",
	"POST /api/v1/auth/login":                          "public, rate-limited (TestLoginLimit*)",
	"OPTIONS /api/v1/cases/:id/uploads":                "public: tus capabilities, no case data",
	"OPTIONS /api/v1/uploads/:uid":                     "public: tus capabilities, no case data",
	"POST /api/v1/auth/logout":                         "the caller's own session",
	"GET /api/v1/me":                                   "the caller's own user",
	"GET /api/v1/permit-types":                         "any logged-in user: the public catalogue",
	"GET /api/v1/stats":                                "supervisors of the office and admins: domain.OfficePolicy (TestStats*)",
	"GET /api/v1/admin/permit-types":                   "admins: domain.OfficePolicy ActionManageCatalogue (TestCatalogueAdminOnly)",
	"POST /api/v1/admin/permit-types":                  "admins: domain.OfficePolicy ActionManageCatalogue (TestCatalogueAdminOnly)",
	"POST /api/v1/admin/permit-types/:code/versions":   "admins: domain.OfficePolicy ActionManageCatalogue (TestCatalogueAdminOnly)",
	"POST /api/v1/admin/permit-types/:code/retire":     "admins: domain.OfficePolicy ActionManageCatalogue (TestCatalogueAdminOnly)",
	"POST /api/v1/admin/permit-types/:code/reactivate": "admins: domain.OfficePolicy ActionManageCatalogue (TestCatalogueAdminOnly)",
	"GET /api/v1/owed":                                 "the office head (supervisor) and officers their office's owed items, admins all, applicants 403 (TestOwedLoop)",
	"POST /api/v1/cases":                               "applicants open cases for their company (TestAuthorizationMatrix)",
	"GET /api/v1/cases":                                "the list is ActionView's rows as SQL (TestCaseListFollowsPolicy)",
	"HEAD /api/v1/uploads/:uid":                        "the uploader's own upload, 404 to anyone else (TestPolicyMatrix's upload rows)",
	"DELETE /api/v1/uploads/:uid":                      "the uploader's own upload, 404 to anyone else",
	"GET /api/v1/uploads/:uid":                         "the uploader's own upload, 404 to anyone else",
	"GET /api/v1/live/:lid":                            "publish token of that session, or ActionView on its case (e2e live tests)",
	"GET /api/v1/live/:lid/ws":                         "publish token of that session, or ActionView on its case (e2e live tests)",
	"OPTIONS /api/v1/live/:lid/whip":                   "public: WHIP CORS preflight",
	"POST /api/v1/live/:lid/whip":                      "publish token of that session (RFC 9725)",
	"OPTIONS /api/v1/live/:lid/whip/:rid":              "public: WHIP CORS preflight",
	"PATCH /api/v1/live/:lid/whip/:rid":                "publish token of that session",
	"DELETE /api/v1/live/:lid/whip/:rid":               "publish token of that session",
	"OPTIONS /api/v1/live/:lid/uploads":                "public: tus capabilities",
	"POST /api/v1/live/:lid/uploads":                   "publish token; ActionAddLiveEvidence as RelPublisher (TestPhoneUploadAfterDecision)",
	"HEAD /api/v1/live/:lid/uploads/:uid":              "publish token, that session's case's upload",
	"PATCH /api/v1/live/:lid/uploads/:uid":             "publish token; the upload's rule re-checked in storage (TestPhoneUploadAfterDecision)",
	"DELETE /api/v1/live/:lid/uploads/:uid":            "publish token, that session's case's upload",
	"GET /api/v1/me/contact":                           "the caller's own contact (TestNotificationInbox)",
	"PUT /api/v1/me/contact":                           "the caller's own contact (TestNotificationInbox)",
	"GET /api/v1/notifications":                        "the caller's own notifications, by user_id in SQL (TestNotificationInbox)",
	"POST /api/v1/notifications/read":                  "the caller's own notifications; others' ids change nothing (TestNotificationInbox)",
	"GET /api/v1/notifications/events":                 "the caller's own unread count (TestNotificationInbox)",
}
