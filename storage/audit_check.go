package storage

// ComputeHash recomputes the event's hash from its content and its
// PrevHash, the way the chain made it, so a copy of some events (a case
// bundle) can be checked without the database: an event whose Hash differs
// from ComputeHash was altered.
func (e *AuditEvent) ComputeHash() string { return chainHash(e.PrevHash, e.canonical()) }

// GenesisHash is the PrevHash of the chain's first event.
const GenesisHash = genesisHash
