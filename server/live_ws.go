package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"siteinspect/domain"
	"siteinspect/live"
	"siteinspect/signaling"
	"siteinspect/storage"
)

// Room limits: a message is at most maxRoomMessage bytes (a larger one
// closes that connection with 1009); each member's outgoing queue holds
// roomQueue messages before a stalled member is dropped.
const (
	maxRoomMessage = 16 << 10
	roomQueue      = 128
)

// A member's messages are limited to roomRate a second after a burst of
// roomBurst: an instruction, a note or a shot is an event of the audit
// chain, which every write of the office waits for, and a position a row;
// a person, or a phone sending its position every few seconds, never
// comes near it. Past it, a message gets a rate_limited error and changes
// nothing (TestRoomMessagesRateLimited).
const (
	roomRate  = 10
	roomBurst = 60
)

// roomAllowances holds each member's allowance in each room while they
// have a connection to it.
type roomAllowances struct {
	mu sync.Mutex
	m  map[string]*roomAllowance
}

// roomAllowance is a token bucket of roomBurst filling at roomRate a
// second, and how many connections share it.
type roomAllowance struct {
	mu        sync.Mutex
	allowance float64
	last      time.Time
	conns     int
}

// take returns key's allowance, full when new, and the function that
// counts the connection out when it ends.
func (r *roomAllowances) take(key string) (*roomAllowance, func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]*roomAllowance{}
	}
	// A member who left keeps their allowance until it has filled again,
	// so that leaving and joining again gives no fresh burst.
	now := time.Now()
	for k, o := range r.m {
		o.mu.Lock()
		idle := o.conns == 0 && now.Sub(o.last).Seconds()*roomRate >= roomBurst
		o.mu.Unlock()
		if idle {
			delete(r.m, k)
		}
	}
	b := r.m[key]
	if b == nil {
		b = &roomAllowance{allowance: roomBurst, last: time.Now()}
		r.m[key] = b
	}
	b.mu.Lock()
	b.conns++
	b.mu.Unlock()
	return b, func() {
		b.mu.Lock()
		b.conns--
		b.mu.Unlock()
	}
}

// allow spends one message of the allowance at time at, or says there is
// none left.
func (b *roomAllowance) allow(at time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.allowance = min(roomBurst, b.allowance+at.Sub(b.last).Seconds()*roomRate)
	b.last = at
	if b.allowance < 1 {
		return false
	}
	b.allowance--
	return true
}

// roomMessage is any message a client sends; Type says which fields count.
type roomMessage struct {
	Type          string        `json:"type"`
	Text          string        `json:"text"`
	Body          string        `json:"body"`
	ChecklistItem string        `json:"checklist_item"`
	Severity      string        `json:"severity"`
	Shape         *domain.Shape `json:"shape"`
	On            *bool         `json:"on"`
	Viewer        string        `json:"viewer"`
	// Lat, Lon and Accuracy are a position message's (the phone's GPS).
	Lat      *float64 `json:"lat"`
	Lon      *float64 `json:"lon"`
	Accuracy *float64 `json:"accuracy"`
	// Upload names the phone's finished tus upload of a still.
	Upload string `json:"upload"`
	// Request is the take_still command a still answers.
	Request string `json:"request"`
}

// roomError is the error message sent back for a refused client message.
func roomError(code, message string) []byte {
	return encode(map[string]any{"type": "error", "error": map[string]string{"code": code, "message": message}})
}

