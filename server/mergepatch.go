package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"siteinspect/domain"

	"github.com/labstack/echo/v4"
)

// mimeMergePatch is the media type of a JSON Merge Patch (RFC 7396 §4).
const mimeMergePatch = "application/merge-patch+json"

// readMergePatch reads a JSON Merge Patch body: an object, sent as
// application/merge-patch+json or plain application/json.
func readMergePatch(c echo.Context) (map[string]any, error) {
	if ct := c.Request().Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != mimeMergePatch && mt != echo.MIMEApplicationJSON) {
			return nil, newError(http.StatusUnsupportedMediaType, "send a JSON Merge Patch with Content-Type: application/merge-patch+json or application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, maxJSONBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, newError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the JSON body exceeds %d bytes", maxJSONBody))
		}
		return nil, fmt.Errorf("read merge patch: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, newError(http.StatusBadRequest, "the request body is empty; send a JSON object")
	}
	var patch map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&patch); err != nil || patch == nil {
		return nil, newError(http.StatusBadRequest, "malformed JSON: a merge patch is a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, newError(http.StatusBadRequest, "malformed JSON: unexpected data after the object")
	}
	if err := checkJSONText(body); err != nil {
		return nil, err
	}
	return patch, nil
}

// mergePatch applies patch to target as RFC 7396 §2 says: members of an
// object patch replace the target's (recursively for objects), null
// removes a member, and anything that is not an object replaces the target
// whole.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

// patchAnnotation applies a merge patch to the editable fields of a and
// returns the new content. Fields the patch leaves out keep their values;
// a null removes an optional one. The frames follow from the times and are
// recomputed by storage.
func patchAnnotation(a *domain.Annotation, patch map[string]any) (domain.AnnotationInput, error) {
	cur := domain.AnnotationInput{Body: a.Body, StartMS: a.StartMS, EndMS: a.EndMS, StartFrame: a.StartFrame, EndFrame: a.EndFrame,
		Page: a.Page, Shape: a.Shape, ChecklistItem: a.ChecklistItem, Severity: a.Severity}
	b, err := json.Marshal(cur)
	if err != nil {
		return cur, fmt.Errorf("annotation to JSON: %w", err)
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return cur, fmt.Errorf("annotation from JSON: %w", err)
	}
	for k, v := range doc {
		if v == nil {
			delete(doc, k) // absent and null are the same to a merge patch
		}
	}
	merged, err := json.Marshal(mergePatch(doc, patch))
	if err != nil {
		return cur, fmt.Errorf("merged annotation to JSON: %w", err)
	}
	var out domain.AnnotationInput
	dec = json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return cur, newError(http.StatusBadRequest, "the patched annotation is not valid: "+err.Error())
	}
	return out, nil
}
