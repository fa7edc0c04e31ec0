package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
)

// notificationStore is what the inbox and contact routes need.
type notificationStore interface {
	sessionFinder
	// Notifications returns the user's newest notifications (older than
	// before when set) and their unread count.
	Notifications(ctx context.Context, userID, before string, limit int) ([]*domain.Notification, int, error)
	// UnreadNotifications counts the user's unread notifications.
	UnreadNotifications(ctx context.Context, userID string) (int, error)
	// MarkNotificationsRead marks the user's named notifications (all when
	// ids is empty) read and returns how many changed.
	MarkNotificationsRead(ctx context.Context, user *domain.User, ids []string) (int, error)
	// Contact returns the user's e-mail, phone and channel choices, or
	// ErrNotFound.
	Contact(ctx context.Context, userID string) (*domain.Contact, error)
	// SetContact stores the user's own contact; ErrInvalid (coded) for a
	// malformed address or number.
	SetContact(ctx context.Context, user *domain.User, c domain.Contact) (*domain.Contact, error)
	// Changed is closed at the next committed change.
	Changed() <-chan struct{}
}

// NotificationWords words a notification in both languages (notify.Sender).
type NotificationWords interface {
	// Words is what n says, with times in the office's zone.
	Words(n *domain.Notification) domain.Text
}

// inbox is a page of the caller's notifications.
type inbox struct {
	Items  []*domain.Notification `json:"items"`
	Unread int                    `json:"unread"`
}

// handleListNotifications is the caller's own inbox, newest first
// (?before=ID pages on, ?limit= up to 100).
func handleListNotifications(db notificationStore, words NotificationWords) echo.HandlerFunc {
	return func(c echo.Context) error {
		limit, err := queryLimit(c, 30, 100)
		if err != nil {
			return err
		}
		items, unread, err := db.Notifications(c.Request().Context(), currentUser(c).ID, c.QueryParam("before"), limit)
		if err != nil {
			return err
		}
		if words != nil {
			for _, n := range items {
				w := words.Words(n)
				n.Text = &w
			}
		}
		return c.JSON(http.StatusOK, inbox{Items: items, Unread: unread})
	}
}

// handleReadNotifications marks the caller's notifications read: those
// named ({"ids": [...]}) or all ({"all": true}).
func handleReadNotifications(db notificationStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req struct {
			IDs []string `json:"ids"`
			All bool     `json:"all"`
		}
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		if len(req.IDs) == 0 && !req.All || len(req.IDs) > 0 && req.All || len(req.IDs) > 500 {
			return newCodedError(http.StatusBadRequest, "notification_ids_missing", "name the notifications read (ids, at most 500) or send all: true")
		}
		ctx, u := c.Request().Context(), currentUser(c)
		n, err := db.MarkNotificationsRead(ctx, u, req.IDs)
		if err != nil {
			return err
		}
		unread, err := db.UnreadNotifications(ctx, u.ID)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]int{"marked": n, "unread": unread})
	}
}

// notificationRecount is the least time between two counts of one
// stream's unread notifications: the badge follows within it.
const notificationRecount = 300 * time.Millisecond

// handleNotificationEvents streams the caller's unread count as Server-Sent
// Events ("notification", {"unread": n}): once at the start and whenever it
// changes, so the header's badge follows without polling.
func handleNotificationEvents(db notificationStore, ending <-chan struct{}) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		w := c.Response()
		w.Header().Set(echo.HeaderContentType, "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "retry: 2000\n\n")
		w.Flush()
		ctx := c.Request().Context()
		heartbeat := time.NewTicker(15 * time.Second)
		defer heartbeat.Stop()
		last := -1
		var counted time.Time
		for {
			// Every write to the database signals a change; a burst of
			// them (an inspector's notes, an import) is counted at most
			// once per notificationRecount for each open badge.
			if wait := notificationRecount - time.Since(counted); wait > 0 {
				pause := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					pause.Stop()
					return nil
				case <-ending:
					pause.Stop()
					return nil
				case <-pause.C:
				}
			}
			counted = time.Now()
			changed := db.Changed()
			n, err := db.UnreadNotifications(ctx, u.ID)
			if err != nil {
				return nil
			}
			if n != last {
				// The badge is the session's: one logged out (or whose
				// user was disabled) since the stream opened gets no more.
				if _, err := sessionNow(c, db); err != nil {
					return nil
				}
				last = n
				b, _ := json.Marshal(map[string]int{"unread": n})
				fmt.Fprintf(w, "event: notification\ndata: %s\n\n", b)
				w.Flush()
			}
			select {
			case <-ctx.Done():
				return nil
			case <-ending:
				return nil
			case <-changed:
			case <-heartbeat.C:
				if _, err := sessionNow(c, db); err != nil {
					return nil
				}
				fmt.Fprintf(w, ": keep-alive\n\n")
				w.Flush()
			}
		}
	}
}

// handleGetContact is the caller's own e-mail, phone and channel choices.
func handleGetContact(db notificationStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		ct, err := db.Contact(c.Request().Context(), currentUser(c).ID)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, ct)
	}
}

// handleSetContact sets the caller's own contact (the whole of it: the
// fields left out are cleared, and the channels default to on).
func handleSetContact(db notificationStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := domain.Contact{NotifyEmail: true, NotifySMS: true}
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		ct, err := db.SetContact(c.Request().Context(), currentUser(c), req)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, ct)
	}
}
