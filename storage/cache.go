package storage

import (
	"context"
	"siteinspect/domain"
	"sync"
	"sync/atomic"
	"time"
)

// Every API request authenticates, and every annotation checks the permit
// type's checklist; these small caches keep those lookups off SQLite.
// Their TTLs bound how long a change made by another process (the CLI, or
// an edit of the database by hand) can go unseen; changes made through this
// DB take effect at once.
const (
	// sessionCacheTTL: a session ended by another process (a password
	// reset from the CLI) stays usable here for at most this long. Logout,
	// expiry and SetPassword through this DB are immediate.
	sessionCacheTTL = 2 * time.Second
	// sharedSessionCacheTTL is sessionCacheTTL on PostgreSQL, where other
	// replicas end sessions too. They say so (peers.go), and a session is
	// served from the cache only while this process hears them; the TTL
	// bounds what a notification lost between a commit and its NOTIFY
	// (the sender died) can leave usable. Measured (BenchmarkSessionLookup,
	// PostgreSQL on loopback): 0.9 µs a lookup from the cache, 51 µs and a
	// pool connection from the database (plus the network's round trip
	// between machines); a burst of requests, as the UI sends when it
	// opens a case, reads the database once.
	sharedSessionCacheTTL = time.Second
	// permitTypeCacheTTL: an admin's edit of the catalogue through this DB
	// shows at once; one made through another replica (or by hand) within
	// this time. Published versions never change.
	permitTypeCacheTTL = 10 * time.Second
	// cacheMax bounds each cache; past it the cache starts over.
	cacheMax = 10_000
)

// caches are a DB's in-memory copies of rarely changing records.
type caches struct {
	mu       sync.Mutex
	sessions map[string]cachedSession // token hash → session
	// sessionGen counts drops, so that a lookup that read the database
	// before a logout does not put the ended session back afterwards.
	sessionGen uint64
	permits    map[string]cachedPermit // code or code@version → permit type
	// users maps id → UserRef. Users are never deleted; an admin's
	// rename drops the map (dropSessionLocal("*")) on every replica.
	users map[string]domain.UserRef
	// settings are the offices' settings (settings.go).
	settings settingsCache

	// shared is set on PostgreSQL (shareSessions): tell announces the
	// sessions this process ends, and listening says whether it hears
	// the others' (DB.Listen); while it does not, nothing is served from
	// or put into the session cache.
	shared    bool
	tell      func(hash string)
	listening atomic.Bool
}

// shareSessions makes the session cache one of several processes' on one
// database: tell is called with each token hash ("*": all) this process
// ends, and sessions are cached only while setHearing(true).
func (c *caches) shareSessions(tell func(hash string)) {
	c.shared, c.tell = true, tell
}

// setHearing says whether the other processes' ends of sessions reach
// this one.
func (c *caches) setHearing(on bool) { c.listening.Store(on) }

// hearing reports setHearing's last word.
func (c *caches) hearing() bool { return c.listening.Load() }

// usable says whether the session cache may be used now.
func (c *caches) usable() bool { return !c.shared || c.listening.Load() }

type cachedSession struct {
	s     domain.Session
	u     domain.User
	until time.Time
}

type cachedPermit struct {
	p     domain.PermitType
	until time.Time
}

// session returns a copy of the cached session for hash, if it is still
// fresh and not expired at now; on a miss, gen is to be passed to
// putSession with what the database says.
func (c *caches) session(hash string, now time.Time) (s *domain.Session, gen uint64, ok bool) {
	c.mu.Lock()
	e, ok := c.sessions[hash]
	gen = c.sessionGen
	c.mu.Unlock()
	if !ok || !c.usable() || time.Now().After(e.until) || !now.Before(e.s.ExpiresAt) {
		return nil, gen, false
	}
	cs, u := e.s, e.u
	cs.User = &u
	return &cs, gen, true
}

// putSession caches s unless a session was dropped since gen was read.
func (c *caches) putSession(hash string, s *domain.Session, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.sessionGen || !c.usable() {
		return
	}
	if c.sessions == nil || len(c.sessions) >= cacheMax {
		c.sessions = map[string]cachedSession{}
	}
	ttl := sessionCacheTTL
	if c.shared {
		ttl = sharedSessionCacheTTL
	}
	c.sessions[hash] = cachedSession{s: *s, u: *s.User, until: time.Now().Add(ttl)}
}

// dropSession forgets one session (hash != "") or all of them, here and,
// on a shared database, in the other processes.
func (c *caches) dropSession(hash string) {
	if hash == "" {
		hash = "*"
	}
	c.dropSessionLocal(hash)
	if c.tell != nil {
		c.tell(hash)
	}
}

// dropSessionLocal forgets one session (by token hash) or all ("*") in
// this process only.
func (c *caches) dropSessionLocal(hash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sessionGen++
	if hash == "*" {
		// "*" is also an admin's change (admin.go, settings.go): the
		// users' names and the office's settings are read again too.
		c.sessions, c.users = nil, nil
		c.settings.drop()
		return
	}
	delete(c.sessions, hash)
}

// permit returns the cached permit type under key: a code (its current
// version) or code@version.
func (c *caches) permit(key string) (*domain.PermitType, bool) {
	c.mu.Lock()
	e, ok := c.permits[key]
	c.mu.Unlock()
	if !ok || time.Now().After(e.until) {
		return nil, false
	}
	p := e.p
	return &p, true
}

func (c *caches) putPermit(key string, p *domain.PermitType) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.permits == nil || len(c.permits) >= cacheMax {
		c.permits = map[string]cachedPermit{}
	}
	c.permits[key] = cachedPermit{p: *p, until: time.Now().Add(permitTypeCacheTTL)}
}

func (c *caches) dropPermits() {
	c.mu.Lock()
	c.permits = nil
	c.mu.Unlock()
}

// userRefs returns the refs of ids, reading the ones it has not seen from
// the database.
func (d *DB) userRefs(ctx context.Context, ids []string) (map[string]*domain.UserRef, error) {
	out := make(map[string]*domain.UserRef, len(ids))
	var missing []string
	d.cache.mu.Lock()
	for _, id := range ids {
		if _, done := out[id]; done {
			continue
		}
		if u, ok := d.cache.users[id]; ok {
			out[id] = &u
		} else {
			out[id] = nil
			missing = append(missing, id)
		}
	}
	d.cache.mu.Unlock()
	for _, id := range missing {
		var u domain.UserRef
		err := d.queryRow(ctx, `SELECT id, username, display_name, org FROM users WHERE id = ?`, id).Scan(&u.ID, &u.Username, &u.DisplayName, &u.Org)
		if err != nil {
			return nil, notFound(err, "user "+id)
		}
		out[id] = &u
		d.cache.mu.Lock()
		if d.cache.users == nil || len(d.cache.users) >= cacheMax {
			d.cache.users = map[string]domain.UserRef{}
		}
		d.cache.users[id] = u
		d.cache.mu.Unlock()
	}
	return out, nil
}