// handleRoom serves the session's WebSocket. The phone authenticates with
// ?token=<publish token>; the case's users with their login cookie (the
// WebSocket handshake checks Origin against Host, so another site cannot
// ride the cookie).
func (l *liveService) handleRoom(c echo.Context) error {
	ls, cs, err := l.loadLive(c)
	if err != nil {
		return err
	}
	var user *domain.User
	var who signaling.Presence
	if token := c.QueryParam("token"); token != "" {
		if err := l.db.CheckPublishToken(ls, token); err != nil {
			if errors.Is(err, domain.ErrBadToken) {
				return newCodedError(http.StatusUnauthorized, "live_token_invalid", "wrong or expired publish token")
			}
			return err
		}
		name := "applicant"
		if cs.Applicant != nil {
			name = cs.Applicant.DisplayName
		}
		who = signaling.Presence{ID: "phone", Name: name, Role: "phone"}
	} else {
		if err := login(c, l.db); err != nil {
			return err
		}
		user = currentUser(c)
		// Admins and supervisors join no room: being in one is taking part.
		if !cs.VisibleTo(user) || user.Role == domain.RoleAdmin || user.Role == domain.RoleSupervisor {
			return newError(http.StatusNotFound, "no such live session")
		}
		who = live.PresenceOf(user)
	}
	if ls.Status != domain.LiveOpen {
		return newCodedError(http.StatusGone, "live_ended", "this live inspection has ended")
	}
	if err := checkWebSocketRequest(c.Request()); err != nil {
		return err
	}
	conn, err := websocket.Accept(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // Accept has answered the client
	}
	conn.SetReadLimit(maxRoomMessage)
	room := l.svc.Room(ls.ID, true)
	m, err := room.Join(who, roomQueue)
	if err != nil {
		conn.Close(websocket.StatusGoingAway, "the live inspection has ended")
		return nil
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(c.Request().Context()))
	defer cancel()
	// A member is one for as long as what let them in lasts: a logged-in
	// member's session, the phone's publish token (until a reissued link
	// revokes it). Both are read afresh before each of the member's
	// messages and at each ping, and the connection ends with them
	// (TestRoomEndsWithSession, TestRoomEndsWithRevokedLink); a failed
	// read keeps the member. now is the logged-in member as they are now,
	// fresh the live session as the phone's check read it (nil when it was
	// not read: the message's handling reads it then).
	phone := user == nil
	stillIn := func() (now *domain.User, fresh *domain.LiveSession, ok bool) {
		if phone {
			fresh, err := l.db.LiveSession(ctx, ls.ID)
			if err != nil {
				return nil, nil, !errors.Is(err, domain.ErrNotFound)
			}
			return nil, fresh, fresh.TokenHash == ls.TokenHash
		}
		s, err := sessionNow(c, l.db)
		if err != nil {
			return nil, nil, !errors.Is(err, domain.ErrNotFound)
		}
		return s.User, nil, true
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		l.writeRoom(ctx, conn, m, func() bool { _, _, ok := stillIn(); return !ok })
	}()
	defer func() {
		room.Leave(m)
		room.Send(encode(map[string]any{"type": "presence", "members": room.Members()}))
		cancel()
		<-writerDone
		if user != nil {
			l.svc.StopTalking(ls.ID, user.ID)
		}
	}()
	// A page that reconnects or reloads gets the notes made so far.
	notes, err := l.db.ListLiveAnnotations(ctx, ls.ID)
	if err != nil {
		l.log.Error("live room: list notes", "session", ls.ID, "err", err)
		notes = nil
	}
	hello := map[string]any{"type": "hello", "you": who, "members": room.Members(), "session": l.show(ls), "annotations": notes}
	l.guidedHello(ctx, ls, cs, hello)
	room.SendTo(m, encode(hello))
	room.SendTo(m, encode(l.svc.StateMessage(ls)))
	room.Send(encode(map[string]any{"type": "presence", "members": room.Members()}))
	// One allowance per member in the room, however many connections
	// they open to it (TestRoomRateSharedAcrossConnections).
	bucket, release := l.allowances.take(ls.ID + "/" + who.ID)
	defer release()
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return nil // closed, too big (1009, sent by the library) or gone
		}
		if !bucket.allow(time.Now()) {
			room.SendTo(m, roomError("rate_limited", "too many messages; wait a moment"))
			continue
		}
		if typ != websocket.MessageText {
			room.SendTo(m, roomError("invalid", "send JSON text messages"))
			continue
		}
		now, fresh, ok := stillIn()
		if !ok {
			conn.Close(websocket.StatusPolicyViolation, "the session or join link has ended")
			return nil
		}
		if now == nil {
			now = user // the phone, or a session not read just now
		}
		l.roomMessage(ctx, ls.ID, fresh, cs, now, m, room, data)
	}
}

// writeRoom sends m's queue to the connection until m leaves, a write
// stalls for 10 s or, at a ping, over says the member's session or join
// link ended.
func (l *liveService) writeRoom(ctx context.Context, conn *websocket.Conn, m *signaling.Member, over func() bool) {
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case msg := <-m.Out():
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Write(wctx, websocket.MessageText, msg)
			cancel()
			if err != nil {
				conn.CloseNow()
				return
			}
		case <-ping.C:
			if over() {
				conn.Close(websocket.StatusPolicyViolation, "the session or join link has ended")
				return
			}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				conn.CloseNow()
				return
			}
		case <-m.Gone():
			// Evicted (too slow) or the session ended: flush what is queued.
			for {
				select {
				case msg := <-m.Out():
					wctx, cancel := context.WithTimeout(ctx, time.Second)
					_ = conn.Write(wctx, websocket.MessageText, msg)
					cancel()
					continue
				default:
				}
				break
			}
			conn.Close(websocket.StatusGoingAway, "left the room")
			return
		case <-ctx.Done():
			conn.CloseNow()
			return
		}
	}
}

