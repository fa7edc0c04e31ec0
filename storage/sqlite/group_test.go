package sqlite

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestGroupBatchesAndReturnsEachResult: writes that queue while a batch runs
// go into the next batch together; each caller gets its own write's error,
// and batches never overlap (the writer lock).
func TestGroupBatchesAndReturnsEachResult(t *testing.T) {
	var g Group[int]
	var writer sync.Mutex
	var mu sync.Mutex
	var batches [][]int
	running := 0
	run := func(batch []int) []error {
		mu.Lock()
		running++
		if running > 1 {
			t.Errorf("%d batches ran at once", running)
		}
		batches = append(batches, batch)
		mu.Unlock()
		time.Sleep(5 * time.Millisecond) // a commit
		errs := make([]error, len(batch))
		for i, w := range batch {
			if w%3 == 0 {
				errs[i] = fmt.Errorf("write %d refused", w)
			}
		}
		mu.Lock()
		running--
		mu.Unlock()
		return errs
	}
	const n = 60
	results := make([]error, n)
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() { results[w] = g.Do(w, &writer, run) })
	}
	wg.Wait()
	seen := map[int]bool{}
	for _, b := range batches {
		for _, w := range b {
			if seen[w] {
				t.Errorf("write %d ran twice", w)
			}
			seen[w] = true
		}
	}
	if len(seen) != n {
		t.Fatalf("%d writes ran, want %d", len(seen), n)
	}
	if len(batches) >= n {
		t.Errorf("%d batches for %d concurrent writes: nothing was grouped", len(batches), n)
	}
	for w, err := range results {
		want := w%3 == 0
		if (err != nil) != want || (err != nil && err.Error() != fmt.Sprintf("write %d refused", w)) {
			t.Errorf("write %d: got %v, want refused=%v", w, err, want)
		}
	}
	// Alone, a write is a batch of one.
	batches = nil
	if err := g.Do(1, &writer, run); err != nil || len(batches) != 1 || len(batches[0]) != 1 {
		t.Fatalf("a lone write: got %v in batches %v", err, batches)
	}
	if err := g.Do(3, &writer, run); err == nil || err.Error() != "write 3 refused" {
		t.Fatalf("a refused lone write: got %v", err)
	}
}
