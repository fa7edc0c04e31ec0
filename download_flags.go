package main

import (
	"flag"
	"fmt"
	"time"
)

// downloadFlags choose how downloads of evidence reach the client.
type downloadFlags struct {
	direct bool
	ttl    time.Duration
}

func (df *downloadFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&df.direct, "direct-downloads", false,
		"answer downloads of evidence and derived files, after the usual authorisation and audit, with a redirect to a presigned URL of the S3 store, so the bytes skip this server; only for deployments where clients reach the store (S3 only)")
	fs.DurationVar(&df.ttl, "direct-download-ttl", time.Minute, "how long each presigned download URL works (--direct-downloads); a player's later Range requests come back here for a new one")
}

// directTTL is the server's DirectDownloadTTL: zero relays downloads.
// Direct downloads need an S3 store (s3).
func (df *downloadFlags) directTTL(s3 bool) (time.Duration, error) {
	if !df.direct {
		return 0, nil
	}
	if !s3 {
		return 0, fmt.Errorf("--direct-downloads needs an S3 store (--s3-endpoint): clients cannot reach the local directory")
	}
	if df.ttl < time.Second || df.ttl > 7*24*time.Hour {
		return 0, fmt.Errorf("--direct-download-ttl %s: want between 1s and 168h", df.ttl)
	}
	return df.ttl, nil
}
