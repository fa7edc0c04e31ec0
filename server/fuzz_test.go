package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	livesvc "siteinspect/live"
	"siteinspect/signaling"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// FuzzParseMetadata checks tus Upload-Metadata parsing: whatever it
// accepts has non-empty keys free of blanks and commas, and encoding the
// result again (in any order, with canonical base64) parses back to the
// same map.
func FuzzParseMetadata(f *testing.F) {
	b64 := base64.StdEncoding.EncodeToString
	f.Add("filename " + b64([]byte("工地 walk-through.mp4")) + ",filetype " + b64([]byte("video/mp4")))
	f.Add("is_confidential,filename " + b64([]byte("a.jpg")))
	f.Add("  key  " + b64([]byte("v")) + "  ,  other ")
	f.Add("k " + b64([]byte("1")) + ",k " + b64([]byte("2")))
	f.Add("k not-base64!")
	f.Add(",")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := parseMetadata(raw)
		if err != nil {
			if got != nil {
				t.Fatalf("parseMetadata(%q): got %v with error %v, want no map", raw, got, err)
			}
			return
		}
		keys := make([]string, 0, len(got))
		for k := range got {
			if k == "" || strings.ContainsAny(k, " \t,") {
				t.Fatalf("parseMetadata(%q): got key %q, want a non-empty key without blanks or commas", raw, k)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var pairs []string
		for i := len(keys) - 1; i >= 0; i-- { // reversed: order must not matter
			pairs = append(pairs, keys[i]+" "+b64([]byte(got[keys[i]])))
		}
		again, err := parseMetadata(strings.Join(pairs, ","))
		if err != nil || len(again) != len(got) {
			t.Fatalf("parseMetadata(%q) = %q; encoded again and parsed: got %q, %v", raw, got, again, err)
		}
		for k, v := range got {
			if again[k] != v {
				t.Fatalf("parseMetadata(%q): key %q got %q after a round trip, want %q", raw, k, again[k], v)
			}
		}
	})
}

// decimal is what tus allows in Upload-Offset and Upload-Length (tus core:
// "a non-negative integer"); strconv also takes a sign.
var decimal = regexp.MustCompile(`^[0-9]+$`)

// FuzzParseOffset checks Upload-Offset/Upload-Length parsing: an accepted
// value is a non-negative decimal that prints back to itself (up to sign
// and leading zeros), and a refusal is the client's 400 naming the header.
func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"0", "1048576", "9223372036854775807", "9223372036854775808", "-1", "+5", "-0", "0x10", " 1", "1e6", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		n, err := parseOffset(h, "Upload-Offset")
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest || !strings.Contains(he.message, "Upload-Offset") {
				t.Fatalf("parseOffset(%q): got error %v, want a 400 naming Upload-Offset", h, err)
			}
			if n != 0 {
				t.Fatalf("parseOffset(%q): got %d with an error, want 0", h, n)
			}
			return
		}
		if n < 0 || !decimal.MatchString(h) {
			t.Fatalf("parseOffset(%q): got %d, want only non-negative decimals accepted", h, n)
		}
		if strings.TrimLeft(h, "0") != strings.TrimLeft(strconv.FormatInt(n, 10), "0") {
			t.Fatalf("parseOffset(%q): got %d, which prints differently", h, n)
		}
	})
}

// fuzzEnv is one server on a fresh SQLite file and a local object
// directory, with an applicant and an inspector, for the fuzz targets that
// go through HTTP or the live room. It is made once per fuzzing process.
type fuzzEnv struct {
	srv    *Server
	db     *storage.DB
	tokens map[string]string
	users  map[string]*domain.User
}

func newFuzzEnv(tb testing.TB, live bool) *fuzzEnv {
	tb.Helper()
	ctx := context.Background()
	db := testenv.NewDB(tb)
	store, err := objects.NewDisk(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	ups, err := storage.NewUploads(db, store, domain.UploadConfig{SpoolDir: tb.TempDir(), PartSize: objects.MinPartSize})
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{DB: db, Objects: store, Uploads: ups, Office: "binhai", NumberPrefix: "BH", Location: time.UTC,
		LoginLimit: RateLimit{Failures: 1000, Window: time.Minute}}
	if live {
		mgr, err := signaling.NewManager(signaling.Config{RecordDir: tb.TempDir(), IncludeLoopback: true})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { mgr.Close() })
		svc, err := livesvc.New(livesvc.Config{DB: db, Objects: store, Media: mgr})
		if err != nil {
			tb.Fatal(err)
		}
		cfg.Live = svc
	}
	srv, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close(context.Background()) })
	e := &fuzzEnv{srv: srv, db: db, tokens: map[string]string{}, users: map[string]*domain.User{}}
	for _, u := range []struct{ name, role, org string }{{"app", "applicant", "Acme"}, {"insp", "inspector", "binhai"}, {"insp2", "inspector", "binhai"}, {"admin", "admin", ""}} {
		usr, err := db.CreateUser(ctx, u.name, "password-"+u.name, domain.Role(u.role), "", u.org)
		if err != nil {
			tb.Fatal(err)
		}
		tok, _, err := db.CreateSession(ctx, usr.ID, time.Hour)
		if err != nil {
			tb.Fatal(err)
		}
		e.users[u.name], e.tokens[u.name] = usr, tok
	}
	return e
}

