package domain

import "time"

// The states of an owed item (承诺办): open until the applicant delivers
// an upload into its slot, delivered until the inspector accepts it
// (accepted) or returns it (open again, with the reason).
const (
	OwedOpen      = "open"
	OwedDelivered = "delivered"
	OwedAccepted  = "accepted"
)

// MetaOwedItem is the tus Upload-Metadata key naming the owed item an
// upload delivers; such an upload joins the case under ActionDeliverOwed.
const MetaOwedItem = "owed_item"

// Codes of the owed-material errors (docs/ERRORS.md).
const (
	CodeCommitmentNotAllowed = "commitment_not_allowed"
	CodeCommitmentInvalid    = "commitment_invalid"
	CodeOwedItemNotOpen      = "owed_item_not_open"
	CodeOwedNotDelivered     = "owed_not_delivered"
	CodeReturnReasonRequired = "return_reason_required"
)

// CommitmentStatement is the legal sentence the applicant signs, in both
// languages; it is stored with each signature as signed.
var CommitmentStatement = Text{
	ZH: "本人代表申请单位郑重承诺：上列容缺材料将在所列期限内补交；所提交材料及本承诺真实有效。如未按期补交或承诺不实，申请单位愿承担相应法律责任，许可机关可依法撤销已作出的许可决定。",
	EN: "On behalf of the applicant I solemnly undertake that the materials listed above will be handed in by the dates shown, and that the materials submitted and this commitment are true. If they are not handed in on time or the commitment is untrue, the applicant accepts the legal consequences, and the licensing authority may revoke the permit according to law.",
}

// CommitmentItem is one material the applicant commits to hand in later.
type CommitmentItem struct {
	Material Text      `json:"material"`
	DueAt    time.Time `json:"due_at"`
}

// Commitment is the applicant's signed commitment (承诺书) on a case.
type Commitment struct {
	CaseID     string           `json:"case_id"`
	Items      []CommitmentItem `json:"items"`
	Statement  Text             `json:"statement"`
	SignerName string           `json:"signer_name"`
	Signer     *UserRef         `json:"signer"`
	SignedAt   time.Time        `json:"signed_at"`
}

// CommitmentInput is what the applicant signs: the materials (each one of
// the permit type's materials, in either language), their own name, and
// agreement to the statement.
type CommitmentInput struct {
	Items      []string `json:"items"`
	SignerName string   `json:"signer_name"`
	Agree      bool     `json:"agree"`
}

// OwedEntry is one owed item on the office's escalation list.
type OwedEntry struct {
	Owed
	CaseID       string   `json:"case_id"`
	CaseNumber   string   `json:"case_number"`
	PermitType   string   `json:"permit_type"`
	SiteName     string   `json:"site_name"`
	CaseStatus   Status   `json:"case_status"`
	ApplicantOrg string   `json:"applicant_org"`
	Inspector    *UserRef `json:"inspector"`
}
