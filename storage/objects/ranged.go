package objects

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"time"
)

// Range is the part of an object a reader wants first: Length bytes from
// Start, or the last Suffix bytes when Suffix > 0. Length 0 reads to the
// end, so the zero Range is the whole object.
type Range struct {
	Start, Length, Suffix int64
}

// RangeOpener is implemented by stores that open an object already
// positioned at a range with one request, learning its size and time from
// the answer: no Stat round trip before the bytes, and no bytes fetched
// that the reader then skips. The Object still seeks anywhere; reads
// outside the range ask for more.
type RangeOpener interface {
	OpenRange(ctx context.Context, key string, r Range) (Object, error)
}

// OpenRange opens key in store positioned at r: with one request when the
// store is a RangeOpener, else with Open and a Seek (cheap for a file). A
// range past the end still opens the object, at its end, so the caller can
// answer 416 with the size.
func OpenRange(ctx context.Context, store ObjectStore, key string, r Range) (Object, error) {
	if ro, ok := store.(RangeOpener); ok {
		return ro.OpenRange(ctx, key, r)
	}
	obj, err := store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	start := min(r.Start, obj.Info().Size)
	if r.Suffix > 0 {
		start = max(0, obj.Info().Size-r.Suffix)
	}
	if _, err := obj.Seek(start, io.SeekStart); err != nil {
		obj.Close()
		return nil, fmt.Errorf("open %s at %d: %w", key, start, err)
	}
	return obj, nil
}

// ResponseHeaders are the headers a presigned GET makes the store answer
// with, in place of those stored with the object.
type ResponseHeaders struct {
	ContentType, ContentDisposition, CacheControl string
}

// Presigner is implemented by stores that a client can read from directly:
// a URL that reads one object for ttl, answering with the headers h.
type Presigner interface {
	PresignGet(ctx context.Context, key string, ttl time.Duration, h ResponseHeaders) (*url.URL, error)
}
