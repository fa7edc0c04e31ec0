package sqlite

import "sync"

// Group lets concurrent writers on a hot path (every annotation is a write
// transaction) share one transaction: whoever gets the writer lock runs
// every write queued meanwhile as one batch, and commits once. A commit is
// a third of such a write's cost on SQLite, so under load the writes queue
// less and finish sooner; alone, a write runs as a batch of one.
//
// One writer at a time leads: it runs the queued writes as a batch, then
// hands the lead to the oldest write queued meanwhile, so that nobody runs
// other people's batches for long and waiting writers sleep on their own
// channel rather than on the writer lock.
type Group[W any] struct {
	mu      sync.Mutex
	queue   []*entry[W]
	leading bool // a writer is taking batches from the queue
}

type entry[W any] struct {
	w    W
	done chan result
}

// result ends a write, or (lead) makes its writer the next leader.
type result struct {
	err  error
	lead bool
}

// Do queues w and returns its outcome. The leader holds writer while it
// calls run with the batch; run returns one error per write, in order.
func (g *Group[W]) Do(w W, writer sync.Locker, run func(batch []W) []error) error {
	e := &entry[W]{w: w, done: make(chan result, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, e)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	if !lead {
		if r := <-e.done; !r.lead {
			return r.err
		}
	}
	writer.Lock()
	g.mu.Lock()
	batch := g.queue
	g.queue = nil
	g.mu.Unlock()
	ws := make([]W, len(batch))
	for i, b := range batch {
		ws[i] = b.w
	}
	errs := run(ws)
	writer.Unlock()
	for i, b := range batch {
		b.done <- result{err: errs[i]}
	}
	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].done <- result{lead: true}
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return (<-e.done).err
}

// Queued is how many writes wait for a batch, or run in the one that has
// not taken them yet (its leader's own included).
func (g *Group[W]) Queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}
