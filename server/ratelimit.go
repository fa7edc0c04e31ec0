package server

import (
	"fmt"
	"math"
	"net/http"
	"siteinspect/domain"
	"time"

	"github.com/labstack/echo/v4"
)

// loginBackoffBase is the first delay of the per-username back-off
// (storage.LoginLimits.BackoffBase). A second is nothing to a person and,
// doubling with each further failure, reaches a 15-minute window after
// about ten more.
const loginBackoffBase = time.Second

// loginLimits turns Config.LoginLimit into the limits the database keeps
// (storage/loginlimit.go says why there are three): Failures per username
// and address, 4×Failures per address, and back-off for addresses that
// failed for a username once it has 4×Failures failures from all
// addresses, all within Window.
func loginLimits(l RateLimit) domain.LoginLimits {
	if l.Failures <= 0 {
		l.Failures = 5
	}
	if l.Window <= 0 {
		l.Window = 15 * time.Minute
	}
	return domain.LoginLimits{
		Window:         l.Window,
		PerUserAddress: l.Failures,
		PerAddress:     4 * l.Failures,
		BackoffAfter:   4 * l.Failures,
		BackoffBase:    loginBackoffBase,
	}
}

// tooManyLogins is the 429 for a refused login, with Retry-After in whole
// seconds rounded up (RFC 9110 §10.2.3, RFC 6585 §4).
func tooManyLogins(c echo.Context, wait time.Duration) error {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	c.Response().Header().Set("Retry-After", fmt.Sprint(secs))
	return newCodedError(http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("too many failed logins; try again in %d seconds", secs))
}
