package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
)

// listening starts b.Listen for the test and waits until it hears: its
// first wake-up is the one it gives on connecting, and after it Changed()
// stays quiet while nobody writes (it would fire every second if it fell
// back to polling).
func listening(t *testing.T, b *storage.DB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	// Taken before Listen starts: its first wake-up, once it listens, may
	// come before this goroutine runs again, and it polls no more after.
	first := b.Changed()
	go func() { defer close(done); b.Listen(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("Listen gave no first wake-up within 10 s")
	}
	select {
	case <-b.Changed():
		t.Fatal("Changed() fired with nobody writing: the listener polls instead of hearing")
	case <-time.After(1500 * time.Millisecond):
	}
}

// TestPeersChangedAcrossHandles: two handles on one PostgreSQL database
// (two replicas). An audit event appended through A closes B's Changed()
// within a second, by a notification (B polls nothing while it hears).
func TestPeersChangedAcrossHandles(t *testing.T) {
	dsn := testenv.PostgresURL(t)
	a, b := testenv.OpenDBAt(t, dsn), testenv.OpenDBAt(t, dsn)
	listening(t, b)
	ctx := context.Background()
	for i := range 3 {
		ch := b.Changed()
		began := time.Now()
		e, err := a.RecordAudit(ctx, storage.Audit{Action: "test.peer", Target: "x"})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
			t.Logf("write %d (seq %d) on A woke B after %v", i, e.Seq, time.Since(began))
		case <-time.After(time.Second):
			t.Fatalf("write %d on A: B's Changed() did not fire within 1 s", i)
		}
	}
}