// do sends one request as user ("" for nobody).
func (e *fuzzEnv) do(user, method, path string, hdr map[string]string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	if user != "" {
		r.Header.Set("Authorization", "Bearer "+e.tokens[user])
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	return w
}

// mustDo is do that fails unless the answer has status want.
func (e *fuzzEnv) mustDo(tb testing.TB, user, method, path string, hdr map[string]string, body []byte, want int) *httptest.ResponseRecorder {
	tb.Helper()
	w := e.do(user, method, path, hdr, body)
	if w.Code != want {
		tb.Fatalf("%s %s: got %d %s, want %d", method, path, w.Code, w.Body, want)
	}
	return w
}

// newCase opens a draft as the applicant and returns its id.
func (e *fuzzEnv) newCase(tb testing.TB) string {
	tb.Helper()
	w := e.mustDo(tb, "app", "POST", "/api/v1/cases", map[string]string{"Content-Type": "application/json"},
		[]byte(`{"permit_type":"hotel","site_name":"Harbour Hotel","site_address":"1 Harbour Rd"}`), http.StatusCreated)
	var cs struct{ ID string }
	if err := json.Unmarshal(w.Body.Bytes(), &cs); err != nil || cs.ID == "" {
		tb.Fatalf("create case: got %s (%v), want an id", w.Body, err)
	}
	return cs.ID
}

// FuzzTusHeaders sends a tus creation POST and then an empty PATCH with
// fuzzed Upload-Length, Upload-Defer-Length, Upload-Metadata,
// Upload-Concat, Upload-Offset and Upload-Checksum. Whatever they hold, the
// answer is never a 5xx; a created upload reports back the length and
// metadata it was given; and a PATCH without bytes never moves the offset.
func FuzzTusHeaders(f *testing.F) {
	b64 := base64.StdEncoding.EncodeToString
	meta := "filename " + b64([]byte("site.mp4")) + ",filetype " + b64([]byte("video/mp4"))
	empty := "sha256 " + b64(make([]byte, 0)) // not the digest of nothing: a mismatch
	f.Add("1000", "", meta, "", "0", "")
	f.Add("", "1", meta, "", "0", "sha256 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
	f.Add("1000", "", meta, "partial", "0", empty)
	f.Add("1000", "", meta, "final;/api/v1/uploads/x /api/v1/uploads/y", "0", "")
	f.Add("-1", "", "", "", "-1", "md5 AAAA")
	f.Add("99999999999999999999", "1", "k !!", "bogus", "1", "sha256")
	f.Add("0", "", meta, "", "0", "sha256 not base64")

	e := newFuzzEnv(f, false)
	caseID := e.newCase(f)
	ok := func(s string) bool { return !strings.ContainsAny(s, "\r\n\x00") }
	f.Fuzz(func(t *testing.T, length, deferLength, metadata, concat, offset, checksum string) {
		if !ok(length) || !ok(deferLength) || !ok(metadata) || !ok(concat) || !ok(offset) || !ok(checksum) {
			return // net/http refuses such header values before any handler
		}
		hdr := map[string]string{"Tus-Resumable": "1.0.0"}
		for k, v := range map[string]string{"Upload-Length": length, "Upload-Defer-Length": deferLength, "Upload-Metadata": metadata, "Upload-Concat": concat} {
			if v != "" {
				hdr[k] = v
			}
		}
		w := e.do("app", "POST", "/api/v1/cases/"+caseID+"/uploads", hdr, nil)
		if w.Code >= 500 {
			t.Fatalf("create with %q: got %d %s, want no 5xx", hdr, w.Code, w.Body)
		}
		loc := w.Header().Get("Location")
		if w.Code != http.StatusCreated || loc == "" || strings.HasPrefix(concat, "final;") {
			return
		}
		w = e.mustDo(t, "app", "HEAD", loc, map[string]string{"Tus-Resumable": "1.0.0"}, nil, http.StatusOK)
		if metadata != "" && w.Header().Get("Upload-Metadata") != metadata {
			t.Fatalf("HEAD: got Upload-Metadata %q, want %q as sent", w.Header().Get("Upload-Metadata"), metadata)
		}
		if deferLength == "" {
			want, err := parseOffset(length, "Upload-Length")
			if err != nil || w.Header().Get("Upload-Length") != strconv.FormatInt(want, 10) {
				t.Fatalf("HEAD: got Upload-Length %q for %q sent (parsed %d, %v)", w.Header().Get("Upload-Length"), length, want, err)
			}
		}
		before := w.Header().Get("Upload-Offset")
		ph := map[string]string{"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream", "Upload-Offset": offset}
		if checksum != "" {
			ph["Upload-Checksum"] = checksum
		}
		if w := e.do("app", "PATCH", loc, ph, nil); w.Code >= 500 {
			t.Fatalf("PATCH with %q: got %d %s, want no 5xx", ph, w.Code, w.Body)
		}
		w = e.do("app", "HEAD", loc, map[string]string{"Tus-Resumable": "1.0.0"}, nil)
		if w.Code >= 500 || (w.Code == http.StatusOK && w.Header().Get("Upload-Offset") != before) {
			t.Fatalf("HEAD after an empty PATCH: got %d with Upload-Offset %q, want %s", w.Code, w.Header().Get("Upload-Offset"), before)
		}
		e.do("app", "DELETE", loc, map[string]string{"Tus-Resumable": "1.0.0"}, nil)
	})
}

// bindTargets are the named request structs handlers decode with bindJSON.
var bindTargets = []func() any{
	func() any { return new(loginRequest) },
	func() any { return new(assignRequest) },
	func() any { return new(domain.NewCase) },
	func() any { return new(domain.AnnotationInput) },
	func() any { return new(domain.DecisionInput) },
}

// bindOnce runs bindJSON on body as a request with Content-Type ct.
func bindOnce(ct string, body []byte, v any) error {
	req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
	if ct != "" {
		req.Header.Set(echo.HeaderContentType, ct)
	}
	return bindJSON(echo.New().NewContext(req, httptest.NewRecorder()), v)
}

// jsonTypeOracle is what bindJSON takes for JSON, said another way than
// isJSONMediaType: before any ';', case and spaces aside, the type is
// application and the subtype json or a non-empty token ending in +json.
func jsonTypeOracle(ct string) bool {
	base, _, _ := strings.Cut(ct, ";")
	sub, ok := strings.CutPrefix(strings.TrimSpace(strings.ToLower(base)), "application/")
	if !ok || sub != "json" && (!strings.HasSuffix(sub, "+json") || sub == "+json") {
		return false
	}
	for _, r := range sub {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?=`, r) {
			return false
		}
	}
	return true
}

// FuzzBindJSON decodes request bodies into the real request structs.
// Beyond not panicking: a refusal is a 400, 413 or 415 (415 exactly when
// the Content-Type is not JSON); an accepted body is one JSON value and
// nothing else; and the decoded value survives encoding and decoding again.
func FuzzBindJSON(f *testing.F) {
	f.Add(byte(0), "application/json", []byte(`{"username":"insp","password":"secret"}`))
	f.Add(byte(1), "", []byte(`{"reviewer_id":"u_1"}`))
	f.Add(byte(2), "application/json; charset=utf-8", []byte(`{"permit_type":"hotel","site_name":"港湾酒店","site_address":"1 Rd","site_lat":39.08,"site_lon":117.2}`))
	f.Add(byte(3), "application/json", []byte(`{"body":"crack","start_ms":1000,"end_ms":2000,"shape":{"type":"rect","points":[[0.1,0.2],[0.3,0.4]]},"severity":"concern"}`))
	f.Add(byte(4), "application/json", []byte(`{"outcome":"request_supplement","summary":"s","supplement_due":"2026-06-01T00:00:00+08:00","owed":["plan"]}`))
	f.Add(byte(0), "text/plain", []byte(`{}`))
	f.Add(byte(0), "application/jsonx", []byte(`{}`))
	f.Add(byte(0), "application/merge-patch+json; charset=utf-8", []byte(`{}`))
	f.Add(byte(0), "application/json", []byte(`{"username":"a","extra":1}`))
	f.Add(byte(0), "application/json", []byte(`{"username":"a"}]`))
	f.Add(byte(3), "application/json", []byte(`{"start_ms":1e30}`))
	f.Add(byte(2), "application/json", []byte(`null`))
	f.Add(byte(1), "application/json", []byte(``))
	f.Fuzz(func(t *testing.T, which byte, ct string, body []byte) {
		v := bindTargets[int(which)%len(bindTargets)]()
		err := bindOnce(ct, body, v)
		notJSON := ct != "" && !jsonTypeOracle(ct)
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || !slices.Contains([]int{400, 413, 415}, he.status) {
				t.Fatalf("bindJSON(%q) into %T: got %v, want a 400, 413 or 415", body, v, err)
			}
			if (he.status == http.StatusUnsupportedMediaType) != notJSON {
				t.Fatalf("bindJSON with Content-Type %q: got %d, want 415 exactly when it is not JSON", ct, he.status)
			}
			return
		}
		if notJSON {
			t.Fatalf("bindJSON with Content-Type %q: accepted, want 415", ct)
		}
		if !json.Valid(body) {
			t.Fatalf("bindJSON(%q) into %T: accepted, want invalid JSON refused", body, v)
		}
		enc, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("marshal %T: %v", v, err)
		}
		v2 := bindTargets[int(which)%len(bindTargets)]()
		if err := bindOnce("application/json", enc, v2); err != nil {
			t.Fatalf("bindJSON(%s), our own encoding of %q: %v", enc, body, err)
		}
		if enc2, _ := json.Marshal(v2); !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip of %q: got %s then %s, want the same", body, enc, enc2)
		}
	})
}

// FuzzRoomMessage hands arbitrary WebSocket text messages to the live
// room's handler as the case's inspector, in a real session. Beyond not
// panicking: a message the strict decoder (one JSON object, known fields)
// refuses gets the "malformed" error and one it accepts does not; no
// message ever causes an "internal" error; and the room still answers a
// ping after each message.
func FuzzRoomMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"ping"}`,
		`{"type":"instruction","text":"please show the fire exit"}`,
		`{"type":"instruction","text":""}`,
		`{"type":"annotation","body":"crack","severity":"concern","shape":{"type":"rect","points":[[0.1,0.1],[0.5,0.5]]}}`,
		`{"type":"annotation","body":"x","shape":{"type":"polygon","points":[]}}`,
		`{"type":"talk","on":true,"viewer":"nobody"}`,
		`{"type":"talk","on":false}`,
		`{"type":"nope"}`,
		`{"type":"ping","extra":1}`,
		`{"type":"ping"}{"type":"ping"}`,
		`{"type":"ping"}]`,
		`[1,2,3]`,
		`not json`,
	} {
		f.Add([]byte(s))
	}
	rf := newRoomFixture(f)
	replies := rf.replies
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > maxRoomMessage {
			return // the WebSocket read limit refuses it before the handler
		}
		var strict roomMessage
		dec := json.NewDecoder(bytes.NewReader(msg))
		dec.DisallowUnknownFields()
		decodeErr := dec.Decode(&strict)
		if decodeErr == nil {
			// One value only: whatever follows must be nothing at all.
			if _, err := dec.Token(); err != io.EOF {
				decodeErr = errors.New("data after the object")
			}
		}
		if strict.Type == "snapshot" {
			return // answered later, from a goroutine that waits for video
		}
		pongs := 1
		if decodeErr == nil && strict.Type == "ping" {
			pongs = 2
		}
		got := replies(t, msg, pongs)
		malformed := false
		for _, r := range got {
			if r["type"] != "error" {
				continue
			}
			er, _ := r["error"].(map[string]any)
			if er["code"] == "internal" {
				t.Fatalf("message %q: got an internal error %v", msg, er)
			}
			malformed = malformed || strings.HasPrefix(er["message"].(string), "malformed message")
		}
		if malformed != (decodeErr != nil) {
			t.Fatalf("message %q: got malformed=%v (replies %v), want %v (strict decode: %v)", msg, malformed, got, decodeErr != nil, decodeErr)
		}
		if len(got) == 0 {
			t.Fatalf("message %q: got no reply, want an answer or an error", msg)
		}
	})
}

