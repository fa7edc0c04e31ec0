package storage

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"siteinspect/domain"
	"strings"
	"time"
	"unicode/utf8"
)

// Login limits.
//
// A login attempt is reserved before its password is checked and settled
// after, so that guesses sent in parallel are counted as they arrive, not
// as their bcrypt checks finish: forty parallel guesses get no more checks
// than forty serial ones. The counters live in the database (table
// login_attempts), so every replica behind a load balancer sees the same
// counts. Three counters bound an attempt, each in a fixed window that
// starts at its first failure:
//
//   - per username and address (LoginLimits.PerUserAddress): the one that
//     stops a guesser at one address; a success clears it, so a person who
//     mistyped is not held back once in.
//   - per address (PerAddress), across usernames: stops one address
//     spraying many accounts. A success takes back only its own attempt,
//     so an attacker cannot reset it by logging into an account of his own.
//   - per username (BackoffAfter), across addresses, with progressive
//     back-off: once a username has that many failures in its window, an
//     address that has itself failed for it in its own window must wait
//     BackoffBase×2^(failures−BackoffAfter), at most Window, after its last
//     failure. An address that has not failed for the username is never
//     delayed by it.
//
// The last point is why the limits cannot be turned against a user: no
// number of failures from elsewhere refuses the right password from an
// address that has not guessed wrong for that username, where a lock on
// the username (what this replaced) let anyone who knew it keep its owner
// out. What an attacker with many addresses gets is about one guess per
// address and window once the back-off has grown, instead of
// PerUserAddress guesses per address. A refused attempt counts nowhere and
// extends nothing.
//
// Each reservation is one transaction of conditional upserts (INSERT … ON
// CONFLICT DO UPDATE … WHERE count < max): on SQLite the transaction holds
// the write lock; on PostgreSQL the row lock that the conditional update
// takes makes the check and the increment one step under READ COMMITTED.
// An attempt that a plain read already shows refused is answered without
// the transaction, so a flood does not queue for the write lock.

// The scopes of login_attempts rows.
const (
	scopeUserAddress = "user_address"
	scopeAddress     = "address"
	scopeUser        = "user"
)

// loginKey is the username as counted: case-folded, so that case variants
// of one name share its counters, and bounded, since anyone can send one.
func loginKey(username string) string {
	return cutBytes(strings.ToLower(username), 128)
}

func addressKey(address string) string {
	return cutBytes(address, 64)
}

// cutBytes cuts s to at most n bytes, between characters: a character cut
// in two is not UTF-8, which PostgreSQL refuses to store.
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// loginReserve counts one attempt for a key unless its limit refuses: the
// row is created, or renewed when its window is over, or incremented while
// it is under max and its last failure is no later than notAfter. Arguments:
// scope, username, address, now, now, window start cutoff (×3), max,
// notAfter.
const loginReserve = `INSERT INTO login_attempts (scope, username, address, failures, window_start, last_failure)
VALUES (?, ?, ?, 1, ?, ?)
ON CONFLICT (scope, username, address) DO UPDATE SET
  failures = CASE WHEN login_attempts.window_start <= ? THEN 1 ELSE login_attempts.failures + 1 END,
  window_start = CASE WHEN login_attempts.window_start <= ? THEN excluded.window_start ELSE login_attempts.window_start END,
  last_failure = excluded.last_failure
WHERE login_attempts.window_start <= ?
   OR (login_attempts.failures < ? AND (login_attempts.failures = 0 OR login_attempts.last_failure <= ?))`

