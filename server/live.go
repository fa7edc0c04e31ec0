package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/pion/webrtc/v4"

	"siteinspect/domain"
	"siteinspect/live"
	"siteinspect/signaling"
)

// maxSDP bounds an SDP offer or trickle fragment; real offers are a few KiB.
const maxSDP = 64 << 10

// liveStore is what the live handlers need from the records: the
// sessions, their annotations and instructions, the case, the user a
// token belongs to, and the audit chain.
type liveStore interface {
	caseLoader
	sessionFinder
	auditRecorder
	CreateLiveSession(ctx context.Context, cs *domain.Case, by *domain.User, scheduledAt *time.Time, ttl time.Duration) (*domain.LiveSession, string, error)
	// ReissueLiveToken replaces an open session's publish token (the old
	// join link stops working); an ended session is ErrInvalidState.
	ReissueLiveToken(ctx context.Context, cs *domain.Case, ls *domain.LiveSession, by *domain.User, ttl time.Duration) (*domain.LiveSession, string, error)
	LiveSession(ctx context.Context, id string) (*domain.LiveSession, error)
	ListLiveSessions(ctx context.Context, caseID string) ([]*domain.LiveSession, error)
	CheckPublishToken(ls *domain.LiveSession, token string) error
	CheckUploadToken(ls *domain.LiveSession, token string, grace time.Duration) error
	MarkLivePublishing(ctx context.Context, ls *domain.LiveSession, codec string, reconnect bool) error
	ListLiveAnnotations(ctx context.Context, sessionID string) ([]*domain.LiveAnnotation, error)
	AddLiveAnnotation(ctx context.Context, cs *domain.Case, ls *domain.LiveSession, author *domain.User, in domain.AnnotationInput, recordingMS int64) (*domain.LiveAnnotation, error)
	RecordLiveInstruction(ctx context.Context, ls *domain.LiveSession, actorID, text string, recordingMS int64) (string, error)
	UserByID(ctx context.Context, id string) (*domain.User, error)
	CasePermitType(ctx context.Context, c *domain.Case) (*domain.PermitType, error)
	Evidence(ctx context.Context, id string) (*domain.Evidence, error)
	AddShotMark(ctx context.Context, cs *domain.Case, ls *domain.LiveSession, author *domain.User, item string, recordingMS int64) (*domain.LiveAnnotation, error)
	AddLivePosition(ctx context.Context, ls *domain.LiveSession, p domain.Position) (bool, error)
	LiveTrack(ctx context.Context, sessionID string) ([]domain.Position, error)
}

// liveService serves the live-inspection API: it maps requests onto the
// live service (package live) and its media (package signaling), and
// forwards a session's media requests to the replica that runs it.
type liveService struct {
	db      liveStore
	svc     *live.Service
	mgr     *signaling.Manager
	ups     tusStore
	metrics *metrics
	log     *slog.Logger
	notify  func()
	ice     []webrtc.ICEServer
	ttl     time.Duration
	// warnM is how far from the site the phone's track may go before the
	// inspector is warned (--location-warn-km).
	warnM float64
	// allowances are the members' message allowances per room, shared by
	// each member's connections to it (live_ws.go).
	allowances roomAllowances
	// offers bounds how often a session takes a publisher's offer
	// (admitOffer); viewerOffers how often it takes one officer's.
	offers       *addressLimiter
	viewerOffers *addressLimiter
}

// A live session takes offerBurst WHIP offers, then one every 1/offerRate
// seconds. Each offer makes a peer connection (ICE, DTLS, their goroutines
// and sockets) and, once media comes, a recording segment; the old
// publisher's close follows on its own. A phone whose network flaps
// connects again a few times a minute, backing off
// (web/static/views/live/rtc.js), while a client of one's own making, with
// the join link's token, could send offers without end and run the server
// out of them. Past the bound: 429 rate_limited with Retry-After, which
// rtc.js waits out like any failure worth retrying
// (TestLiveOffersRateLimited). Viewers' offers (WHEP) come from the case's
// officers, logged in; what they hold open at once is bounded by
// --live-max-viewers (signaling.Config.MaxViewers), and how often one
// officer offers to one session by viewerOfferBurst, then two a second:
// each offer is a peer connection's handshake and a live.watched audit
// row, and a loop of offer and DELETE was bounded by nothing (7,200 rows
// an hour at most now). The burst is twice the default viewer bound: the
// fan-out benchmark joins 1, 10, 50, 100 and 200 viewers in turn as one
// officer to one session, 361 offers in about a minute; an officer's page
// that reconnects never comes near it.
const (
	offerRate        = 0.5
	offerBurst       = 10
	viewerOfferRate  = 2
	viewerOfferBurst = 400
)

// admitOffer spends one of key's offers from lim, or answers 429.
func (l *liveService) admitOffer(c echo.Context, lim *addressLimiter, key string) error {
	if wait := lim.take(key, time.Now()); wait > 0 {
		secs := max(1, int(math.Ceil(wait.Seconds())))
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
		return newCodedError(http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("too many connection attempts to this live inspection; try again in %d seconds", secs))
	}
	return nil
}

