package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/server"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// The login limit tests run with 3 failures per username and address,
// hence 12 per address and a back-off after 12 per username.
const (
	testFailures = 3
	// slowCost makes a password check take tens of milliseconds (several
	// hundred under the race detector), so parallel guesses overlap as an
	// attacker's do against the production cost.
	slowCost       = 10
	victim         = "victim"
	victimPassword = "victim-right-password"
)

// loginClock is the database's clock, moved by hand.
type loginClock struct{ ms atomic.Int64 }

func (c *loginClock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *loginClock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// loginEnv is a real HTTP server on a real SQLite database that takes the
// client address from X-Forwarded-For, so a test can speak from many.
type loginEnv struct {
	t      *testing.T
	url    string
	client *http.Client
	clock  *loginClock
}

// newLoginEnv starts the server; the victim's password hash has the given
// bcrypt cost, the other users' the minimum.
func newLoginEnv(t *testing.T, victimCost int) *loginEnv {
	t.Helper()
	db := testenv.NewDB(t)
	clock := &loginClock{}
	clock.ms.Store(time.Now().UnixMilli())
	db.SetClock(clock.now)
	store, err := objects.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ups, err := storage.NewUploads(db, store, domain.UploadConfig{SpoolDir: filepath.Join(t.TempDir(), "spool"), PartSize: objects.MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{DB: db, Objects: store, Uploads: ups, Office: "binhai", NumberPrefix: "BH",
		LoginLimit: server.RateLimit{Failures: testFailures, Window: 15 * time.Minute}, TrustProxy: true})
	if err != nil {
		t.Fatal(err)
	}
	db.SetPasswordCost(victimCost)
	if _, err := db.CreateUser(context.Background(), victim, victimPassword, domain.RoleApplicant, "", "Acme"); err != nil {
		t.Fatal(err)
	}
	db.SetPasswordCost(4)
	for i := range 12 {
		name := fmt.Sprintf("other%d", i)
		if _, err := db.CreateUser(context.Background(), name, "password-"+name, domain.RoleApplicant, "", "Acme"); err != nil {
			t.Fatal(err)
		}
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}, Timeout: 2 * time.Minute}
	t.Cleanup(client.CloseIdleConnections)
	return &loginEnv{t: t, url: ts.URL, client: client, clock: clock}
}

// loginResult is what a login answered.
type loginResult struct {
	status     int
	code       string
	retryAfter string
}

// login posts a login from addr.
func (e *loginEnv) login(addr, user, password string) loginResult {
	body := fmt.Sprintf(`{"username":%q,"password":%q}`, user, password)
	req, err := http.NewRequest("POST", e.url+"/api/v1/auth/login", strings.NewReader(body))
	if err != nil {
		e.t.Error(err)
		return loginResult{}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Errorf("login %s from %s: %v", user, addr, err)
		return loginResult{}
	}
	defer resp.Body.Close()
	var out struct {
		Error struct{ Code string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return loginResult{status: resp.StatusCode, code: out.Error.Code, retryAfter: resp.Header.Get("Retry-After")}
}

// parallel sends the passwords for user from addr all at once and counts
// the answers by status; it checks each answer's code and Retry-After.
func (e *loginEnv) parallel(addr, user string, passwords []string) map[int]int {
	e.t.Helper()
	results := make([]loginResult, len(passwords))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, pw := range passwords {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = e.login(addr, user, pw)
		}()
	}
	close(start)
	wg.Wait()
	counts := map[int]int{}
	for _, r := range results {
		counts[r.status]++
		e.checkResult(r)
	}
	return counts
}

// checkResult checks an answer carries the code and header its status
// promises.
func (e *loginEnv) checkResult(r loginResult) {
	e.t.Helper()
	switch r.status {
	case 200:
	case 401:
		if r.code != "bad_credentials" {
			e.t.Errorf("401: got code %q, want bad_credentials", r.code)
		}
	case 429:
		if n, err := strconv.Atoi(r.retryAfter); r.code != "rate_limited" || err != nil || n < 1 {
			e.t.Errorf("429: got code %q and Retry-After %q, want rate_limited and a positive number of seconds", r.code, r.retryAfter)
		}
	default:
		e.t.Errorf("got status %d (code %q), want 200, 401 or 429", r.status, r.code)
	}
}

// must logs in once and checks the status (and Retry-After, if given).
func (e *loginEnv) must(addr, user, password string, status int, retryAfter string) {
	e.t.Helper()
	r := e.login(addr, user, password)
	e.checkResult(r)
	if r.status != status || (retryAfter != "" && r.retryAfter != retryAfter) {
		e.t.Fatalf("login %s from %s: got %d (code %q, Retry-After %q), want %d (Retry-After %q)", user, addr, r.status, r.code, r.retryAfter, status, retryAfter)
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// TestLoginLimitParallelGuesses: forty wrong passwords sent at once from
// one address get as many password checks as forty sent one by one, the
// limit's worth, and the rest are refused with 429.
func TestLoginLimitParallelGuesses(t *testing.T) {
	e := newLoginEnv(t, slowCost)
	got := e.parallel("203.0.113.7", victim, repeat("wrong-password", 40))
	if got[401] != testFailures || got[429] != 40-testFailures {
		t.Fatalf("40 parallel wrong passwords: got %v, want %d×401 and %d×429", got, testFailures, 40-testFailures)
	}
}

// TestLoginLimitParallelWithRightPassword: with the right password among
// sixty parallel guesses, no more than the limit's worth are checked, so
// the right one is only let in if it is one of those. A success restarts
// that address's budget for the username (the person is in; the guesses
// still in flight may use the fresh budget), so with a 200 the checks may
// reach twice the limit, never more; without one, the limit.
func TestLoginLimitParallelWithRightPassword(t *testing.T) {
	e := newLoginEnv(t, slowCost)
	passwords := repeat("wrong-password", 60)
	passwords[37] = victimPassword
	got := e.parallel("203.0.113.8", victim, passwords)
	budget := testFailures
	if got[200] == 1 {
		budget = 2 * testFailures
	}
	if got[200] > 1 || got[401]+got[200] > budget || got[401]+got[200]+got[429] != 60 {
		t.Fatalf("59 wrong and 1 right in parallel: got %v, want at most %d 401s and 200s together (%d with the right one let in), the rest 429", got, testFailures, 2*testFailures)
	}
}

// TestLoginLimitNotAWeapon: an attacker who has used up an address's
// failures for a username, and for the address as a whole, does not keep
// the user out: the right password from another address gets in.
func TestLoginLimitNotAWeapon(t *testing.T) {
	e := newLoginEnv(t, 4)
	const attacker = "203.0.113.9"
	got := e.parallel(attacker, victim, repeat("wrong-password", 40))
	if got[429] != 40-testFailures {
		t.Fatalf("the attacker's flood: got %v, want %d×429", got, 40-testFailures)
	}
	// The attacker's address is blocked for the victim even with the right
	// password (it cannot tell the attacker from a user there).
	e.must(attacker, victim, victimPassword, 429, "")
	// The genuine user, elsewhere, gets in.
	e.must("198.51.100.20", victim, victimPassword, 200, "")
	// Spraying other usernames uses up the address's own limit (4×3, of
	// which 3 are spent on the victim) and then blocks it for every name.
	for i := 2; i < 2+4*testFailures-testFailures; i++ {
		e.must(attacker, fmt.Sprintf("other%d", i), "wrong-password", 401, "")
	}
	e.must(attacker, "other1", "password-other1", 429, "")
	e.must("198.51.100.21", "other1", "password-other1", 200, "")
	e.must("198.51.100.20", victim, victimPassword, 200, "")
}

// TestLoginLimitBackoff: a flood for one username from many addresses
// engages the per-username back-off: an address that has failed for it
// waits a delay that doubles with each further failure and is admitted
// once it has passed, while the user from an address that has not failed
// still gets in at once.
func TestLoginLimitBackoff(t *testing.T) {
	e := newLoginEnv(t, 4)
	bot := func(i int) string { return fmt.Sprintf("198.18.0.%d", i) }
	backoffAfter := 4 * testFailures
	for i := range backoffAfter {
		e.must(bot(i), victim, "wrong-password", 401, "")
	}
	// The username has 12 failures: the back-off starts at 1 s.
	e.must(bot(0), victim, "wrong-password", 429, "1")
	e.must("192.0.2.50", victim, victimPassword, 200, "")
	// Two more failures from new addresses: 14, so 4 s.
	e.must(bot(100), victim, "wrong-password", 401, "")
	e.must(bot(101), victim, "wrong-password", 401, "")
	e.must(bot(0), victim, "wrong-password", 429, "4")
	e.must(bot(1), victim, victimPassword, 429, "4")
	e.clock.advance(3 * time.Second)
	e.must(bot(0), victim, "wrong-password", 429, "1")
	e.clock.advance(time.Second)
	// The delay has passed: the address is admitted and its failure
	// doubles the next delay.
	e.must(bot(0), victim, "wrong-password", 401, "")
	e.must(bot(0), victim, "wrong-password", 429, "8")
	// The back-off releases for a bot that waits, even with the right
	// password, and the user elsewhere was never held back.
	e.must("192.0.2.51", victim, victimPassword, 200, "")
	e.clock.advance(8 * time.Second)
	e.must(bot(1), victim, victimPassword, 200, "")
	// Another username is not slowed by the victim's back-off.
	e.must(bot(0), "other2", "password-other2", 200, "")
}
