package sqlite

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestLogSpaceOnlyWhileGrowing: a log that grows slowly gets no disk
// allocated past its end (an idle server's costs nothing); one that grows
// by megabytes between ticks does.
func TestLogSpaceOnlyWhileGrowing(t *testing.T) {
	ctx := context.Background()
	db, path := mustOpen(t)
	cp := newCheckpointer(db, path, 1<<30)
	defer cp.close()
	ahead := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Blocks*512 - fi.Size()
	}
	now := time.Now()
	for range 5 {
		mustWrite(t, db, 10)
		now = now.Add(CheckpointEvery)
		if err := cp.tick(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	if got := ahead(); got >= logGrowing {
		t.Fatalf("log growing by a few KiB a tick: %d bytes allocated past its end, want < %d", got, logGrowing)
	}
	mustWrite(t, db, 1000)
	if err := cp.tick(ctx, now.Add(CheckpointEvery)); err != nil {
		t.Fatal(err)
	}
	if got := ahead(); got < logAhead/2 {
		t.Fatalf("log grown by MiBs since the last tick: %d bytes allocated past its end, want ≥ %d", got, logAhead/2)
	}
}
