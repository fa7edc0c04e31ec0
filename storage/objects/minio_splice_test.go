package objects_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"siteinspect/internal/testenv"
	"siteinspect/storage/objects"
)

// TestSpliceRangesOverTCP: bodies long enough to be spliced with the
// receive low-water mark up (and one too short for it) arrive exact at
// the other end of a TCP connection, the tail included: the mark goes back
// to one byte for the last SpliceLowat bytes, so nothing waits for MinIO
// to close its keep-alive connection.
func TestSpliceRangesOverTCP(t *testing.T) {
	m := testenv.NewMinIO(t)
	ctx := context.Background()
	const lw = objects.SpliceLowat
	data := randomBytes(t, 6*lw+777)
	if err := m.Put(ctx, "long", bytes.NewReader(data), int64(len(data)), "application/octet-stream"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		r          objects.Range
		start, end int
	}{
		{"whole", objects.Range{}, 0, len(data)},
		{"middle", objects.Range{Start: 1000, Length: 4*lw + 5}, 1000, 1000 + 4*lw + 5},
		{"just two marks", objects.Range{Start: 3 * lw, Length: 2 * lw}, 3 * lw, 5 * lw},
		{"open end", objects.Range{Start: 4 * lw}, 4 * lw, len(data)},
		{"short suffix", objects.Range{Suffix: lw + 1}, len(data) - lw - 1, len(data)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := m.OpenRange(ctx, "long", tc.r)
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Close()
			if _, err := obj.Seek(int64(tc.start), io.SeekStart); err != nil {
				t.Fatal(err)
			}
			s, ok := obj.(objects.Splicer)
			if !ok {
				t.Fatalf("got %T, want an objects.Splicer", obj)
			}
			src, dst := tcpPair(t)
			got := make(chan []byte, 1)
			go func() { b, _ := io.ReadAll(dst); got <- b }()
			// A stalled tail would hang here: fail instead.
			stop := time.AfterFunc(30*time.Second, func() { src.Close(); dst.Close() })
			defer stop.Stop()
			n, spliced, err := s.SpliceTo(src, int64(tc.end-tc.start))
			src.Close()
			if !spliced || err != nil || n != int64(tc.end-tc.start) {
				t.Fatalf("SpliceTo: got %d bytes, spliced %v, %v; want %d, true, nil", n, spliced, err, tc.end-tc.start)
			}
			if b := <-got; !bytes.Equal(b, data[tc.start:tc.end]) {
				t.Fatalf("got %d bytes (equal %v), want bytes %d-%d of the object", len(b), bytes.Equal(b, data[tc.start:tc.end]), tc.start, tc.end)
			}
		})
	}
}

// tcpPair is both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}