// roomFixture is the live room of a case in review, its inspector in it,
// for tests that hand the room messages directly (roomMessage).
type roomFixture struct {
	e    *fuzzEnv
	ctx  context.Context
	lsID string
	// cs is the case as it was when the inspector joined.
	cs   *domain.Case
	user *domain.User
	m    *signaling.Member
	room *signaling.Room
}

func newRoomFixture(tb testing.TB) *roomFixture {
	tb.Helper()
	e := newFuzzEnv(tb, true)
	ctx := context.Background()
	caseID := e.newCase(tb)
	b64 := base64.StdEncoding.EncodeToString
	data := bytes.Repeat([]byte("0123456789abcdef"), 64)
	copy(data, "\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomavc1")
	w := e.mustDo(tb, "app", "POST", "/api/v1/cases/"+caseID+"/uploads", map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(len(data)),
		"Upload-Metadata": "filename " + b64([]byte("site.mp4")) + ",filetype " + b64([]byte("video/mp4")),
	}, nil, http.StatusCreated)
	e.mustDo(tb, "app", "PATCH", w.Header().Get("Location"), map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, data, http.StatusNoContent)
	e.mustDo(tb, "app", "POST", "/api/v1/cases/"+caseID+"/submit", nil, nil, http.StatusOK)
	e.mustDo(tb, "insp", "POST", "/api/v1/cases/"+caseID+"/assign", map[string]string{"Content-Type": "application/json"}, []byte(`{}`), http.StatusOK)
	w = e.mustDo(tb, "insp", "POST", "/api/v1/cases/"+caseID+"/live", nil, nil, http.StatusCreated)
	var created struct{ ID string }
	if err := json.Unmarshal(w.Body.Bytes(), &created); err != nil || created.ID == "" {
		tb.Fatalf("create live session: got %s (%v)", w.Body, err)
	}
	cs, err := e.db.Case(ctx, caseID)
	if err != nil {
		tb.Fatal(err)
	}
	l := e.srv.live
	user := e.users["insp"]
	room := l.svc.Room(created.ID, true)
	m, err := room.Join(livesvc.PresenceOf(user), roomQueue)
	if err != nil {
		tb.Fatal(err)
	}
	return &roomFixture{e: e, ctx: ctx, lsID: created.ID, cs: cs, user: user, m: m, room: room}
}

