package main

import (
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLiveFlags: a bad live flag is refused with the flag's name, and the
// bounds on a session (--live-max-kbps, --live-max-duration,
// --live-max-viewers) reach the signaling manager and the live service;
// their defaults are 6000 kbps, 3 h and 200 viewers.
func TestLiveFlags(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		kbps    int
		maxDur  time.Duration
		viewers int
		wantErr string
	}{
		{nil, 6000, 3 * time.Hour, 200, ""},
		{[]string{"--live-max-kbps", "0", "--live-max-duration", "45m", "--live-max-viewers", "0"}, 0, 45 * time.Minute, 0, ""},
		{[]string{"--live-max-viewers", "12"}, 6000, 3 * time.Hour, 12, ""},
		{[]string{"--live-max-kbps", "-1"}, 0, 0, 0, "--live-max-kbps"},
		{[]string{"--live-max-viewers", "-1"}, 0, 0, 0, "--live-max-viewers"},
		{[]string{"--live-max-duration", "3x"}, 0, 0, 0, "--live-max-duration"},
		{[]string{"--live-max-duration", "0s"}, 0, 0, 0, "--live-max-duration"},
		{[]string{"--live-idle", "soon"}, 0, 0, 0, "--live-idle"},
		{[]string{"--live-token-ttl", "-1h"}, 0, 0, 0, "--live-token-ttl"},
		{[]string{"--webrtc-failed-timeout", "x"}, 0, 0, 0, "--webrtc-failed-timeout"},
	} {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var lf liveFlags
		lf.register(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		m, cfg, err := lf.open(t.TempDir(), slog.New(slog.DiscardHandler))
		if m != nil {
			m.Close()
		}
		if tt.wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr+":") {
				t.Errorf("%v: got %v, want an error naming %s", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil || cfg.MaxIngestKbps != tt.kbps || lf.maxDur != tt.maxDur || cfg.MaxViewers != tt.viewers {
			t.Errorf("%v: got %d kbps, %v, %d viewers (%v); want %d kbps, %v, %d viewers", tt.args, cfg.MaxIngestKbps, lf.maxDur, cfg.MaxViewers, err, tt.kbps, tt.maxDur, tt.viewers)
		}
	}
}
