package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"siteinspect/domain"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loginClock is a clock the test moves by hand; safe for concurrent use.
type loginClock struct{ ms atomic.Int64 }

func (c *loginClock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *loginClock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// loginFixture is a fresh database (SQLite, or PostgreSQL in its run) on
// a clock that stands still until the test moves it, and the limits the
// test reserves under.
type loginFixture struct {
	d     *DB
	clock *loginClock
	lim   domain.LoginLimits
}

func newLoginFixture(t *testing.T) *loginFixture {
	t.Helper()
	d, err := openTestDB(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	clock := &loginClock{}
	clock.ms.Store(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC).UnixMilli())
	d.SetClock(clock.now)
	return &loginFixture{d: d, clock: clock,
		lim: domain.LoginLimits{Window: time.Minute, PerUserAddress: 3, PerAddress: 5, BackoffAfter: 4, BackoffBase: time.Second}}
}

// reserve reserves an attempt that the limits must admit.
func (f *loginFixture) reserve(t *testing.T, user, addr string) *LoginAttempt {
	t.Helper()
	a, err := f.d.ReserveLogin(context.Background(), user, addr, f.lim)
	if err != nil {
		t.Fatalf("reserve %s from %s: got %v, want admitted", user, addr, err)
	}
	return a
}

// refused checks the limits refuse an attempt, by which limit and for how
// long.
func (f *loginFixture) refused(t *testing.T, user, addr, limit string, retry time.Duration) {
	t.Helper()
	_, err := f.d.ReserveLogin(context.Background(), user, addr, f.lim)
	var refused *domain.LoginRefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("reserve %s from %s: got %v, want refused by %s", user, addr, err, limit)
	}
	if refused.Limit != limit || refused.RetryAfter != retry {
		t.Fatalf("reserve %s from %s: got refused by %s for %s, want %s for %s", user, addr, refused.Limit, refused.RetryAfter, limit, retry)
	}
}

// try reserves an attempt that must be admitted and settles it.
func (f *loginFixture) try(t *testing.T, user, addr string, o domain.LoginOutcome) {
	t.Helper()
	a := f.reserve(t, user, addr)
	if err := f.d.SettleLogin(context.Background(), a, o); err != nil {
		t.Fatal(err)
	}
}

