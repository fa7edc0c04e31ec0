package storage

import (
	"context"

	"siteinspect/domain"
)

// TakeLease takes an upload's lease for a writer that never renews nor
// releases it: a replica that died mid-PATCH.
func (s *Uploads) TakeLease(ctx context.Context, id string) error {
	return s.acquire(ctx, id, domain.NewID())
}
