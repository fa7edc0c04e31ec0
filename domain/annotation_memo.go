package domain

import (
	"sync/atomic"
)

// annMemo holds what the server renders for an annotation of the cache,
// which never changes while the annotation is cached.
type annMemo struct {
	owner *Annotation
	json  atomic.Pointer[[]byte]
}

// CachedJSON returns the JSON stored for a with SetCachedJSON, if a is
// a shared, unchanging annotation from the listing cache and it has some.
func (a *Annotation) CachedJSON() []byte {
	if m := a.memo; m != nil && m.owner == a {
		if p := m.json.Load(); p != nil {
			return *p
		}
	}
	return nil
}

// JSONCacheable reports whether SetCachedJSON keeps JSON for a.
func (a *Annotation) JSONCacheable() bool { return a.memo != nil && a.memo.owner == a }

// SetCachedJSON keeps b, which must be a's rendering as the API shows it,
// for CachedJSON, if a is from the listing cache (JSONCacheable); b must
// not be changed afterwards.
func (a *Annotation) SetCachedJSON(b []byte) {
	if m := a.memo; m != nil && m.owner == a {
		m.json.Store(&b)
	}
}

// Share marks a as shared by a store's listing cache: from now on it must
// not be changed, as other requests read it, and it may keep the JSON the
// server renders for it (SetCachedJSON).
func (a *Annotation) Share() { a.memo = &annMemo{owner: a} }
