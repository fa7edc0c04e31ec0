package harness

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"siteinspect/domain"
)

// PatchBody is Patch that also returns the response body.
func (c *Client) PatchBody(loc string, offset int64, chunk []byte) (*http.Response, []byte) {
	c.TB.Helper()
	resp := c.Do("PATCH", loc, bytes.NewReader(chunk), map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Offset": strconv.FormatInt(offset, 10),
		"Content-Type": "application/offset+octet-stream", "Content-Length": strconv.Itoa(len(chunk)),
	})
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// MustPatch sends data[from:to] and wants it taken whole.
func (c *Client) MustPatch(loc string, data []byte, from, to int64) *http.Response {
	c.TB.Helper()
	resp, body := c.PatchBody(loc, from, data[from:to])
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != strconv.FormatInt(to, 10) {
		c.TB.Fatalf("PATCH [%d, %d): got %d, Upload-Offset %q (%s); want 204 at %d", from, to, resp.StatusCode, resp.Header.Get("Upload-Offset"), body, to)
	}
	return resp
}

// MustSameContent checks the evidence item and its stored bytes are data.
func (c *Client) MustSameContent(evidenceID string, data []byte) {
	c.TB.Helper()
	sum := sha256.Sum256(data)
	var ev domain.Evidence
	c.MustJSON("GET", "/api/v1/evidence/"+evidenceID, nil, http.StatusOK, &ev)
	if ev.SHA256 != hex.EncodeToString(sum[:]) || ev.Size != int64(len(data)) {
		c.TB.Fatalf("evidence: got sha256 %s size %d, want %x size %d", ev.SHA256, ev.Size, sum, len(data))
	}
	resp := c.Do("GET", "/api/v1/evidence/"+evidenceID+"/content", nil, nil)
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if resp.StatusCode != http.StatusOK || err != nil || !bytes.Equal(h.Sum(nil), sum[:]) {
		c.TB.Fatalf("content: got %d, %d bytes with sha256 %x (%v); want 200 with sha256 %x", resp.StatusCode, n, h.Sum(nil), err, sum)
	}
}

// Tus sends a tus request (Tus-Resumable set; a body goes as
// application/offset+octet-stream) and returns the response, body closed.
func (c *Client) Tus(method, path string, body []byte, hdr map[string]string) *http.Response {
	c.TB.Helper()
	h := map[string]string{"Tus-Resumable": "1.0.0"}
	for k, v := range hdr {
		h[k] = v
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
		h["Content-Type"] = "application/offset+octet-stream"
	}
	resp := c.Do(method, path, r, h)
	resp.Body.Close()
	return resp
}

// MustEvidenceDone polls until the evidence leaves processing.
func (c *Client) MustEvidenceDone(id string, within time.Duration) domain.Evidence {
	c.TB.Helper()
	deadline := time.Now().Add(within)
	for {
		var ev domain.Evidence
		c.MustJSON("GET", "/api/v1/evidence/"+id, nil, http.StatusOK, &ev)
		if ev.Status != domain.EvidenceProcessing {
			return ev
		}
		if time.Now().After(deadline) {
			c.TB.Fatalf("evidence %s still processing after %s", id, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// MustUploadFile uploads a file in one PATCH and returns the evidence id.
func (c *Client) MustUploadFile(caseID, path string) string {
	c.TB.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		c.TB.Fatal(err)
	}
	loc := c.CreateUpload(caseID, filepath.Base(path), int64(len(data)))
	resp := c.Patch(loc, 0, bytes.NewReader(data), int64(len(data)))
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Evidence-Id") == "" {
		c.TB.Fatalf("upload %s: got %d, want 204 with Evidence-Id", path, resp.StatusCode)
	}
	return resp.Header.Get("Evidence-Id")
}
