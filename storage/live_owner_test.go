package storage_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
)

// TestLiveOwnership: heartbeats make a replica alive and retiring it makes
// it dead; an open session's owner changes only from the owner the caller
// saw (of 8 replicas taking over the same dead owner at once, one wins);
// stored segments are listed once each, in recording order.
func TestLiveOwnership(t *testing.T) {
	ctx := context.Background()
	db := testenv.NewDB(t)
	if err := db.Heartbeat(ctx, "r1", "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	r, err := db.Replica(ctx, "r1")
	if err != nil || r.InternalURL != "http://127.0.0.1:1" || !r.Alive(db.Now(), 6*time.Second) {
		t.Fatalf("after a heartbeat: got %+v (%v), want r1 alive at http://127.0.0.1:1", r, err)
	}
	if err := db.RetireReplica(ctx, "r1", 6*time.Second); err != nil {
		t.Fatal(err)
	}
	if all, err := db.Replicas(ctx); err != nil || all["r1"].Alive(db.Now(), 6*time.Second) {
		t.Fatalf("after retiring: got %+v (%v), want r1 dead", all, err)
	}

	app, err := db.CreateUser(ctx, "applicant", "correct horse battery", domain.RoleApplicant, "", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := db.CreateCase(ctx, app, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s", SiteAddress: "a"})
	if err != nil {
		t.Fatal(err)
	}
	const id = "lv_test"
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO live_sessions (id, case_id, created_by, status, token_hash, token_expires_at, created_at)
		VALUES (?, ?, ?, 'open', 'x', 0, 0)`, id, cs.ID, app.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		from, to string
		want     bool
	}{{"", "r1", true}, {"", "r2", false}, {"r2", "r3", false}, {"r1", "r2", true}} {
		if got, err := db.ClaimLiveSession(ctx, id, c.from, c.to); err != nil || got != c.want {
			t.Errorf("claim %q → %q: got %v (%v), want %v", c.from, c.to, got, err, c.want)
		}
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := db.ClaimLiveSession(ctx, id, "r2", "x"+string(rune('a'+i))); err != nil {
				t.Error(err)
			} else if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	ls, err := db.LiveSession(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if wins.Load() != 1 || len(ls.Owner) != 2 || ls.Owner[0] != 'x' {
		t.Errorf("8 takeovers at once: got %d winners, owner %q; want 1 winner, owner x…", wins.Load(), ls.Owner)
	}

	t0 := time.UnixMilli(1_700_000_000_000).UTC()
	for _, s := range []storage.LiveSegment{
		{SessionID: id, ObjectKey: "k2", Replica: "r2", ContentType: "video/webm", StartedAt: t0.Add(time.Minute), Duration: 2 * time.Second},
		{SessionID: id, ObjectKey: "k1", Replica: "r1", ContentType: "video/webm", StartedAt: t0, Duration: 3 * time.Second},
		{SessionID: id, ObjectKey: "k1", Replica: "r1", ContentType: "video/webm", StartedAt: t0, Duration: 3 * time.Second},
	} {
		if err := db.AddLiveSegment(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	segs, err := db.ListLiveSegments(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 2 || segs[0].ObjectKey != "k1" || segs[1].ObjectKey != "k2" || segs[0].Duration != 3*time.Second || !segs[0].StartedAt.Equal(t0) {
		t.Errorf("stored segments: got %+v, want k1 (3 s at t0) then k2", segs)
	}
}
