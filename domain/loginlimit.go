package domain

import (
	"fmt"
	"time"
)

// LoginLimits are the bounds ReserveLogin enforces.
type LoginLimits struct {
	// Window is how long a counter lasts from its first failure.
	Window time.Duration
	// PerUserAddress is how many failures one address may have for one
	// username in a window.
	PerUserAddress int
	// PerAddress is how many failures one address may have in a window,
	// all usernames together.
	PerAddress int
	// BackoffAfter is how many failures a username may have in a window,
	// from all addresses together, before addresses that failed for it
	// must wait between attempts.
	BackoffAfter int
	// BackoffBase is the first back-off delay; each further failure for the
	// username doubles it, up to Window.
	BackoffBase time.Duration
}

func (l LoginLimits) Valid() error {
	if l.Window <= 0 || l.PerUserAddress <= 0 || l.PerAddress <= 0 || l.BackoffAfter <= 0 || l.BackoffBase <= 0 {
		return fmt.Errorf("login limits %+v: every field must be positive: %w", l, ErrInvalid)
	}
	return nil
}

// Backoff is the delay an address that failed for a username waits when
// the username has failures failures in its window; zero below the
// threshold.
func (l LoginLimits) Backoff(failures int) time.Duration {
	excess := failures - l.BackoffAfter
	if excess < 0 {
		return 0
	}
	if excess >= 40 || l.BackoffBase > l.Window>>uint(excess) {
		return l.Window
	}
	return l.BackoffBase << uint(excess)
}

// LoginRefusedError is what ReserveLogin returns when a limit refuses the
// attempt. Nothing was counted.
type LoginRefusedError struct {
	// Limit names the limit: "user_address", "address" or "user_backoff".
	Limit string
	// RetryAfter is when the same attempt may be admitted, at the earliest.
	RetryAfter time.Duration
}

func (e *LoginRefusedError) Error() string {
	return fmt.Sprintf("too many failed logins (%s limit); try again in %s", e.Limit, e.RetryAfter.Round(time.Second))
}

// LoginOutcome is how a reserved attempt ended.
type LoginOutcome int

// The outcomes.
const (
	// LoginFailed is a wrong password or an unknown username: the attempt
	// stays counted everywhere.
	LoginFailed LoginOutcome = iota
	// LoginSucceeded clears the username's counter at the address and
	// takes the attempt back from the address's and the username's.
	LoginSucceeded
	// LoginAborted takes the attempt back everywhere (the check itself
	// failed, so it says nothing about the password).
	LoginAborted
)