// ReserveLogin counts a login attempt for username from address before its
// password is checked, or refuses it with a *LoginRefusedError when a limit
// (see LoginLimits) has been reached. Settle the attempt with SettleLogin
// once the password has been checked.
func (d *DB) ReserveLogin(ctx context.Context, username, address string, lim domain.LoginLimits) (*LoginAttempt, error) {
	if err := lim.Valid(); err != nil {
		return nil, err
	}
	now := ms(d.now())
	cutoff := now - lim.Window.Milliseconds() // a window that started at or before cutoff is over
	a := &LoginAttempt{username: loginKey(username), address: addressKey(address), at: now}
	// A flood is mostly refused attempts: refuse those from a plain read,
	// without queueing for the write lock that every other write needs. A
	// stale read errs only towards refusing, and only while a success
	// elsewhere is being settled.
	st, err := d.readLoginCounters(ctx, nil, a, cutoff)
	if err != nil {
		return nil, fmt.Errorf("reserve login attempt: %w", err)
	}
	if r := st.refusal(lim, now); r != nil {
		return nil, r
	}
	var refused *domain.LoginRefusedError
	err = d.limitTx(ctx, func(tx *wtx) error {
		// The sweep: windows that are over say nothing any more. The index on
		// window_start makes this a seek that usually finds nothing.
		if _, err := d.txExec(ctx, tx, `DELETE FROM login_attempts WHERE window_start <= ?`, cutoff); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		st, err := d.readLoginCounters(ctx, tx, a, cutoff)
		if err != nil {
			return err
		}
		if refused = st.refusal(lim, now); refused != nil {
			return refused
		}
		notAfter := int64(math.MaxInt64)
		if delay := lim.Backoff(st.user.failures); delay > 0 {
			notAfter = now - delay.Milliseconds()
		}
		// On SQLite the transaction already holds the write lock, so what
		// was just read stands; on PostgreSQL these conditional upserts are
		// what holds the limits when two replicas race.
		for _, k := range []struct {
			scope, username, address string
			max                      int
			notAfter                 int64
		}{
			{scopeUserAddress, a.username, a.address, lim.PerUserAddress, notAfter},
			{scopeAddress, "", a.address, lim.PerAddress, math.MaxInt64},
			{scopeUser, a.username, "", math.MaxInt32, math.MaxInt64},
		} {
			res, err := d.txExec(ctx, tx, loginReserve, k.scope, k.username, k.address, now, now, cutoff, cutoff, cutoff, k.max, k.notAfter)
			if err != nil {
				return fmt.Errorf("count %s: %w", k.scope, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("count %s: %w", k.scope, err)
			} else if n != 1 {
				refused = &domain.LoginRefusedError{Limit: k.scope, RetryAfter: time.Second}
				return refused
			}
		}
		return nil
	})
	if refused != nil {
		return nil, refused
	}
	if err != nil {
		return nil, fmt.Errorf("reserve login attempt: %w", err)
	}
	return a, nil
}

// loginCounter is one row of login_attempts, zero when there is none or
// its window is over.
type loginCounter struct {
	failures          int
	windowStart, last int64
}

// loginCounters are the three counters an attempt is checked against.
type loginCounters struct {
	userAddress, address, user loginCounter
}

// readLoginCounters reads a's counters, in tx if it is not nil.
func (d *DB) readLoginCounters(ctx context.Context, tx *wtx, a *LoginAttempt, cutoff int64) (loginCounters, error) {
	const q = `SELECT scope, failures, window_start, last_failure FROM login_attempts
WHERE (scope = ? AND username = ? AND address = ?) OR (scope = ? AND username = '' AND address = ?) OR (scope = ? AND username = ? AND address = '')`
	args := []any{scopeUserAddress, a.username, a.address, scopeAddress, a.address, scopeUser, a.username}
	var rows *sql.Rows
	var err error
	if tx != nil {
		rows, err = d.txQuery(ctx, tx, q, args...)
	} else {
		rows, err = d.query(ctx, q, args...)
	}
	if err != nil {
		return loginCounters{}, fmt.Errorf("read login counters: %w", err)
	}
	defer rows.Close()
	var st loginCounters
	for rows.Next() {
		var scope string
		var c loginCounter
		if err := rows.Scan(&scope, &c.failures, &c.windowStart, &c.last); err != nil {
			return loginCounters{}, fmt.Errorf("read login counters: %w", err)
		}
		if c.windowStart <= cutoff {
			continue // over: as good as swept
		}
		switch scope {
		case scopeUserAddress:
			st.userAddress = c
		case scopeAddress:
			st.address = c
		case scopeUser:
			st.user = c
		}
	}
	if err := rows.Err(); err != nil {
		return loginCounters{}, fmt.Errorf("read login counters: %w", err)
	}
	return st, nil
}

// refusal is the limit that refuses an attempt at now, or nil.
func (st loginCounters) refusal(lim domain.LoginLimits, now int64) *domain.LoginRefusedError {
	windowLeft := func(c loginCounter) time.Duration {
		return time.Duration(c.windowStart+lim.Window.Milliseconds()-now) * time.Millisecond
	}
	ua := st.userAddress
	switch {
	case ua.failures >= lim.PerUserAddress:
		return &domain.LoginRefusedError{Limit: scopeUserAddress, RetryAfter: windowLeft(ua)}
	case st.address.failures >= lim.PerAddress:
		return &domain.LoginRefusedError{Limit: scopeAddress, RetryAfter: windowLeft(st.address)}
	}
	if delay := lim.Backoff(st.user.failures); delay > 0 && ua.failures > 0 {
		// The counter's window ending first lets the address in sooner.
		if wait := min(time.Duration(ua.last-now)*time.Millisecond+delay, windowLeft(ua)); wait > 0 {
			return &domain.LoginRefusedError{Limit: "user_backoff", RetryAfter: wait}
		}
	}
	return nil
}

// SettleLogin records how a reserved attempt ended (see LoginOutcome).
// A failure costs no write: the reservation already counted it.
func (d *DB) SettleLogin(ctx context.Context, a *LoginAttempt, outcome domain.LoginOutcome) error {
	if outcome == domain.LoginFailed {
		return nil
	}
	// Counters are taken back only in the window that counted the attempt:
	// a window that began after it (window_start > at) never held it.
	const takeBack = `UPDATE login_attempts SET failures = failures - 1
WHERE scope = ? AND username = ? AND address = ? AND failures > 0 AND window_start <= ?`
	err := d.limitTx(ctx, func(tx *wtx) error {
		if outcome == domain.LoginSucceeded {
			if _, err := d.txExec(ctx, tx, `DELETE FROM login_attempts WHERE scope = ? AND username = ? AND address = ?`, scopeUserAddress, a.username, a.address); err != nil {
				return err
			}
		} else if _, err := d.txExec(ctx, tx, takeBack, scopeUserAddress, a.username, a.address, a.at); err != nil {
			return err
		}
		if _, err := d.txExec(ctx, tx, takeBack, scopeAddress, "", a.address, a.at); err != nil {
			return err
		}
		_, err := d.txExec(ctx, tx, takeBack, scopeUser, a.username, "", a.at)
		return err
	})
	if err != nil {
		return fmt.Errorf("settle login attempt: %w", err)
	}
	return nil
}

// limitTx is tx without waking live views: a login changes nothing they
// show, and a flood of attempts must not make them all re-read.
func (d *DB) limitTx(ctx context.Context, fn func(*wtx) error) error {
	if d.writer != nil {
		d.writer.Lock()
		defer d.writer.Unlock()
	}
	t, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	tx := &wtx{Tx: t}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// txQuery is tx.QueryContext through a prepared statement (see txStmt).
func (d *DB) txQuery(ctx context.Context, tx *wtx, q string, args ...any) (*sql.Rows, error) {
	if d.writer == nil {
		return tx.QueryContext(ctx, q, args...)
	}
	st, err := d.txStmt(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// txQueryRow is tx.QueryRowContext through a prepared statement (see txStmt).
func (d *DB) txQueryRow(ctx context.Context, tx *wtx, q string, args ...any) *sql.Row {
	if d.writer == nil {
		return tx.QueryRowContext(ctx, q, args...)
	}
	st, err := d.txStmt(ctx, tx, q)
	if err != nil {
		return tx.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// SetClock replaces the database's clock, for tests that move time (the
// login back-off releasing, sessions expiring). Call it before the DB is in
// use; it is not synchronized with readers of the clock.
func (d *DB) SetClock(now func() time.Time) { d.now = now }

// LoginAttempt is a reserved login attempt; settle it with SettleLogin.
type LoginAttempt struct {
	username, address string
	at                int64 // unix ms of the reservation
}
