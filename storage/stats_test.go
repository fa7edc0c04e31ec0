package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"siteinspect/domain"
)

// BenchmarkStats measures a year's and a month's supervision figures over
// cases whose audit events are written straight into the database (not
// through the API: the chain's hashes do not matter to the figures). Each case is
// submitted, taken, decided and countersigned on its day, one in eight
// returned once, so there are 5 to 7 status events per case. The number of
// cases is SITEINSPECT_STATS_BENCH_CASES (default 29,000, a tenth of a
// city's year).
func BenchmarkStats(b *testing.B) {
	n := 29000
	if v, err := strconv.Atoi(os.Getenv("SITEINSPECT_STATS_BENCH_CASES")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	d, err := openTestDB(b)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	if err := d.SeedPermitTypes(ctx); err != nil {
		b.Fatal(err)
	}
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		b.Fatal(err)
	}
	app, err := d.CreateUser(ctx, "app", "password-app", domain.RoleApplicant, "", "Acme")
	if err != nil {
		b.Fatal(err)
	}
	var insp, rev [10]*domain.User
	for i := range insp {
		if insp[i], err = d.CreateUser(ctx, fmt.Sprint("insp", i), "password-insp", domain.RoleInspector, "", "binhai"); err != nil {
			b.Fatal(err)
		}
		if rev[i], err = d.CreateUser(ctx, fmt.Sprint("rev", i), "password-rev", domain.RoleReviewer, "", "binhai"); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Date(2025, 1, 1, 9, 0, 0, 0, loc)
	seq := int64(0)
	err = d.tx(ctx, func(tx *wtx) error {
		event := func(caseID, actor string, at time.Time, data string) error {
			seq++
			_, err := tx.ExecContext(ctx, `INSERT INTO audit_events (seq, case_id, actor_id, action, target, data, at, prev_hash, hash) VALUES (?, ?, ?, 'case.status', '', ?, ?, '', '')`,
				seq, caseID, actor, data, ms(at))
			return err
		}
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("case%07d", i)
			sub := start.Add(time.Duration(float64(i) / float64(n) * float64(364*24*time.Hour)))
			if _, err := tx.ExecContext(ctx, `INSERT INTO cases (id, number, office, permit_type, status, applicant_id, applicant_org, inspector_id, reviewer_id,
				site_name, site_address, description, created_at, updated_at, submitted_at, due_at) VALUES (?, ?, 'binhai', 'hotel', 'approved', ?, 'Acme', ?, ?, 's', 'a', '', ?, ?, ?, ?)`,
				id, fmt.Sprintf("BH-%07d", i), app.ID, insp[i%10].ID, rev[i%10].ID, ms(sub), ms(sub), ms(sub), ms(sub)); err != nil {
				return err
			}
			in, rv := insp[i%10].ID, rev[i%10].ID
			dec, decID := sub.Add(time.Duration(30+i%300)*time.Minute), fmt.Sprint("d", i)
			steps := []benchStep{
				{app.ID, sub, `{"from":"draft","to":"submitted"}`},
				{in, sub.Add(10 * time.Minute), `{"from":"submitted","to":"in_review"}`},
				{in, dec, `{"decision_id":"` + decID + `","from":"in_review","outcome":"approve","to":"pending_countersign"}`},
			}
			if i%8 == 0 {
				steps = append(steps, benchStep{rv, dec.Add(time.Hour), `{"agree":false,"decision_id":"` + decID + `","from":"pending_countersign","to":"in_review"}`})
				dec, decID = dec.Add(2*time.Hour), fmt.Sprint("e", i)
				steps = append(steps, benchStep{in, dec, `{"decision_id":"` + decID + `","from":"in_review","outcome":"approve","to":"pending_countersign"}`})
			}
			steps = append(steps, benchStep{rv, dec.Add(time.Duration(20+i%200) * time.Minute), `{"agree":true,"decision_id":"` + decID + `","from":"pending_countersign","to":"approved"}`})
			for _, s := range steps {
				if err := event(id, s.actor, s.at, s.data); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	// "scan" counts from the chain every time (the kept days deleted
	// before each call, untimed); the others read the kept days, filled by
	// the first call.
	for _, p := range []struct {
		name     string
		from, to time.Time
		received int
		scan     bool
	}{
		{"year-scan", time.Date(2025, 1, 1, 0, 0, 0, 0, loc), time.Date(2025, 12, 31, 0, 0, 0, 0, loc), n, true},
		{"year", time.Date(2025, 1, 1, 0, 0, 0, 0, loc), time.Date(2025, 12, 31, 0, 0, 0, 0, loc), n, false},
		{"month", time.Date(2025, 6, 1, 0, 0, 0, 0, loc), time.Date(2025, 6, 30, 0, 0, 0, 0, loc), -1, false},
	} {
		b.Run(p.name, func(b *testing.B) {
			var st *domain.Stats
			var ru0, ru1 syscall.Rusage
			if _, err := d.Stats(ctx, "binhai", loc, p.from, p.to); err != nil {
				b.Fatal(err)
			}
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			for b.Loop() {
				if p.scan {
					b.StopTimer()
					if _, err := d.exec(ctx, `DELETE FROM stats_days`); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				if st, err = d.Stats(ctx, "binhai", loc, p.from, p.to); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			// The process's CPU time, which a loaded machine's wall time
			// hides; on SQLite it includes the database's work (in process),
			// on PostgreSQL only the client's.
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			if p.received >= 0 && (st.Totals.Received != n || st.Totals.Countersigned != n+(n+7)/8) {
				b.Fatalf("got received %d, countersigned %d; want %d, %d", st.Totals.Received, st.Totals.Countersigned, n, n+(n+7)/8)
			}
			b.ReportMetric(float64(st.Totals.Received), "received")
		})
	}
	b.Logf("%d cases, %d status events", n, seq)
}

// benchStep is one status event of a seeded case.
type benchStep struct {
	actor string
	at    time.Time
	data  string
}

// TestJSONString: the figures' field reader gives json.Unmarshal's answer
// on status events as json.Marshal writes them, a comment quoting JSON
// included.
func TestJSONString(t *testing.T) {
	for _, c := range []struct {
		data                 map[string]any
		from, to, decisionID string
	}{
		{map[string]any{"from": "draft", "to": "submitted", "due_at": "2026-03-12T09:00:00+08:00"}, "draft", "submitted", ""},
		{map[string]any{"agree": false, "comment": `he wrote "to":"approved", "from":"x" and \"`, "decision_id": "d1", "from": "pending_countersign", "to": "in_review"},
			"pending_countersign", "in_review", "d1"},
		{map[string]any{"decision_id": "d2", "from": "in_review", "outcome": "approve", "owed": []string{`"to":"rejected"`}, "to": "pending_countersign"},
			"in_review", "pending_countersign", "d2"},
		{map[string]any{}, "", "", ""},
	} {
		b, err := json.Marshal(c.data)
		if err != nil {
			t.Fatal(err)
		}
		if f, to, d := jsonString(string(b), "from"), jsonString(string(b), "to"), jsonString(string(b), "decision_id"); f != c.from || to != c.to || d != c.decisionID {
			t.Errorf("%s: got from %q to %q decision %q, want %q %q %q", b, f, to, d, c.from, c.to, c.decisionID)
		}
	}
}
