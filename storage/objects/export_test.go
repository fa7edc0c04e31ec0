package objects

import (
	"context"
	"net/url"
)

// SetPartPresigner makes m ask f for the URL of each part sent from a file.
func SetPartPresigner(m *MinIO, f func(ctx context.Context, key, uploadID string, n int) (*url.URL, error)) {
	m.presignHook = f
}

// PresignPart is the URL m itself would make for part n.
func PresignPart(ctx context.Context, m *MinIO, key, uploadID string, n int) (*url.URL, error) {
	return m.presignPart(ctx, key, uploadID, n)
}

// SpliceLowat is the receive low-water mark of a long spliced body.
const SpliceLowat = spliceLowat