// rows is how many counters the table holds.
func (f *loginFixture) rows(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.d.sql.QueryRow(`SELECT COUNT(*) FROM login_attempts`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLoginReserveParallel: concurrent reservations for one username and
// address are admitted up to the limit and no further, because the check
// and the count are one statement; the refusals count nowhere.
func TestLoginReserveParallel(t *testing.T) {
	f := newLoginFixture(t)
	const n = 40
	var wg sync.WaitGroup
	var admitted, refused atomic.Int32
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := f.d.ReserveLogin(context.Background(), "Alice", "203.0.113.7", f.lim)
			var r *domain.LoginRefusedError
			switch {
			case err == nil:
				admitted.Add(1)
			case errors.As(err, &r) && r.Limit == "user_address":
				refused.Add(1)
			default:
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("reserve: got %v, want admitted or refused by user_address", err)
	}
	if admitted.Load() != 3 || refused.Load() != n-3 {
		t.Fatalf("got %d admitted and %d refused, want 3 and %d", admitted.Load(), refused.Load(), n-3)
	}
	var ua, addr, user int
	for _, c := range []struct {
		scope, user, addr string
		into              *int
	}{{scopeUserAddress, "alice", "203.0.113.7", &ua}, {scopeAddress, "", "203.0.113.7", &addr}, {scopeUser, "alice", "", &user}} {
		if err := f.d.sql.QueryRow(`SELECT failures FROM login_attempts WHERE scope = ? AND username = ? AND address = ?`, c.scope, c.user, c.addr).Scan(c.into); err != nil {
			t.Fatalf("%s counter: %v", c.scope, err)
		}
	}
	if ua != 3 || addr != 3 || user != 3 {
		t.Fatalf("counters: got user_address %d, address %d, user %d; want 3 each (refusals not counted)", ua, addr, user)
	}
}

// TestLoginSettle: a success clears the username's counter at its address
// and takes its own attempt back from the address's; a failure stays
// counted; an aborted check counts nowhere.
func TestLoginSettle(t *testing.T) {
	f := newLoginFixture(t)
	f.lim.BackoffAfter = 100 // this test is about the other two counters
	f.try(t, "alice", "a1", domain.LoginFailed)
	f.try(t, "alice", "a1", domain.LoginFailed)
	f.try(t, "alice", "a1", domain.LoginAborted)
	f.try(t, "alice", "a1", domain.LoginSucceeded)
	// The counter for alice at a1 is gone: three more are admitted.
	for range 3 {
		f.try(t, "alice", "a1", domain.LoginFailed)
	}
	f.refused(t, "alice", "a1", "user_address", time.Minute)
	// a1 has 2 + 3 failures kept (the aborted one and the success were
	// taken back), which is the address's limit of 5.
	f.refused(t, "bob", "a1", "address", time.Minute)
	// Another address is not held back for alice.
	f.try(t, "alice", "a2", domain.LoginSucceeded)
}

// TestLoginWindowAndSweep: a refused attempt neither counts nor extends the
// window, so nobody can keep a counter alive by hammering it; once the
// window is over the address is admitted again and the old rows are swept.
func TestLoginWindowAndSweep(t *testing.T) {
	f := newLoginFixture(t)
	for range 3 {
		f.try(t, "alice", "a1", domain.LoginFailed)
	}
	for i := range 10 {
		f.clock.advance(5 * time.Second)
		f.refused(t, "alice", "a1", "user_address", time.Minute-time.Duration(i+1)*5*time.Second)
	}
	f.clock.advance(10 * time.Second) // the window started a minute ago
	if got := f.rows(t); got != 3 {
		t.Fatalf("rows before the sweep: got %d, want 3", got)
	}
	f.try(t, "carol", "a9", domain.LoginFailed)
	if got := f.rows(t); got != 3 {
		t.Fatalf("rows after the sweep: got %d, want carol's 3 only", got)
	}
	f.try(t, "alice", "a1", domain.LoginFailed)
}

// TestLoginBackoff: once a username has BackoffAfter failures from all
// addresses, an address that failed for it waits a delay that doubles with
// each further failure, while an address that did not is admitted at once.
func TestLoginBackoff(t *testing.T) {
	f := newLoginFixture(t)
	for i := range 4 {
		f.try(t, "alice", fmt.Sprintf("bot%d", i), domain.LoginFailed)
	}
	f.refused(t, "alice", "bot0", "user_backoff", time.Second)
	// A fresh address gets its attempt; its success is taken back from the
	// username's count, so the delay does not grow.
	f.try(t, "alice", "home", domain.LoginSucceeded)
	f.refused(t, "alice", "bot0", "user_backoff", time.Second)
	f.try(t, "alice", "bot4", domain.LoginFailed)
	f.try(t, "alice", "bot5", domain.LoginFailed)
	f.refused(t, "alice", "bot0", "user_backoff", 4*time.Second)
	f.clock.advance(3 * time.Second)
	f.refused(t, "alice", "bot1", "user_backoff", time.Second)
	f.clock.advance(time.Second)
	f.try(t, "alice", "bot1", domain.LoginFailed)
	f.refused(t, "alice", "bot1", "user_backoff", 8*time.Second)
	// Other usernames are not slowed by alice's back-off.
	f.try(t, "bob", "bot0", domain.LoginFailed)
}

// TestLoginBackoffDelay: the delay doubles from BackoffBase and stops at
// the window.
func TestLoginBackoffDelay(t *testing.T) {
	l := domain.LoginLimits{Window: 15 * time.Minute, PerUserAddress: 5, PerAddress: 20, BackoffAfter: 20, BackoffBase: time.Second}
	for _, tt := range []struct {
		failures int
		want     time.Duration
	}{{0, 0}, {19, 0}, {20, time.Second}, {21, 2 * time.Second}, {29, 512 * time.Second}, {30, 15 * time.Minute}, {100, 15 * time.Minute}, {1 << 30, 15 * time.Minute}} {
		if got := l.Backoff(tt.failures); got != tt.want {
			t.Errorf("backoff(%d): got %s, want %s", tt.failures, got, tt.want)
		}
	}
}

// TestLoginReserveStatement: the upsert alone holds the limit (as it must on
// PostgreSQL, where two replicas' transactions may read the same counts):
// it counts under the limit, changes nothing at it, renews a window that is
// over, and keeps an address waiting out its back-off.
func TestLoginReserveStatement(t *testing.T) {
	f := newLoginFixture(t)
	const t0 = int64(1_000_000)
	reserve := func(at, cutoff int64, limit int, notAfter int64) int64 {
		t.Helper()
		res, err := f.d.sql.Exec(loginReserve, scopeUserAddress, "alice", "a1", at, at, cutoff, cutoff, cutoff, limit, notAfter)
		if err != nil {
			t.Fatal(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	row := func() (failures int, start, last int64) {
		t.Helper()
		if err := f.d.sql.QueryRow(`SELECT failures, window_start, last_failure FROM login_attempts WHERE scope = ? AND username = 'alice' AND address = 'a1'`, scopeUserAddress).
			Scan(&failures, &start, &last); err != nil {
			t.Fatal(err)
		}
		return
	}
	for i := range 3 {
		if n := reserve(t0+int64(i), 0, 3, t0+10); n != 1 {
			t.Fatalf("reservation %d under the limit: got %d rows, want 1", i+1, n)
		}
	}
	if n := reserve(t0+5, 0, 3, t0+10); n != 0 {
		t.Fatalf("reservation at the limit: got %d rows, want 0", n)
	}
	if failures, start, last := row(); failures != 3 || start != t0 || last != t0+2 {
		t.Fatalf("after the refusal: got failures %d, window %d, last %d; want 3, %d, %d", failures, start, last, t0, t0+2)
	}
	// last_failure t0+2 is after notAfter t0+1: the back-off refuses.
	if n := reserve(t0+6, 0, 10, t0+1); n != 0 {
		t.Fatalf("reservation in back-off: got %d rows, want 0", n)
	}
	if n := reserve(t0+7, 0, 10, t0+2); n != 1 {
		t.Fatalf("reservation after the back-off: got %d rows, want 1", n)
	}
	// A cutoff at the window's start means the window is over.
	if n := reserve(t0+60_000, t0, 3, t0+10); n != 1 {
		t.Fatalf("reservation in a new window: got %d rows, want 1", n)
	}
	if failures, start, last := row(); failures != 1 || start != t0+60_000 || last != t0+60_000 {
		t.Fatalf("new window: got failures %d, window %d, last %d; want 1, %d, %d", failures, start, last, t0+60_000, t0+60_000)
	}
}

// BenchmarkLoginReserve measures what the limits add to a login (a bcrypt
// check at the production cost takes about 50-110 ms): an admitted attempt
// that succeeds (two write transactions), and a refused one (a read).
func BenchmarkLoginReserve(b *testing.B) {
	ctx := context.Background()
	d, err := OpenDB(ctx, filepath.Join(b.TempDir(), "test.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	lim := domain.LoginLimits{Window: time.Minute, PerUserAddress: 3, PerAddress: 12, BackoffAfter: 12, BackoffBase: time.Second}
	b.Run("admitted", func(b *testing.B) {
		for b.Loop() {
			a, err := d.ReserveLogin(ctx, "alice", "a1", lim)
			if err != nil {
				b.Fatal(err)
			}
			if err := d.SettleLogin(ctx, a, domain.LoginSucceeded); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("refused", func(b *testing.B) {
		for range 3 {
			if _, err := d.ReserveLogin(ctx, "bob", "a2", lim); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			var r *domain.LoginRefusedError
			if _, err := d.ReserveLogin(ctx, "bob", "a2", lim); !errors.As(err, &r) {
				b.Fatalf("got %v, want refused", err)
			}
		}
	})
}
