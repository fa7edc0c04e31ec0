package server

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
)

// Readiness, for a load balancer in front of several replicas: /healthz
// says the process lives; /readyz says whether to send it requests. It
// answers 503 while the database or the object store does not answer, and
// from the moment the process is told to stop (Drain), so that the
// balancer takes it out of rotation before it stops accepting connections.
const (
	// readyPingTimeout bounds each dependency's ping: a store that takes
	// longer is as good as down for a request.
	readyPingTimeout = time.Second
	// readyCacheFor is how long one check's answer is given again: a
	// balancer checking every second, per replica and per balancer,
	// costs the database and the object store one ping a second.
	readyCacheFor = time.Second
	// CodeDraining is /readyz's code while the process drains.
	CodeDraining = "draining"
)

// readiness checks and remembers whether this replica can take requests.
type readiness struct {
	db, objects pinger
	draining    atomic.Bool
	// asked is set by the first /readyz: somebody routes by it.
	asked atomic.Bool

	mu                  sync.Mutex // held during a check: callers share one
	checkedAt           time.Time
	status              int
	code, message, what string

	// streams is cancelled when the HTTP server shuts down, ending
	// the event streams that would otherwise keep it waiting.
	streams    context.Context
	endStreams context.CancelFunc
}

func newReadiness(db, objects pinger) *readiness {
	r := &readiness{db: db, objects: objects}
	r.streams, r.endStreams = context.WithCancel(context.Background())
	return r
}

// check returns the cached verdict, or pings the database and the object
// store when it is older than readyCacheFor.
func (r *readiness) check(ctx context.Context) (status int, code, message string) {
	if r.draining.Load() {
		return http.StatusServiceUnavailable, CodeDraining, "this replica is shutting down; send requests to another"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checkedAt) < readyCacheFor {
		return r.status, r.code, r.message
	}
	r.status, r.code, r.message = http.StatusOK, "", ""
	pctx, cancel := context.WithTimeout(ctx, readyPingTimeout)
	defer cancel()
	if err := r.db.Ping(pctx); err != nil {
		r.status, r.code, r.message = http.StatusServiceUnavailable, domain.CodeDatabaseUnavailable, "the database does not answer"
	} else if err := r.objects.Ping(pctx); err != nil {
		r.status, r.code, r.message = http.StatusServiceUnavailable, domain.CodeStorageUnavailable, "the object store does not answer"
	}
	if ctx.Err() == nil {
		r.checkedAt = time.Now()
	}
	return r.status, r.code, r.message
}

// handleReady answers 200 {"status":"ready"}, or 503 with API.md's error
// body naming the reason: database_unavailable, storage_unavailable or
// draining. It does not go through the error handler, which would log
// every failed check of a balancer as a failed request.
func handleReady(r *readiness) echo.HandlerFunc {
	return func(c echo.Context) error {
		r.asked.Store(true)
		c.Response().Header().Set("Cache-Control", "no-store")
		status, code, msg := r.check(c.Request().Context())
		if status == http.StatusOK {
			return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
		}
		var body apiError
		body.Error.Code, body.Error.Message = code, msg
		return c.JSON(status, body)
	}
}

// Drain makes /readyz answer 503 draining from now on, while every other
// route goes on serving: the first step of a graceful stop. It reports
// whether /readyz has been asked since the start, that is whether a
// balancer is there to notice (a process nobody routes by readiness
// need not wait for one).
func (s *Server) Drain() (observed bool) {
	s.ready.draining.Store(true)
	return s.ready.asked.Load()
}

// EndStreams ends the open event streams (their clients reconnect, with
// Last-Event-ID, to another replica), so that shutting the HTTP server
// down waits only for ordinary requests. Call it when the shutdown begins
// (http.Server.RegisterOnShutdown).
func (s *Server) EndStreams() { s.ready.endStreams() }
