package bench

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// BenchmarkCluster measures what the replicas cost, on one machine: the
// same annotation load (50 officers, each its own login, creating and then
// listing annotations on one shared PDF, in a closed loop) sent straight to
// one replica and through HAProxy to three, and a WHEP join (POST to first
// video packet) on the session's owner and on another replica, which
// forwards it to the owner. Three replicas on the same two cores add no
// capacity; the figures show the cost of the balancer and of forwarding.
//
//	scripts/with-minio.sh scripts/with-postgres.sh go test -count=1 -run '^$' -bench Cluster -benchtime 1x .
func BenchmarkCluster(b *testing.B) {
	for range b.N {
		c := harness.StartCluster(b, 3)
		settleCPU(b)
		app := harness.Login(b, c.LB, "applicant", c.Demo["applicant"])
		cs := app.NewCase()
		pdfFile := filepath.Join(b.TempDir(), "plan.pdf")
		if err := os.WriteFile(pdfFile, harness.MinimalPDF(2, "Floor plan"), 0o644); err != nil {
			b.Fatal(err)
		}
		pdfID := app.MustUploadFile(cs.ID, pdfFile)
		if ev := app.MustEvidenceDone(pdfID, 2*time.Minute); ev.Status != domain.EvidenceReady {
			b.Fatalf("pdf: %s", ev.Status)
		}
		app.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/submit", nil, http.StatusOK, nil)
		insp := harness.Login(b, c.LB, "inspector", c.Demo["inspector"])
		insp.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/assign", nil, http.StatusOK, nil)
		rev := harness.Login(b, c.LB, "reviewer", c.Demo["reviewer"])
		rev.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/assign", nil, http.StatusOK, nil)

		const clients, each = 50, 40
		tokens := make([]string, clients)
		for i := range clients {
			user := []string{"inspector", "reviewer"}[i%2]
			tokens[i] = harness.Login(b, c.LB, user, c.Demo[user]).Token
		}
		load := func(name, base string) (create, list []time.Duration) {
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}
			var mu sync.Mutex
			var wg sync.WaitGroup
			for i := range clients {
				wg.Go(func() {
					var mine []time.Duration
					for k := range each {
						t0 := time.Now()
						code, out, err := harness.TryJSON(hc, base, tokens[i], "POST", "/api/v1/evidence/"+pdfID+"/annotations",
							map[string]any{"body": fmt.Sprintf("%s %d %d", name, i, k), "page": 1 + k%2})
						if err != nil || code != http.StatusCreated {
							b.Errorf("create: %d %s %v", code, out, err)
							return
						}
						mine = append(mine, time.Since(t0))
					}
					mu.Lock()
					create = append(create, mine...)
					mu.Unlock()
				})
			}
			wg.Wait()
			for i := range clients {
				wg.Go(func() {
					var mine []time.Duration
					for range each {
						t0 := time.Now()
						code, out, err := harness.TryJSON(hc, base, tokens[i], "GET", "/api/v1/evidence/"+pdfID+"/annotations?limit=100", nil)
						if err != nil || code != http.StatusOK {
							b.Errorf("list: %d %.100s %v", code, out, err)
							return
						}
						mine = append(mine, time.Since(t0))
					}
					mu.Lock()
					list = append(list, mine...)
					mu.Unlock()
				})
			}
			wg.Wait()
			slices.Sort(create)
			slices.Sort(list)
			return create, list
		}
		pct := func(d []time.Duration, p int) float64 {
			if len(d) == 0 {
				return 0
			}
			return float64(d[min(len(d)-1, len(d)*p/100)].Microseconds()) / 1000
		}
		oneC, oneL := load("one", c.Replicas[0].URL)
		threeC, threeL := load("three", c.LB)

		// WHEP joins: on the owner, and forwarded from another replica.
		media := testenv.MustRTCMedia(b)
		_, officer, caseID := harness.LiveCase(b, &harness.Proc{URL: c.LB, Demo: c.Demo})
		var ls harness.LiveSession
		officer.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)
		pub := testenv.Publish(b, testenv.CodecVP8, harness.WHIP(b, c.LB, ls))
		defer pub.PC.Close()
		var ownerID string
		if err := c.Handle(b).QueryRow(`SELECT owner FROM live_sessions WHERE id = $1`, ls.ID).Scan(&ownerID); err != nil {
			b.Fatal(err)
		}
		owner := slices.Index(c.IDs, ownerID)
		other := (owner + 1) % len(c.Replicas)
		stop := make(chan struct{})
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			for {
				select {
				case <-stop:
					return
				default:
					pub.Send(b, media, time.Second)
				}
			}
		}()
		join := func(base string) []time.Duration {
			var out []time.Duration
			for range 10 {
				t0 := time.Now()
				v := testenv.View(b, harness.WHEP(b, base, ls.ID, officer.Token))
				for v.VideoPackets.Load() == 0 {
					if time.Since(t0) > 10*time.Second {
						b.Fatalf("no video within 10 s of a join on %s", base)
					}
					time.Sleep(time.Millisecond)
				}
				out = append(out, time.Since(t0))
				v.PC.Close()
			}
			slices.Sort(out)
			return out
		}
		onOwner := join(c.Replicas[owner].URL)
		forwarded := join(c.Replicas[other].URL)
		close(stop)
		<-sent

		b.ReportMetric(pct(oneC, 99), "one-create-p99-ms")
		b.ReportMetric(pct(threeC, 99), "three-create-p99-ms")
		b.ReportMetric(pct(oneL, 99), "one-list-p99-ms")
		b.ReportMetric(pct(threeL, 99), "three-list-p99-ms")
		b.ReportMetric(pct(onOwner, 50), "whep-owner-p50-ms")
		b.ReportMetric(pct(forwarded, 50), "whep-forwarded-p50-ms")
		fmt.Printf("\ncluster on one machine (%s), PostgreSQL, %d clients × %d creates then %d lists of 100:\n", harness.LoadAverage(), clients, each, each)
		fmt.Printf("  %-28s create p50 / p99 %6.1f / %6.1f ms   list p50 / p99 %6.1f / %6.1f ms\n", "straight to one replica", pct(oneC, 50), pct(oneC, 99), pct(oneL, 50), pct(oneL, 99))
		fmt.Printf("  %-28s create p50 / p99 %6.1f / %6.1f ms   list p50 / p99 %6.1f / %6.1f ms\n", "HAProxy to three replicas", pct(threeC, 50), pct(threeC, 99), pct(threeL, 50), pct(threeL, 99))
		fmt.Printf("  WHEP join to first video, 10 each: on the owner p50 %.1f ms (max %.1f), forwarded by another replica p50 %.1f ms (max %.1f)\n",
			pct(onOwner, 50), pct(onOwner, 100), pct(forwarded, 50), pct(forwarded, 100))
	}
}
