package server

import (
	"encoding/json"
	"siteinspect/domain"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// Lists of annotations are the API's largest hot responses (a page of 100
// is ~60 KB), and encoding/json's reflection over them cost about a sixth
// of the server's CPU under load. These functions write the same bytes as
// c.JSON (encoding/json with HTML escaping, then a newline) by hand, into
// pooled buffers; TestAnnotationJSONMatchesEncodingJSON holds them to it.

var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// writeAnnotationsJSON answers code with list as c.JSON would.
func writeAnnotationsJSON(c echo.Context, code int, list []*domain.Annotation) error {
	return writeJSONWith(c, code, list, func(b []byte) []byte { return appendAnnotations(b, list) })
}

// writeAnnotationJSON answers code with a as c.JSON would.
func writeAnnotationJSON(c echo.Context, code int, a *domain.Annotation) error {
	return writeJSONWith(c, code, a, func(b []byte) []byte { return appendAnnotation(b, a) })
}

func writeJSONWith(c echo.Context, code int, v any, appendTo func([]byte) []byte) error {
	if _, pretty := c.QueryParams()["pretty"]; pretty || c.Echo().Debug {
		return c.JSON(code, v)
	}
	bp := jsonBufs.Get().(*[]byte)
	b := append(appendTo((*bp)[:0]), '\n')
	err := c.Blob(code, echo.MIMEApplicationJSON, b)
	if cap(b) <= 1<<20 { // keep an occasional huge listing out of the pool
		*bp = b
		jsonBufs.Put(bp)
	}
	return err
}

func appendAnnotations(b []byte, list []*domain.Annotation) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, a := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendAnnotationMemo(b, a)
	}
	return append(b, ']')
}

// appendAnnotationMemo is appendAnnotation for the pages of a listing: an
// annotation from storage's listing cache, which does not change while
// cached, is rendered once and then copied.
func appendAnnotationMemo(b []byte, a *domain.Annotation) []byte {
	if a == nil {
		return append(b, "null"...)
	}
	if j := a.CachedJSON(); j != nil {
		return append(b, j...)
	}
	start := len(b)
	b = appendAnnotation(b, a)
	if a.JSONCacheable() {
		a.SetCachedJSON(append([]byte(nil), b[start:]...))
	}
	return b
}

// appendAnnotation follows the field order and tags of storage.Annotation.
func appendAnnotation(b []byte, a *domain.Annotation) []byte {
	if a == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"id":`...)
	b = appendJSONString(b, a.ID)
	b = append(b, `,"case_id":`...)
	b = appendJSONString(b, a.CaseID)
	b = append(b, `,"evidence_id":`...)
	b = appendJSONString(b, a.EvidenceID)
	b = append(b, `,"author":`...)
	b = appendUserRef(b, a.Author)
	b = append(b, `,"body":`...)
	b = appendJSONString(b, a.Body)
	b = append(b, `,"start_ms":`...)
	b = appendInt64Ptr(b, a.StartMS)
	b = append(b, `,"end_ms":`...)
	b = appendInt64Ptr(b, a.EndMS)
	b = append(b, `,"start_frame":`...)
	b = appendInt64Ptr(b, a.StartFrame)
	b = append(b, `,"end_frame":`...)
	b = appendInt64Ptr(b, a.EndFrame)
	b = append(b, `,"page":`...)
	if a.Page == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(*a.Page), 10)
	}
	b = append(b, `,"shape":`...)
	if a.Shape == nil {
		b = append(b, "null"...)
	} else {
		// Rare (a drawing), and its floats are best left to encoding/json.
		s, _ := json.Marshal(a.Shape)
		b = append(b, s...)
	}
	b = append(b, `,"checklist_item":`...)
	b = appendJSONString(b, a.ChecklistItem)
	b = append(b, `,"severity":`...)
	b = appendJSONString(b, a.Severity)
	b = append(b, `,"resolved":`...)
	b = strconv.AppendBool(b, a.Resolved)
	b = append(b, `,"resolved_at":`...)
	if a.ResolvedAt == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONTime(b, *a.ResolvedAt)
	}
	if a.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(a.Version), 10)
	b = append(b, `,"created_at":`...)
	b = appendJSONTime(b, a.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendJSONTime(b, a.UpdatedAt)
	b = append(b, `,"replies":`...)
	if a.Replies == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, r := range a.Replies {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = appendJSONString(b, r.ID)
			b = append(b, `,"author":`...)
			b = appendUserRef(b, r.Author)
			b = append(b, `,"body":`...)
			b = appendJSONString(b, r.Body)
			b = append(b, `,"created_at":`...)
			b = appendJSONTime(b, r.CreatedAt)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendUserRef(b []byte, u *domain.UserRef) []byte {
	if u == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"id":`...)
	b = appendJSONString(b, u.ID)
	b = append(b, `,"username":`...)
	b = appendJSONString(b, u.Username)
	b = append(b, `,"display_name":`...)
	b = appendJSONString(b, u.DisplayName)
	b = append(b, `,"org":`...)
	b = appendJSONString(b, u.Org)
	return append(b, '}')
}

func appendInt64Ptr(b []byte, v *int64) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, *v, 10)
}

// appendJSONTime is time.Time's MarshalJSON (RFC 3339 with the fraction
// trimmed) for the years 0–9999 that our records hold.
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding with HTML escaping,
// as json.Encoder does by default: control characters, quote, backslash,
// <, > and & escaped, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