// replies hands msg to the room, then a ping, and returns what came back
// before the last of pongs pongs.
func (rf *roomFixture) replies(t *testing.T, msg []byte, pongs int) []map[string]any {
	t.Helper()
	l, ctx, m, room := rf.e.srv.live, rf.ctx, rf.m, rf.room
	l.roomMessage(ctx, rf.lsID, nil, rf.cs, rf.user, m, room, msg)
	l.roomMessage(ctx, rf.lsID, nil, rf.cs, rf.user, m, room, []byte(`{"type":"ping"}`))
	var got []map[string]any
	for {
		select {
		case b := <-m.Out():
			var r map[string]any
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("room sent %q, not JSON: %v", b, err)
			}
			if r["type"] == "pong" {
				if pongs--; pongs == 0 {
					return got
				}
			}
			got = append(got, r)
		case <-time.After(10 * time.Second):
			t.Fatalf("no pong within 10 s after %q", msg)
		}
	}
}

// TestRoomOfficerCheckedPerMessage: an inspector who joined the room and
// whom an admin then replaced is no longer an officer there: their talk-back
// is refused as anyone's would be, where before it went on to look for
// their viewer (the room knew the case only as it was at their join).
func TestRoomOfficerCheckedPerMessage(t *testing.T) {
	rf := newRoomFixture(t)
	talk := []byte(`{"type":"talk","on":true,"viewer":"nobody"}`)
	errorOf := func(got []map[string]any) string {
		for _, r := range got {
			if er, ok := r["error"].(map[string]any); ok {
				return fmt.Sprint(er["message"])
			}
		}
		return ""
	}
	if msg := errorOf(rf.replies(t, talk, 1)); !strings.Contains(msg, "viewer must name") {
		t.Fatalf("the inspector's talk-back to no viewer: got %q, want the viewer refused", msg)
	}
	rf.e.mustDo(t, "admin", "POST", "/api/v1/cases/"+rf.cs.ID+"/assign", map[string]string{"Content-Type": "application/json"},
		[]byte(`{"inspector_id":"`+rf.e.users["insp2"].ID+`"}`), http.StatusOK)
	if msg := errorOf(rf.replies(t, talk, 1)); !strings.Contains(msg, "talk needs an officer") {
		t.Fatalf("the replaced inspector's talk-back: got %q, want it refused as not an officer's", msg)
	}
}
