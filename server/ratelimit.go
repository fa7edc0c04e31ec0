package server

import (
	"sync"
	"time"
)

// limiter counts failures per key in fixed windows. It keeps one small
// entry per key seen within a window and forgets the rest, so a flood of
// distinct usernames cannot grow it without bound for longer than a window.
type limiter struct {
	mu      sync.Mutex
	max     int
	window  time.Duration
	entries map[string]*window
	now     func() time.Time
}

type window struct {
	count int
	reset time.Time
}

func newLimiter(max int, w time.Duration) *limiter {
	return &limiter{max: max, window: w, entries: map[string]*window{}, now: time.Now}
}

// blocked reports whether key has used up its failures, and when it may try
// again.
func (l *limiter) blocked(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[key]
	now := l.now()
	if !ok || now.After(e.reset) {
		return false, 0
	}
	return e.count >= l.max, e.reset.Sub(now)
}

// fail records a failure for key.
func (l *limiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.entries) > 100_000 {
		for k, e := range l.entries {
			if now.After(e.reset) {
				delete(l.entries, k)
			}
		}
	}
	e, ok := l.entries[key]
	if !ok || now.After(e.reset) {
		e = &window{reset: now.Add(l.window)}
		l.entries[key] = e
	}
	e.count++
}

// clear forgets key's failures (after a successful login).
func (l *limiter) clear(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, key)
}
