package server

import "siteinspect/storage"

// assignByRole marks the one route whose action depends on the caller's
// role: an inspector takes the inspector slot (storage.ActionTake), a
// reviewer the reviewer slot (ActionTakeReview), an admin assigns
// (ActionAssign); anyone else is refused as for ActionAssign.
const assignByRole storage.Action = "assign_by_role"

// routeActions names the policy action (storage/policy.go) that each route
// about one case performs. The handler asks the policy for exactly this
// action before it does anything, and the storage method re-checks the
// case's state in its transaction. TestPolicyMatrix walks every route ×
// user × case state from this table over HTTP; a route that is neither here
// nor in routesWithoutCase fails it.
var routeActions = map[string]storage.Action{
	"GET /api/v1/cases/:id":                    storage.ActionView,
	"POST /api/v1/cases/:id/submit":            storage.ActionSubmit,
	"POST /api/v1/cases/:id/withdraw":          storage.ActionWithdraw,
	"POST /api/v1/cases/:id/assign":            assignByRole,
	"POST /api/v1/cases/:id/release":           storage.ActionReleaseReview,
	"POST /api/v1/cases/:id/uploads":           storage.ActionUpload,
	"PATCH /api/v1/uploads/:uid":               storage.ActionUpload,
	"GET /api/v1/cases/:id/evidence":           storage.ActionView,
	"GET /api/v1/evidence/:eid":                storage.ActionView,
	"GET /api/v1/evidence/:eid/content":        storage.ActionView,
	"GET /api/v1/evidence/:eid/playback":       storage.ActionView,
	"GET /api/v1/evidence/:eid/poster":         storage.ActionView,
	"GET /api/v1/evidence/:eid/thumbnails":     storage.ActionView,
	"GET /api/v1/evidence/:eid/thumbnail":      storage.ActionView,
	"GET /api/v1/evidence/:eid/text":           storage.ActionView,
	"GET /api/v1/evidence/:eid/pages/:n":       storage.ActionView,
	"POST /api/v1/evidence/:eid/annotations":   storage.ActionAnnotate,
	"GET /api/v1/evidence/:eid/annotations":    storage.ActionReadNotes,
	"GET /api/v1/cases/:id/annotations":        storage.ActionReadNotes,
	"PATCH /api/v1/annotations/:aid":           storage.ActionAnnotate,
	"DELETE /api/v1/annotations/:aid":          storage.ActionAnnotate,
	"GET /api/v1/annotations/:aid/versions":    storage.ActionReadNotes,
	"POST /api/v1/annotations/:aid/replies":    storage.ActionAnnotate,
	"POST /api/v1/annotations/:aid/resolve":    storage.ActionAnnotate,
	"POST /api/v1/annotations/:aid/reopen":     storage.ActionAnnotate,
	"POST /api/v1/cases/:id/findings":          storage.ActionRecordFinding,
	"GET /api/v1/cases/:id/findings":           storage.ActionReadOutcome,
	"POST /api/v1/cases/:id/decision":          storage.ActionDecide,
	"POST /api/v1/cases/:id/countersign":       storage.ActionCountersign,
	"GET /api/v1/cases/:id/decisions":          storage.ActionReadProgress,
	"GET /api/v1/cases/:id/owed":               storage.ActionReadOwed,
	"POST /api/v1/cases/:id/owed/:oid/fulfill": storage.ActionConfirmOwed,
	"GET /api/v1/cases/:id/audit":              storage.ActionReadNotes,
	"GET /api/v1/cases/:id/events":             storage.ActionReadProgress,
	"GET /api/v1/cases/:id/report.pdf":         storage.ActionReadOutcome,
	"GET /api/v1/cases/:id/report.json":        storage.ActionReadOutcome,
	"GET /api/v1/cases/:id/bundle.zip":         storage.ActionReadNotes,
	"POST /api/v1/cases/:id/live":              storage.ActionStartLive,
	"GET /api/v1/cases/:id/live":               storage.ActionReadNotes,
	"POST /api/v1/live/:lid/end":               storage.ActionJoinLive,
	"POST /api/v1/live/:lid/snapshots":         storage.ActionJoinLive,
	"POST /api/v1/live/:lid/whep":              storage.ActionJoinLive,
	"PATCH /api/v1/live/:lid/whep/:rid":        storage.ActionJoinLive,
	"DELETE /api/v1/live/:lid/whep/:rid":       storage.ActionJoinLive,
}

// routesWithoutCase are the routes that act on no one case, or whose caller
// holds a publish token rather than a login, with the check each makes and
// the test that holds it.
var routesWithoutCase = map[string]string{
	"GET /healthz":                          "public: database and object store reachability",
	"GET /metrics":                          "public: Prometheus metrics, no case data",
	"GET /api/v1/openapi.yaml":              "public: the API description",
	"GET /api/v1/config":                    "public: the office's code, name, time zone, languages and upload limits, no case data (TestConfig*)",
	"GET /verify/:code":                     "public, rate-limited per address: a report's 128-bit code, nothing personal (TestVerify*)",
	"POST /api/v1/auth/login":               "public, rate-limited (TestLoginLimit*)",
	"OPTIONS /api/v1/cases/:id/uploads":     "public: tus capabilities, no case data",
	"OPTIONS /api/v1/uploads/:uid":          "public: tus capabilities, no case data",
	"POST /api/v1/auth/logout":              "the caller's own session",
	"GET /api/v1/me":                        "the caller's own user",
	"GET /api/v1/permit-types":              "any logged-in user: the public catalogue",
	"POST /api/v1/cases":                    "applicants open cases for their company (TestAuthorizationMatrix)",
	"GET /api/v1/cases":                     "the list is ActionView's rows as SQL (TestCaseListFollowsPolicy)",
	"HEAD /api/v1/uploads/:uid":             "the uploader's own upload, 404 to anyone else (TestPolicyMatrix's upload rows)",
	"DELETE /api/v1/uploads/:uid":           "the uploader's own upload, 404 to anyone else",
	"GET /api/v1/uploads/:uid":              "the uploader's own upload, 404 to anyone else",
	"GET /api/v1/live/:lid":                 "publish token of that session, or ActionView on its case (e2e live tests)",
	"GET /api/v1/live/:lid/ws":              "publish token of that session, or ActionView on its case (e2e live tests)",
	"OPTIONS /api/v1/live/:lid/whip":        "public: WHIP CORS preflight",
	"POST /api/v1/live/:lid/whip":           "publish token of that session (RFC 9725)",
	"OPTIONS /api/v1/live/:lid/whip/:rid":   "public: WHIP CORS preflight",
	"PATCH /api/v1/live/:lid/whip/:rid":     "publish token of that session",
	"DELETE /api/v1/live/:lid/whip/:rid":    "publish token of that session",
	"OPTIONS /api/v1/live/:lid/uploads":     "public: tus capabilities",
	"POST /api/v1/live/:lid/uploads":        "publish token; ActionAddLiveEvidence as RelPublisher (TestPhoneUploadAfterDecision)",
	"HEAD /api/v1/live/:lid/uploads/:uid":   "publish token, that session's case's upload",
	"PATCH /api/v1/live/:lid/uploads/:uid":  "publish token; the upload's rule re-checked in storage (TestPhoneUploadAfterDecision)",
	"DELETE /api/v1/live/:lid/uploads/:uid": "publish token, that session's case's upload",
}
