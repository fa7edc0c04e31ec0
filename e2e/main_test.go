// Package e2e runs siteinspect end to end as its users and their clients
// meet it: the built binary as child processes (internal/harness), real
// MinIO, SQLite or PostgreSQL, ffmpeg, headless Chromium, pion peers,
// tus-js-client, HAProxy in front of replicas.
package e2e

import (
	"testing"

	"siteinspect/internal/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
