package harness

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"siteinspect/internal/testenv"
)

// MakeSource writes a file of size bytes that starts with a real MP4
// (so type sniffing accepts it) and goes on with pseudo-random bytes, and
// returns its path and hex SHA-256.
func MakeSource(tb testing.TB, dir string, size int64) (string, string) {
	tb.Helper()
	head, err := os.ReadFile(testenv.MakeMP4(tb, dir, 1, "160x120"))
	if err != nil {
		tb.Fatal(err)
	}
	if int64(len(head)) > size {
		head = head[:size]
	}
	path := filepath.Join(dir, "source.mp4")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	w := io.MultiWriter(f, h)
	if _, err := w.Write(head); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.CopyN(w, rand.NewChaCha8([32]byte{'s', 'i', 't', 'e'}), size-int64(len(head))); err != nil {
		tb.Fatal(err)
	}
	return path, hex.EncodeToString(h.Sum(nil))
}
