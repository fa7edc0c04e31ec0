package storage

import (
	"siteinspect/domain"
	"sync"
)

// Pages of annotations are the API's hottest long reads, and most of their
// cost was reading a row's many columns out of SQLite and rendering them
// as JSON. A page now reads only each row's id and what says which state
// of it this is (annKey), and takes the annotations whose state it has
// seen before from this cache, with the JSON the server rendered for them;
// only the others are read in full.
//
// The key covers every change the API can make to what an annotation
// shows: an edit bumps version (and updated_at); resolving and reopening
// set resolved_at and updated_at; a reply adds to reply_count (triggers
// keep it, whoever inserts the reply; replies are never edited); a deleted
// annotation is not listed at all. Its author comes from the user cache (users are never
// renamed). A change made to the table behind the API's back (by hand)
// that keeps all of these goes unseen until the entry is evicted.

// annotationCacheMaxBytes bounds the cache's memory, roughly: a typical
// entry (struct, strings and JSON) takes about a kilobyte.
const annotationCacheMaxBytes = 48 << 20

// annKey is the state of an annotation row a cache entry holds.
type annKey struct {
	version  int
	updated  int64
	resolved int64 // resolved_at, or -1 when open
	replies  int64 // how many replies its thread has
}

type annEntry struct {
	key  annKey
	a    *domain.Annotation
	size int64
}

type annotationCache struct {
	mu      sync.Mutex
	entries map[string]*annEntry
	size    int64
	max     int64
}

// get returns the cached annotations of ids whose state is keys[i], or nil
// in their place; it reports how many it found.
func (c *annotationCache) get(ids []string, keys []annKey, out []*domain.Annotation) int {
	n := 0
	c.mu.Lock()
	for i, id := range ids {
		if e := c.entries[id]; e != nil && e.key == keys[i] {
			out[i] = e.a
			n++
		}
	}
	c.mu.Unlock()
	return n
}

// put caches a, which is in state k, and marks it as cached: from now on
// it must not be changed, as other requests share it.
func (c *annotationCache) put(k annKey, a *domain.Annotation) {
	a.Share()
	size := int64(768 + 2*len(a.Body))
	if a.Shape != nil {
		size += int64(64 + 40*len(a.Shape.Points))
	}
	for _, r := range a.Replies {
		size += int64(256 + 2*len(r.Body))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*annEntry{}
	}
	if old := c.entries[a.ID]; old != nil {
		c.size -= old.size
	}
	c.entries[a.ID] = &annEntry{key: k, a: a, size: size}
	c.size += size
	max := c.max
	if max == 0 {
		max = annotationCacheMaxBytes
	}
	if c.size > max {
		// Evict at random (map order) down to three quarters: cheaper than
		// keeping an LRU order on every hit, and pages read at random
		// positions have no recency worth keeping.
		for id, e := range c.entries {
			if c.size <= max*3/4 {
				break
			}
			delete(c.entries, id)
			c.size -= e.size
		}
	}
}

// drop forgets an annotation (it changed, or is gone).
func (c *annotationCache) drop(id string) {
	c.mu.Lock()
	if e := c.entries[id]; e != nil {
		delete(c.entries, id)
		c.size -= e.size
	}
	c.mu.Unlock()
}