// roomMessage handles one client message; a bad one is answered with an
// error message and changes nothing. ls is the live session as read just
// before the message, or nil to read it here.
func (l *liveService) roomMessage(ctx context.Context, sessionID string, ls *domain.LiveSession, cs *domain.Case, user *domain.User, m *signaling.Member, room *signaling.Room, data []byte) {
	var msg roomMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(&msg)
	if err == nil {
		// dec.More() is false before a stray ']' or '}': only the end of
		// the message may follow the object.
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("data after the object")
		}
	}
	if err != nil {
		room.SendTo(m, roomError("invalid", "malformed message: send one JSON object with a type"))
		return
	}
	// As over HTTP (bindJSON): no text may hold a NUL.
	var te *domain.Error
	if errors.As(checkJSONText(data), &te) {
		room.SendTo(m, roomError(te.Code, te.Message))
		return
	}
	fail := func(err error) {
		code, text := "internal", "internal error"
		var se *domain.Error
		var he *httpError
		if !errors.As(err, &se) && !errors.As(err, &he) {
			// A dependency's failure: logged with its cause and answered
			// with the code HTTP gives it (database_unavailable, …).
			l.log.Error("live room", "session", sessionID, "type", msg.Type, "err", err)
			err = storage.Classify(err)
		}
		switch {
		case errors.As(err, &se):
			code, text = "invalid", se.Message
			for _, k := range errorKinds {
				if errors.Is(err, k.kind) {
					code = k.code
				}
			}
			if se.Code != "" {
				code = se.Code
			}
		case errors.As(err, &he):
			code, text = he.code, he.message
		}
		room.SendTo(m, roomError(code, text))
	}
	if ls == nil {
		var err error
		if ls, err = l.db.LiveSession(ctx, sessionID); err != nil {
			fail(err)
			return
		}
	}
	officer := false
	if user != nil {
		// The case as it is now, not as it was when the user joined: an
		// officer an admin replaced meanwhile takes no more snapshots,
		// stills or talk-back (notes are checked again when stored).
		now, err := l.db.Case(ctx, cs.ID)
		if err != nil {
			fail(err)
			return
		}
		cs = now
		officer = liveOfficer(user, cs)
	}
	switch msg.Type {
	case "ping":
		room.SendTo(m, encode(map[string]string{"type": "pong"}))
	case "instruction":
		at := l.svc.RecordingMS(ls.ID)
		actor := ""
		if user != nil {
			actor = user.ID
		}
		text, err := l.db.RecordLiveInstruction(ctx, ls, actor, msg.Text, at)
		if err != nil {
			fail(err)
			return
		}
		room.Send(encode(map[string]any{"type": "instruction", "from": m.Presence, "text": text,
			"at": time.Now().UTC().Format(time.RFC3339Nano), "recording_ms": at}))
	case "annotation":
		if !officer {
			fail(newError(http.StatusForbidden, "only the case's officers annotate"))
			return
		}
		in := domain.AnnotationInput{Body: msg.Body, ChecklistItem: msg.ChecklistItem, Severity: msg.Severity, Shape: msg.Shape}
		la, err := l.db.AddLiveAnnotation(ctx, cs, ls, user, in, l.svc.RecordingMS(ls.ID))
		if err != nil {
			fail(err)
			return
		}
		room.Send(encode(map[string]any{"type": "annotation", "annotation": la}))
	case "snapshot":
		if !officer {
			fail(newError(http.StatusForbidden, "only the case's officers take snapshots"))
			return
		}
		go func() {
			sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if _, err := l.svc.Snapshot(sctx, ls, user); err != nil {
				fail(signalingError(err, http.StatusConflict))
			}
		}()
	case "talk":
		if !officer || msg.On == nil {
			fail(newError(http.StatusBadRequest, "talk needs an officer, on and viewer"))
			return
		}
		rid := ""
		if *msg.On {
			if !l.svc.IsViewer(msg.Viewer, ls.ID, user.ID) {
				fail(newError(http.StatusNotFound, "viewer must name your own WHEP resource in this session"))
				return
			}
			rid = msg.Viewer
		}
		if err := l.svc.SetTalker(ls.ID, rid); err != nil {
			fail(signalingError(err, http.StatusConflict))
			return
		}
		room.Send(encode(map[string]any{"type": "talk", "from": m.Presence, "on": *msg.On}))
	case "shot", "position", "take_still", "still":
		l.guidedMessage(ctx, ls, cs, user, officer, m, room, msg, fail)
	default:
		fail(newError(http.StatusBadRequest, "unknown message type: use instruction, annotation, snapshot, talk, shot, position, take_still, still or ping"))
	}
}

// checkWebSocketRequest refuses, in the API's JSON, the requests that
// websocket.Accept would refuse in plain text: one that asks for no
// WebSocket (426 websocket_required) and one sent from a page of another
// origin (403 origin_not_allowed; Accept's own rule: the Origin's host is
// the request's Host).
func checkWebSocketRequest(r *http.Request) error {
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		return newCodedError(http.StatusUpgradeRequired, "websocket_required", "this address is a WebSocket: connect with Connection: Upgrade and Upgrade: websocket")
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return newCodedError(http.StatusForbidden, "origin_not_allowed", "a page of another site may not open this live room")
		}
	}
	return nil
}

// headerHasToken says whether the comma-separated header name holds token,
// in any case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
