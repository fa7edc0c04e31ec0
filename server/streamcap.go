package server

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"
)

// maxStreamsPerUser is how many event streams (a case's and the badge's
// together) one user holds open at once on one replica. Every committed
// change wakes every open stream, which then reads the database, so the
// number of streams multiplies the cost of each commit; 16 is eight
// browser tabs, each with a case page and its badge.
const maxStreamsPerUser = 16

// streamSlots counts the event streams each user holds open here.
type streamSlots struct {
	mu  sync.Mutex
	max int
	n   map[string]int
}

func newStreamSlots(max int) *streamSlots {
	return &streamSlots{max: max, n: map[string]int{}}
}

// limit is middleware for a route that opens an event stream: past the
// user's streams, 429 too_many_streams with Retry-After, before anything is
// read; the place is given back when the stream ends.
func (s *streamSlots) limit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if u == nil {
			return next(c)
		}
		s.mu.Lock()
		if s.n[u.ID] >= s.max {
			s.mu.Unlock()
			c.Response().Header().Set("Retry-After", "15")
			return newCodedError(http.StatusTooManyRequests, "too_many_streams",
				fmt.Sprintf("at most %d event streams may be open at once; close another page of this service", s.max))
		}
		s.n[u.ID]++
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			if s.n[u.ID]--; s.n[u.ID] <= 0 {
				delete(s.n, u.ID)
			}
			s.mu.Unlock()
		}()
		return next(c)
	}
}
