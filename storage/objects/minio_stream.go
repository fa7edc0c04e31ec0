package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/minio/minio-go/v7"
)

// CanStreamParts says whether m takes parts through StreamPart: only on
// plain http, as putPartFile (over TLS a part goes through minio-go,
// whose retries need a body it can read again).
func (m *MinIO) CanStreamParts() bool { return m.partClient != nil }

// StreamPart stores part n (1-based) of size bytes read from body, with
// one PUT to a presigned UploadPart URL, and returns its ETag. The upload
// path hands it a body that yields the part's bytes as the client sends
// them, so that storing a part overlaps receiving it instead of following
// it. It makes one attempt and never retries, since body cannot be read
// twice: the caller keeps a copy to retry from (PutPart from its spool
// file). A body that fails or ends early fails the part, and S3 keeps
// nothing of it. ctx bounds the whole PUT, a stalled body included.
func (m *MinIO) StreamPart(ctx context.Context, key, uploadID string, n int, body io.Reader, size int64) (string, error) {
	what := fmt.Sprintf("stream part %d of %s", n, key)
	if m.partClient == nil {
		return "", fmt.Errorf("%s: not on plain http", what)
	}
	presign := m.presignPart
	if m.presignHook != nil {
		presign = m.presignHook
	}
	u, err := presign(ctx, key, uploadID, n)
	if err != nil {
		return "", fmt.Errorf("%s: presign: %w", what, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), io.NopCloser(body))
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	req.ContentLength = size
	resp, err := m.partClient.Do(req)
	if err != nil {
		// Not the url.Error: its presigned URL would be a usable credential in a log.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("%s: %w", what, err)
	}
	etag, err, _ := readPartResponse(resp)
	var me minio.ErrorResponse
	if errors.As(err, &me) {
		return "", translate(me, fmt.Sprintf("%s (HTTP %d %s)", what, me.StatusCode, me.Code))
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return etag, nil
}
