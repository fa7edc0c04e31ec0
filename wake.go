package main

import (
	"context"
	"time"
)

// wakeOnChanges calls wake each time changed() fires, at most once per
// every. A replica's job workers use it to hear of jobs that another
// replica queued: on PostgreSQL, DB.Changed() fires at every audit append
// committed anywhere (DB.Listen), and an upload's completion, which queues
// its job, appends one. The bound keeps a busy office's stream of other
// changes (annotations) at a few claim queries a second; a job queued
// meanwhile is picked up at the end of the interval.
func wakeOnChanges(ctx context.Context, changed func() <-chan struct{}, wake func(), every time.Duration) {
	ch := changed()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
		// The next channel at once, so that a change made while this
		// one is handled or while waiting below is not missed.
		ch = changed()
		wake()
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
