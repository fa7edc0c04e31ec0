// Package pgtest makes a fresh PostgreSQL database per test on the server
// scripts/with-postgres.sh started. It needs nothing of siteinspect, so
// tests inside the storage package can use it as well as testenv.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// The environment of the PostgreSQL tests: EnvURL is the server
// scripts/with-postgres.sh started (a URL to its postgres database, on
// which each test creates a database of its own); EnvDB set to "postgres"
// makes the tests' usual database PostgreSQL instead of SQLite, so that a
// package's whole suite runs a second time on it.
const (
	EnvURL = "SITEINSPECT_TEST_PG_URL"
	EnvDB  = "SITEINSPECT_TEST_DB"
)

// Selected reports whether this run's tests use PostgreSQL as their usual
// database (SITEINSPECT_TEST_DB=postgres).
func Selected() bool { return os.Getenv(EnvDB) == "postgres" }

// URL makes a fresh, empty database on the test server and returns its
// URL; the database is dropped when the test ends. The test fails (never
// skips) when no server was given.
func URL(tb testing.TB) string {
	tb.Helper()
	return newDatabase(tb, false)
}

// URLForRun is URL for a database that outlives the test that makes it
// (servers of several subtests share it); the cluster, thrown away when the
// run ends, takes it along.
func URLForRun(tb testing.TB) string {
	tb.Helper()
	return newDatabase(tb, true)
}

func newDatabase(tb testing.TB, keep bool) string {
	tb.Helper()
	server := os.Getenv(EnvURL)
	if server == "" {
		tb.Fatalf("%s is not set: run the test inside scripts/with-postgres.sh (it starts PostgreSQL 15 and sets it)", EnvURL)
	}
	u, err := url.Parse(server)
	if err != nil {
		tb.Fatalf("%s: %v", EnvURL, err)
	}
	name := "t_" + strings.ToLower(rand.Text()[:20])
	if err := admin(server, `CREATE DATABASE `+name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	if !keep {
		tb.Cleanup(func() {
			if err := admin(server, `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
				tb.Errorf("drop database %s: %v", name, err)
			}
		})
	}
	u.Path = "/" + name
	return u.String()
}

// admin runs one statement on the server's own database.
func admin(server, stmt string) error {
	db, err := sql.Open("pgx", server)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = db.ExecContext(ctx, stmt)
	return err
}
