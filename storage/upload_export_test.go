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

// AfterQuotaCheck makes f run in each creation's transaction between its
// quota check and its insert.
func (s *Uploads) AfterQuotaCheck(f func()) { s.afterQuota = f }
