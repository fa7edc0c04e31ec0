package main

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// TestDirectDownloadsNeedS3: --direct-downloads is refused without an S3
// store and with a TTL out of range, and gives the TTL otherwise; without
// it downloads are relayed (TTL 0).
func TestDirectDownloadsNeedS3(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		s3      bool
		want    time.Duration
		wantErr string
	}{
		{nil, false, 0, ""},
		{nil, true, 0, ""},
		{[]string{"--direct-downloads"}, true, time.Minute, ""},
		{[]string{"--direct-downloads", "--direct-download-ttl", "2s"}, true, 2 * time.Second, ""},
		{[]string{"--direct-downloads"}, false, 0, "needs an S3 store"},
		{[]string{"--direct-downloads", "--direct-download-ttl", "0s"}, true, 0, "want between"},
	} {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var df downloadFlags
		df.register(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		got, err := df.directTTL(tt.s3)
		if got != tt.want || (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%v with S3 %v: got %v, %v; want %v, error containing %q", tt.args, tt.s3, got, err, tt.want, tt.wantErr)
		}
	}
}
