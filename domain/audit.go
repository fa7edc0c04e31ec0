package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// AuditEvent is one link of the audit chain.
type AuditEvent struct {
	Seq      int64           `json:"seq"`
	CaseID   string          `json:"case_id,omitempty"`
	ActorID  string          `json:"actor_id,omitempty"`
	Action   string          `json:"action"`
	Target   string          `json:"target,omitempty"`
	Data     json.RawMessage `json:"data"`
	At       time.Time       `json:"at"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

// genesisHash is the prev_hash of the first event.
const genesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Canonical is the exact byte string an event's hash covers: a JSON object
// with a fixed key order, times as Unix milliseconds, and the data as
// stored (itself produced by json.Marshal, which sorts map keys).
func (e *AuditEvent) Canonical() []byte {
	b, _ := json.Marshal(struct {
		Seq     int64           `json:"seq"`
		CaseID  string          `json:"case_id"`
		ActorID string          `json:"actor_id"`
		Action  string          `json:"action"`
		Target  string          `json:"target"`
		Data    json.RawMessage `json:"data"`
		At      int64           `json:"at"`
	}{e.Seq, e.CaseID, e.ActorID, e.Action, e.Target, e.Data, e.At.UnixMilli()})
	return b
}

// ChainHash is an event's hash: SHA-256 over the previous event's hash
// and the event's canonical bytes, in hex.
func ChainHash(prev string, canonical []byte) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// ChainBreak says where the audit chain stops matching.
type ChainBreak struct {
	Seq    int64
	Reason string
}

func (b *ChainBreak) Error() string { return fmt.Sprintf("audit event %d: %s", b.Seq, b.Reason) }

// ComputeHash recomputes the event's hash from its content and its
// PrevHash, the way the chain made it, so a copy of some events (a case
// bundle) can be checked without the database: an event whose Hash differs
// from ComputeHash was altered.
func (e *AuditEvent) ComputeHash() string { return ChainHash(e.PrevHash, e.Canonical()) }

// GenesisHash is the PrevHash of the chain's first event.
const GenesisHash = genesisHash
