package storage

import (
	"siteinspect/domain"
	"sync"
	"time"
)

// Every annotation create first reads its evidence item and case
// (EvidenceWithCase): one round trip per create beside its batch's. In
// BenchmarkAnnotations10k on PostgreSQL that read was a third of the
// database's CPU and of the server's over the creates. A create checks the
// case again where it counts, in the transaction that inserts (its
// INSERT … SELECT carries the policy's rule under the case row's lock), so
// it may start from a copy of what an earlier read found.
//
// What a copy may be trusted with, and why:
//   - The item: a copy is kept only of an item that is ready, on a case
//     past its draft. After that, what a create reads of it never changes:
//     items are removed and re-slotted only in a draft (ActionEditEvidence),
//     a case never returns to draft, and the pipeline sets an item's media
//     as it makes it ready (a job run again after a lost lease finds the
//     same; one that then fails for good clears them, which makes the
//     copy's checks of a time stricter, not looser). Its case never
//     changes either.
//   - The case: its state and officers may have changed since. A copy that
//     allows the create is checked again by the insert; a copy that refuses
//     is never believed (RecentEvidenceWithCase's callers read afresh).
//
// So a copy can neither let through a create that the database would
// refuse, nor refuse one that it would allow; no replica has to tell the
// others when a case changes. Nothing depends on how fresh a copy is:
// evidenceCopyTTL and evidenceCopiesMax only bound the memory.

const (
	// evidenceCopyTTL is how long a copy is kept.
	evidenceCopyTTL = 30 * time.Second
	// evidenceCopiesMax bounds the copies (an item and its case each);
	// past it they start over. Enough for the items a city's inspectors
	// annotate within evidenceCopyTTL.
	evidenceCopiesMax = 2048
)

type evidenceCopy struct {
	ev  domain.Evidence
	cs  domain.Case
	exp time.Time
}

// evidenceCopies are the copies EvidenceWithCase kept, by item id.
type evidenceCopies struct {
	mu sync.Mutex
	m  map[string]evidenceCopy
}

// keep remembers ev and cs if a create may start from them (see above).
func (c *evidenceCopies) keep(ev *domain.Evidence, cs *domain.Case, now time.Time) {
	if ev.Status != domain.EvidenceReady || ev.RemovedAt != nil || cs.Status == domain.StatusDraft {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= evidenceCopiesMax {
		c.m = make(map[string]evidenceCopy)
	}
	c.m[ev.ID] = evidenceCopy{ev: *ev, cs: *cs, exp: now.Add(evidenceCopyTTL)}
}

// get returns copies of what keep kept for id, if it has not expired.
func (c *evidenceCopies) get(id string, now time.Time) (*domain.Evidence, *domain.Case, bool) {
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if !ok || now.After(e.exp) {
		return nil, nil, false
	}
	return &e.ev, &e.cs, true
}

// RecentEvidenceWithCase returns, without asking the database, what
// EvidenceWithCase read for item id in the last evidenceCopyTTL, if the
// item was ready on a case past its draft. The case may have changed
// since: use it only for a write that checks the case again in its own
// transaction (CreateAnnotation), only where it allows that write, and
// read afresh (EvidenceWithCase) where it refuses.
func (d *DB) RecentEvidenceWithCase(id string) (*domain.Evidence, *domain.Case, bool) {
	return d.evCopies.get(id, time.Now())
}