func newLiveService(cfg Config, m *metrics, notify func()) *liveService {
	l := &liveService{db: cfg.DB, svc: cfg.Live, mgr: cfg.Live.Media(), ups: cfg.Uploads, metrics: m, log: cfg.Logger, notify: notify,
		ice: cfg.LiveICEServers, ttl: cfg.LiveTokenTTL, warnM: cfg.LocationWarnMeters, offers: newAddressLimiter(offerRate, offerBurst),
		viewerOffers: newAddressLimiter(viewerOfferRate, viewerOfferBurst)}
	if l.ttl <= 0 {
		l.ttl = 2 * time.Hour
	}
	return l
}

// liveJSON is a session as clients see it: never the token.
type liveJSON struct {
	*domain.LiveSession
	Publishing  bool            `json:"publishing"`
	Viewers     int             `json:"viewers"`
	RecordingMS int64           `json:"recording_ms"`
	VideoCodec  string          `json:"video_codec,omitempty"`
	PublishURL  string          `json:"publish_url"`
	JoinURL     string          `json:"join_url,omitempty"`
	Token       string          `json:"publish_token,omitempty"`
	ICEServers  []iceServerJSON `json:"ice_servers,omitempty"`
}

type iceServerJSON struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

func (l *liveService) show(ls *domain.LiveSession) liveJSON {
	out := liveJSON{LiveSession: ls, PublishURL: "/api/v1/live/" + ls.ID + "/whip"}
	if st, err := l.mgr.Status(ls.ID); err == nil {
		out.Publishing, out.Viewers, out.VideoCodec = st.Publishing, st.Viewers, st.VideoCodec
	}
	out.RecordingMS = l.svc.RecordingMS(ls.ID)
	return out
}

func (l *liveService) iceServers() []iceServerJSON {
	list := []iceServerJSON{}
	for _, s := range l.ice {
		cred, _ := s.Credential.(string)
		list = append(list, iceServerJSON{URLs: s.URLs, Username: s.Username, Credential: cred})
	}
	return list
}

// setLinks advertises the ICE servers (RFC 9725 §4.6).
func (l *liveService) setLinks(h http.Header) {
	for _, s := range l.ice {
		for _, u := range s.URLs {
			v := "<" + u + `>; rel="ice-server"`
			if cred, ok := s.Credential.(string); ok && s.Username != "" {
				v += fmt.Sprintf(`; username=%q; credential=%q; credential-type="password"`, s.Username, cred)
			}
			h.Add("Link", v)
		}
	}
}

// signalingError maps signaling's errors onto HTTP.
func signalingError(err error, noPublisher int) error {
	switch {
	case errors.Is(err, signaling.ErrNoMedia):
		return newCodedError(http.StatusBadRequest, "offer_no_media", "the offer has no audio or video media section: offer at least one audio or video track")
	case errors.Is(err, signaling.ErrBadSDP):
		return newError(http.StatusBadRequest, "malformed SDP: "+strings.TrimPrefix(err.Error(), signaling.ErrBadSDP.Error()+": "))
	case errors.Is(err, signaling.ErrNoCodec):
		return newError(http.StatusBadRequest, "the offer has no codec this server takes: send VP8 or H.264 (packetization-mode=1) video and/or Opus audio")
	case errors.Is(err, signaling.ErrICERestart):
		return newError(http.StatusUnprocessableEntity, "ICE restart is not supported: POST a new offer with the same token")
	case errors.Is(err, signaling.ErrNoPublisher):
		if noPublisher == http.StatusConflict {
			return newCodedError(http.StatusConflict, "no_publisher", "nobody is publishing in this live inspection yet")
		}
		return newError(noPublisher, "no such publisher resource")
	case errors.Is(err, signaling.ErrNoSession), errors.Is(err, signaling.ErrInvalidID):
		if noPublisher == http.StatusConflict {
			return newCodedError(http.StatusConflict, "no_publisher", "nobody is publishing in this live inspection yet")
		}
		return newError(http.StatusNotFound, "no media for this live inspection")
	case errors.Is(err, signaling.ErrNoViewer):
		return newError(http.StatusNotFound, "no such viewer resource")
	case errors.Is(err, signaling.ErrViewersFull):
		return newCodedError(http.StatusTooManyRequests, "live_viewers_full", "this live inspection has as many viewers as it takes (--live-max-viewers): close a viewer first")
	case errors.Is(err, signaling.ErrClosed):
		return newCodedError(http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
	}
	return err
}

// readSDP reads an SDP body of the given content type.
func readSDP(c echo.Context, contentType string) (string, error) {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if mt, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(mt), contentType) {
		return "", newError(http.StatusUnsupportedMediaType, "send Content-Type: "+contentType)
	}
	b, err := io.ReadAll(io.LimitReader(c.Request().Body, maxSDP+1))
	if err != nil {
		return "", newError(http.StatusBadRequest, "the request body broke off")
	}
	if len(b) > maxSDP {
		return "", newError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the SDP exceeds %d bytes", maxSDP))
	}
	return string(b), nil
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own message types are encoded
	}
	return b
}
