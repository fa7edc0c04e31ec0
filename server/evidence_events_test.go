package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
)

// TestEvidencePlayableEvent: when the pipeline records that an uploaded
// video plays (SetEvidencePlayable), the case's event stream carries an
// evidence.playable event naming the item, within a second, to the
// company (its progress view) and to the office (the whole trail), so an
// open case page reloads that item at once instead of at its next poll.
// The event is in the audit chain without an actor; a second call, once
// the item is ready, is refused and adds none.
func TestEvidencePlayableEvent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cs := e.newCase("appA")
	id := e.upload("appA", cs.ID, "walk.mp4", video(2000))
	ts := newHTTPServer(t, e)
	open := func(user string) (*http.Response, func() string) {
		t.Helper()
		resp, next := openEvents(t, ts+"/api/v1/cases/"+cs.ID+"/events", e.tokens[user], "")
		t.Cleanup(func() { resp.Body.Close() })
		for { // the history, up to the upload
			if ev := next(); strings.Contains(ev, "event: evidence.uploaded") && strings.Contains(ev, id) {
				return resp, next
			}
		}
	}
	_, company := open("appA")
	_, office := open("admin")

	dur := int64(2000)
	start := time.Now()
	if err := e.db.SetEvidencePlayable(ctx, id, &domain.Media{DurationMS: &dur, VideoCodec: "h264"}, &domain.Derived{Playable: true}); err != nil {
		t.Fatal(err)
	}
	var seq int64
	for who, next := range map[string]func() string{"the company": company, "the office": office} {
		block := next()
		data, _ := strings.CutPrefix(block[strings.Index(block, "data: "):], "data: ")
		var got domain.AuditEvent
		if err := json.Unmarshal([]byte(strings.TrimSpace(data)), &got); err != nil {
			t.Fatalf("%s: event %q: %v", who, block, err)
		}
		if !strings.Contains(block, "event: evidence.playable\n") || got.Action != "evidence.playable" || got.Target != id || got.CaseID != cs.ID || got.ActorID != "" {
			t.Errorf("%s: got %q, want evidence.playable of %s on case %s with no actor", who, block, id, cs.ID)
		}
		d := time.Since(start)
		if d > time.Second {
			t.Errorf("%s: the event came %s after the commit, want within 1s", who, d)
		}
		t.Logf("%s: evidence.playable %s after SetEvidencePlayable began", who, d.Round(10*time.Microsecond))
		seq = got.Seq
	}

	var ev domain.Evidence
	e.json("appA", "GET", "/api/v1/evidence/"+id, nil, http.StatusOK, &ev)
	if ev.Status != domain.EvidenceProcessing || ev.Derived == nil || !ev.Derived.Playable {
		t.Errorf("the item after the event: got %s, derived %+v; want processing and playable", ev.Status, ev.Derived)
	}

	// Ready: the pipeline's last word; a late playable is refused and
	// the trail gets nothing more.
	if err := e.db.SetEvidenceResult(ctx, id, domain.EvidenceReady, "", &domain.Media{DurationMS: &dur}, &domain.Derived{Playable: true, Poster: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetEvidencePlayable(ctx, id, nil, &domain.Derived{Playable: true}); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("playable once ready: got %v, want ErrConflict", err)
	}
	var trail []domain.AuditEvent
	e.json("admin", "GET", "/api/v1/cases/"+cs.ID+"/audit", nil, http.StatusOK, &trail)
	var playable []int64
	for _, a := range trail {
		if a.Action == "evidence.playable" {
			playable = append(playable, a.Seq)
		}
	}
	if len(playable) != 1 || playable[0] != seq {
		t.Errorf("evidence.playable events in the trail: got seqs %v, want [%d]", playable, seq)
	}
	if n, err := e.db.VerifyAudit(ctx); err != nil {
		t.Errorf("audit chain after %d events: %v", n, err)
	}
}
