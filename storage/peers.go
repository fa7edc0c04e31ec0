package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"siteinspect/domain"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Replicas on one PostgreSQL database tell each other what changed with
// LISTEN/NOTIFY, so that nothing one process keeps in memory goes stale
// behind another's back:
//
//   - siteinspect_changed: a transaction that appended to the audit chain
//     sends it in the same transaction (PostgreSQL delivers it at commit,
//     and only if it commits), payload "<origin> <head seq>". Every
//     listener closes its Changed() channel, and live views (the SSE
//     stream of a case's events) read the new rows from the table. Only
//     audit appends notify: every change a live view shows records an
//     event, and those transactions already take the chain lock up to
//     their commit, so the queue lock NOTIFY takes at commit serialises
//     nothing that was not serialised already.
//   - siteinspect_sessions: a logout ("<origin> <token hash>") or a
//     password reset ("<origin> *") drops the ended sessions from every
//     replica's session cache. An admin's change of a user or of the
//     office's settings sends "*" too, which also drops the cached user
//     names and office settings (docs/ADMIN.md).
//
// origin is a random id of the sending DB handle; a handle ignores its own
// notifications (it acted on the change when it made it).
const (
	changedChannel  = "siteinspect_changed"
	sessionsChannel = "siteinspect_sessions"
)

// listenRecheck is how long the listener waits for a notification before
// it pings its connection: a connection cut without a FIN (a network
// partition) is noticed within listenRecheck plus the ping's timeout.
const listenRecheck = 10 * time.Second

// fallbackWake is how often Changed() fires by itself while the listener
// is not connected, so that live views still see other replicas' changes.
const fallbackWake = time.Second

// peers is a DB's side of the conversation between replicas (PostgreSQL
// only; zero on SQLite, whose database has one server process).
type peers struct {
	dsn    string
	origin string
}

// joinPeers sets d up to tell other processes on its PostgreSQL database
// of the changes it makes; Listen makes it hear theirs.
func (d *DB) joinPeers(dsn string) {
	if d.dialect.Name() != "postgres" {
		return
	}
	b := make([]byte, 8)
	rand.Read(b)
	d.peers = peers{dsn: dsn, origin: hex.EncodeToString(b)}
	d.cache.shareSessions(d.tellSessionEnded)
}

// announceChange sends siteinspect_changed inside tx, which has just
// chained events up to last (nil when it chained none: nothing is sent,
// nor on SQLite).
func (d *DB) announceChange(ctx context.Context, tx *wtx, last *domain.AuditEvent) error {
	if d.peers.origin == "" || last == nil {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify(?, ?)`, changedChannel, d.peers.origin+" "+strconv.FormatInt(last.Seq, 10)); err != nil {
		return fmt.Errorf("notify other replicas: %w", err)
	}
	return nil
}

// tellSessionEnded tells the other replicas that the session whose token
// hashes to hash ("*": every session) has ended. It runs after the change
// committed; if the database cannot be told, the others' caches still let
// the session go within sessionCacheTTL.
func (d *DB) tellSessionEnded(hash string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	d.sql.ExecContext(ctx, `SELECT pg_notify(?, ?)`, sessionsChannel, d.peers.origin+" "+hash)
}

// Listen hears the other replicas on the same PostgreSQL database until ctx
// ends: on one dedicated connection (outside the pool, which may be busy)
// it LISTENs to both channels, closes Changed() at each change another
// process committed, and drops the sessions another process ended from
// the session cache. A lost connection is made again with a back-off (up
// to 5 s); meanwhile Changed() fires every second and sessions are not
// served from the cache, so that nothing waits on a notification that
// cannot come. On SQLite it returns at once: one process serves a SQLite
// file, and the CLI's changes reach it by the caches' TTLs.
func (d *DB) Listen(ctx context.Context, log *slog.Logger) {
	if d.peers.origin == "" {
		return
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fallbackDone := make(chan struct{})
	go func() {
		defer close(fallbackDone)
		t := time.NewTicker(fallbackWake)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if !d.cache.hearing() {
					d.bump()
				}
			}
		}
	}()
	defer func() { <-fallbackDone }()
	backoff := 100 * time.Millisecond
	for {
		heard, err := d.listenOnce(ctx)
		d.cache.setHearing(false)
		if ctx.Err() != nil {
			return
		}
		if heard {
			backoff = 100 * time.Millisecond
		}
		log.Warn("listening to other replicas: connection lost; live views poll every second meanwhile", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listenOnce connects, listens and hears notifications until the
// connection fails or ctx ends; heard says whether it got as far as
// listening.
func (d *DB) listenOnce(ctx context.Context) (heard bool, err error) {
	cfg, err := pgxpool.ParseConfig(d.peers.dsn) // takes out the pool_* settings
	if err != nil {
		return false, fmt.Errorf("the PostgreSQL URL is not valid")
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg.ConnConfig)
	if err == nil {
		_, err = conn.Exec(cctx, "LISTEN "+changedChannel+"; LISTEN "+sessionsChannel)
	}
	cancel()
	if err != nil {
		if conn != nil {
			conn.Close(context.Background())
		}
		return false, fmt.Errorf("listen: %w", err)
	}
	defer conn.Close(context.Background())
	// Whatever was said while no one listened is lost: wake live views
	// and forget cached sessions once, then trust notifications again.
	d.cache.dropSessionLocal("*")
	d.cache.setHearing(true)
	d.bump()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenRecheck)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return true, nil
		}
		if errors.Is(err, context.DeadlineExceeded) || (err != nil && wctx.Err() != nil) {
			pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("ping: %w", err)
			}
			continue
		}
		if err != nil {
			return true, err
		}
		d.heard(n.Channel, n.Payload)
	}
}

// heard acts on one notification.
func (d *DB) heard(channel, payload string) {
	origin, what, _ := strings.Cut(payload, " ")
	if origin == d.peers.origin {
		return
	}
	switch channel {
	case changedChannel:
		d.bump()
	case sessionsChannel:
		d.cache.dropSessionLocal(what)
	}
}