// TestPeersSessionEndedAcrossHandles: B has a session cached; a logout
// through A makes B refuse the token well within 2 s, and sooner than the
// cache's own TTL (a second) would: B heard of it.
func TestPeersSessionEndedAcrossHandles(t *testing.T) {
	dsn := testenv.PostgresURL(t)
	a, b := testenv.OpenDBAt(t, dsn), testenv.OpenDBAt(t, dsn)
	a.SetPasswordCost(4)
	listening(t, b)
	ctx := context.Background()
	u, err := a.CreateUser(ctx, "peer-test", "a long password", domain.RoleInspector, "Peer", "binhai")
	if err != nil {
		t.Fatal(err)
	}
	ended := func(name string, end func(token string)) {
		token, _, err := a.CreateSession(ctx, u.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.SessionByToken(ctx, token); err != nil {
			t.Fatalf("%s: B reading the new session: got %v, want it", name, err)
		}
		began := time.Now()
		end(token)
		for {
			_, err := b.SessionByToken(ctx, token)
			if errors.Is(err, domain.ErrNotFound) {
				break
			}
			if err != nil {
				t.Fatalf("%s: B: got %v, want the session or ErrNotFound", name, err)
			}
			if time.Since(began) > 2*time.Second {
				t.Fatalf("%s on A: B still accepts the token after 2 s", name)
			}
			time.Sleep(time.Millisecond)
		}
		took := time.Since(began)
		t.Logf("%s on A: B refuses the token after %v", name, took)
		if took >= 500*time.Millisecond {
			t.Fatalf("%s on A: B refused the token after %v, want < 500 ms (a notification, not the cache's 1 s TTL)", name, took)
		}
	}
	ended("logout", func(token string) {
		if err := a.DeleteSession(ctx, token); err != nil {
			t.Fatal(err)
		}
	})
	ended("password reset", func(string) {
		if err := a.SetPassword(ctx, "peer-test", "another long password"); err != nil {
			t.Fatal(err)
		}
	})
	// An admin's disabling and password reset (storage/admin.go).
	admin, err := a.CreateUser(ctx, "peer-admin", "a long password", domain.RoleAdmin, "", "binhai")
	if err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	ended("disabled by an admin", func(string) {
		if _, err := a.UpdateUser(ctx, admin, u.ID, domain.UserEdit{Disabled: &yes}); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := a.UpdateUser(ctx, admin, u.ID, domain.UserEdit{Disabled: &no}); err != nil {
		t.Fatal(err)
	}
	ended("reset by an admin", func(string) {
		if err := a.ResetPassword(ctx, admin, u.ID, "a temporary password"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPeersOfficeSettingsAcrossHandles: B has the office's settings
// cached; an admin's change through A shows on B well within its cache's
// 2 s TTL (B heard of it).
func TestPeersOfficeSettingsAcrossHandles(t *testing.T) {
	dsn := testenv.PostgresURL(t)
	a, b := testenv.OpenDBAt(t, dsn), testenv.OpenDBAt(t, dsn)
	a.SetPasswordCost(4)
	listening(t, b)
	ctx := context.Background()
	admin, err := a.CreateUser(ctx, "settings-admin", "a long password", domain.RoleAdmin, "", "binhai")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := b.OfficeSettings(ctx, "binhai"); err != nil || s.Timezone != "" {
		t.Fatalf("B before: got %+v, %v, want no zone set", s, err)
	}
	began := time.Now()
	if _, err := a.SaveOfficeSettings(ctx, admin, domain.OfficeSettings{Office: "binhai", Timezone: "Asia/Urumqi"}); err != nil {
		t.Fatal(err)
	}
	for {
		s, err := b.OfficeSettings(ctx, "binhai")
		if err != nil {
			t.Fatal(err)
		}
		if s.Timezone == "Asia/Urumqi" {
			break
		}
		if time.Since(began) > 3*time.Second {
			t.Fatalf("B still reads zone %q 3 s after A's change", s.Timezone)
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(began)
	t.Logf("settings changed on A: B reads them after %v", took)
	if took >= 500*time.Millisecond {
		t.Fatalf("B read the new settings after %v, want < 500 ms (a notification, not the 2 s TTL)", took)
	}
}

// BenchmarkSessionLookup measures what the session cache saves on
// PostgreSQL: every API request authenticates by SessionByToken.
// "cached" is a listening replica's lookup of a session seen within
// sharedSessionCacheTTL; "database" is one that is not listening (the
// cache is not used then), so each lookup reads the database.
func BenchmarkSessionLookup(b *testing.B) {
	dsn := testenv.PostgresURL(b)
	ctx := context.Background()
	setup := testenv.OpenDBAt(b, dsn)
	setup.SetPasswordCost(4)
	u, err := setup.CreateUser(ctx, "bench", "a long password", domain.RoleInspector, "Bench", "binhai")
	if err != nil {
		b.Fatal(err)
	}
	token, _, err := setup.CreateSession(ctx, u.ID, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, db *storage.DB) {
		for b.Loop() {
			if _, err := db.SessionByToken(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("database", func(b *testing.B) { run(b, testenv.OpenDBAt(b, dsn)) })
	b.Run("cached", func(b *testing.B) {
		db := testenv.OpenDBAt(b, dsn)
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); db.Listen(lctx, nil) }()
		defer func() { cancel(); <-done }()
		<-db.Changed() // connected
		run(b, db)
	})
}

// TestPeersListenerReconnects: the listener's connection is cut (its
// backend terminated, as a restart of PostgreSQL or a proxy would); B
// connects again by itself and hears A's next write within a second.
func TestPeersListenerReconnects(t *testing.T) {
	dsn := testenv.PostgresURL(t)
	a, b := testenv.OpenDBAt(t, dsn), testenv.OpenDBAt(t, dsn)
	listening(t, b)
	ctx := context.Background()
	for round := range 2 {
		var cut int
		err := a.SQL().QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN siteinspect_changed%'`).Scan(&cut)
		if err != nil {
			t.Fatal(err)
		}
		if cut != 1 {
			t.Fatalf("round %d: listening connections cut: got %d, want 1", round, cut)
		}
		began := time.Now()
		// Until B listens again, Changed() fires every second by itself;
		// once it does, it stays quiet while nobody writes.
		var lastWake time.Time
		for quiet := false; !quiet; {
			select {
			case <-b.Changed():
				lastWake = time.Now()
			case <-time.After(1500 * time.Millisecond):
				quiet = true
			}
			if time.Since(began) > 6*time.Second {
				t.Fatalf("round %d: B still polls 6 s after its connection was cut: it did not listen again", round)
			}
		}
		ch := b.Changed()
		wrote := time.Now()
		if _, err := a.RecordAudit(ctx, storage.Audit{Action: "test.peer", Target: "after cut"}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-time.After(time.Second):
			t.Fatalf("round %d: B listens again but did not hear A's write within 1 s", round)
		}
		t.Logf("round %d: B's last wake-up of its own %v after the cut; heard A's write %v after it", round,
			lastWake.Sub(began).Round(time.Millisecond), time.Since(wrote).Round(time.Microsecond))
	}
}
