package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"siteinspect/domain"
	"strings"
	"time"
)

// notifyChannels is which delivery channels besides the inbox this database
// enqueues jobs for (EnableNotifyChannels).
type notifyChannels struct{ email, sms bool }

// EnableNotifyChannels makes the transactions that create notifications
// also enqueue their delivery by e-mail (--smtp-addr) and SMS
// (--sms-webhook), for recipients who gave that contact and want it.
// Call it before serving.
func (d *DB) EnableNotifyChannels(email, sms bool) { d.notify = notifyChannels{email: email, sms: sms} }

// notifyAudits turns the events recorded in tx that someone should hear of
// into notifications, in tx: a change and its notifications commit
// together, and a change that rolls back tells nobody.
func (d *DB) notifyAudits(ctx context.Context, tx *wtx) error {
	for _, e := range tx.audits {
		if !notifiable(e.Action) {
			continue
		}
		if err := d.notifyEvent(ctx, tx, e); err != nil {
			return fmt.Errorf("notify %s: %w", e.Action, err)
		}
	}
	return nil
}

func notifiable(action string) bool {
	switch action {
	case "case.status", "live.created", "owed.reminder", "followup.opened", "followup.closed":
		return true
	}
	return false
}

// caseParties is who a case concerns.
type caseParties struct {
	number, office, site           string
	applicant, inspector, reviewer string
}

func (d *DB) notifyEvent(ctx context.Context, tx *wtx, e *domain.AuditEvent) error {
	if e.CaseID == "" {
		return nil
	}
	var p caseParties
	var ins, rev sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT number, office, site_name, applicant_id, inspector_id, reviewer_id FROM cases WHERE id = ?`, e.CaseID).
		Scan(&p.number, &p.office, &p.site, &p.applicant, &ins, &rev)
	if err != nil {
		return fmt.Errorf("case %s: %w", e.CaseID, err)
	}
	p.inspector, p.reviewer = ins.String, rev.String
	var ev map[string]any
	if err := json.Unmarshal(e.Data, &ev); err != nil {
		ev = map[string]any{}
	}
	data := map[string]any{"case_number": p.number, "site_name": p.site}
	kind, to, self := "", []string{}, false
	switch e.Action {
	case "case.status":
		from, st := fmt.Sprint(ev["from"]), domain.Status(fmt.Sprint(ev["to"]))
		data["from"], data["to"] = from, string(st)
		switch {
		case st == domain.StatusSubmitted:
			// The applicant's own receipt, with the date to expect a decision by.
			kind, to, self = domain.NotifySubmitted, []string{p.applicant}, true
			if from == string(domain.StatusSupplementRequested) {
				to = append(to, p.inspector)
			}
			if v, ok := ev["due_at"]; ok {
				data["due_at"] = v
			}
		case st == domain.StatusInReview && from == string(domain.StatusSubmitted):
			kind, to = domain.NotifyClaimed, []string{p.applicant}
		case st == domain.StatusInReview:
			kind, to = domain.NotifyReturned, []string{p.inspector}
			data["comment"] = ev["comment"]
		case st == domain.StatusSupplementRequested:
			kind, to = domain.NotifySupplement, []string{p.applicant}
		case st == domain.StatusPendingCountersign:
			kind, to = domain.NotifyDecided, []string{p.applicant, p.reviewer}
			data["outcome"] = ev["outcome"]
		case st == domain.StatusApproved || st == domain.StatusRejected:
			kind, to = domain.NotifyCountersigned, []string{p.applicant, p.inspector}
		case st == domain.StatusWithdrawn:
			kind, to = domain.NotifyWithdrawn, []string{p.inspector}
		default:
			return nil
		}
	case "live.created":
		kind, to = domain.NotifyLiveInvite, []string{p.applicant}
		data["live_session"] = e.Target
		data["scheduled_at"] = ev["scheduled_at"]
		data["token_expires_at"] = ev["token_expires_at"]
		if tx.joinLink != "" {
			if err := d.sealLink(data, tx.joinLink); err != nil {
				return err
			}
		}
	case "owed.reminder":
		data["text"], data["due_at"], data["days_overdue"] = ev["text"], ev["due_at"], ev["days_overdue"]
		if err := d.addNotifications(ctx, tx, e, domain.NotifyOwedReminder, data, []string{p.applicant}, false); err != nil {
			return err
		}
		if first, _ := ev["first"].(bool); !first {
			return nil
		}
		// Escalation, once per item: the office's supervisors (the office
		// head's list) and the case's inspector.
		sup, err := officeSupervisors(ctx, d, tx, p.office)
		if err != nil {
			return err
		}
		return d.addNotifications(ctx, tx, e, domain.NotifyOwedEscalated, data, append(sup, p.inspector), false)
	case "followup.opened":
		// A dissatisfied rating: the office's supervisors follow it up.
		sup, err := officeSupervisors(ctx, d, tx, p.office)
		if err != nil {
			return err
		}
		kind, to = domain.NotifyFollowup, sup
		data["due_at"] = ev["due_at"]
	case "followup.closed":
		kind, to = domain.NotifyFollowupClosed, []string{p.applicant}
		data["outcome"] = ev["outcome"]
	}
	return d.addNotifications(ctx, tx, e, kind, data, to, self)
}

func officeSupervisors(ctx context.Context, d *DB, tx *wtx, office string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM users WHERE role = ? AND org = ? ORDER BY id`, string(domain.RoleSupervisor), office)
	if err != nil {
		return nil, fmt.Errorf("office supervisors: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// addNotifications writes one notification of kind per recipient (nobody
// twice, and not the person who acted unless self: a receipt) and enqueues
// its deliveries.
func (d *DB) addNotifications(ctx context.Context, tx *wtx, e *domain.AuditEvent, kind string, data map[string]any, to []string, self bool) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	if !self {
		seen[e.ActorID] = true
	}
	seen[""] = true
	for _, uid := range to {
		if seen[uid] {
			continue
		}
		seen[uid] = true
		var c domain.Contact
		err := tx.QueryRowContext(ctx, `SELECT email, phone, notify_email, notify_sms FROM users WHERE id = ?`, uid).
			Scan(&c.Email, &c.Phone, &c.NotifyEmail, &c.NotifySMS)
		if err != nil {
			return fmt.Errorf("recipient %s: %w", uid, err)
		}
		id := d.notificationID()
		if _, err := tx.ExecContext(ctx, `INSERT INTO notifications (id, user_id, case_id, kind, data, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			id, uid, nullString(e.CaseID), kind, string(b), ms(e.At)); err != nil {
			return fmt.Errorf("insert notification: %w", err)
		}
		if d.notify.email && c.Email != "" && c.NotifyEmail {
			if err := enqueueNotifyJob(ctx, d, tx, domain.JobNotifyEmail, id, e.At); err != nil {
				return err
			}
		}
		if d.notify.sms && c.Phone != "" && c.NotifySMS {
			if err := enqueueNotifyJob(ctx, d, tx, domain.JobNotifySMS, id, e.At); err != nil {
				return err
			}
		}
	}
	return nil
}

// notificationID is an id that sorts in the order notifications were
// written (nanoseconds of the real clock, never repeated in one process,
// then randomness): the inbox lists by created_at, whose milliseconds two
// changes in a row often share, and then by id.
func (d *DB) notificationID() string {
	n := time.Now().UnixNano()
	for {
		last := d.lastNotification.Load()
		if n <= last {
			n = last + 1
		}
		if d.lastNotification.CompareAndSwap(last, n) {
			break
		}
	}
	return fmt.Sprintf("%016x", n) + domain.NewID()[:10]
}

func enqueueNotifyJob(ctx context.Context, d *DB, tx *wtx, kind, notificationID string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, kind, notification_id, state, max_attempts, run_after, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		domain.NewID(), kind, notificationID, domain.JobQueued, domain.NotifyJobAttempts, ms(now), ms(now), ms(now))
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", kind, err)
	}
	return nil
}

const notificationColumns = `id, user_id, case_id, kind, data, created_at, read_at`

func scanNotification(row scanner) (*domain.Notification, error) {
	var n domain.Notification
	var caseID sql.NullString
	var data string
	var created int64
	var read sql.NullInt64
	if err := row.Scan(&n.ID, &n.UserID, &caseID, &n.Kind, &data, &created, &read); err != nil {
		return nil, err
	}
	n.CaseID, n.Data, n.CreatedAt, n.ReadAt = caseID.String, json.RawMessage(data), time.UnixMilli(created).UTC(), fromMS(read)
	return &n, nil
}

// Notifications returns userID's newest notifications (at most limit, those
// older than the one named before when it is not empty) and how many of
// all theirs are unread.
func (d *DB) Notifications(ctx context.Context, userID, before string, limit int) ([]*domain.Notification, int, error) {
	q, args := `SELECT `+notificationColumns+` FROM notifications WHERE user_id = ?`, []any{userID}
	if before != "" {
		var one int
		if err := d.queryRow(ctx, `SELECT 1 FROM notifications WHERE id = ? AND user_id = ?`, before, userID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return nil, 0, domain.Coded(domain.ErrInvalid, "bad_cursor", "before names no notification of yours; start from the first page")
		} else if err != nil {
			return nil, 0, fmt.Errorf("notifications: %w", err)
		}
		q += ` AND (created_at, id) < (SELECT created_at, id FROM notifications WHERE id = ? AND user_id = ?)`
		args = append(args, before, userID)
	}
	rows, err := d.query(ctx, q+` ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, 0, fmt.Errorf("notifications: %w", err)
	}
	defer rows.Close()
	out := []*domain.Notification{}
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("scan notification: %w", err)
		}
		n.Data = d.openLinks(n.Data)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("notifications: %w", err)
	}
	unread, err := d.UnreadNotifications(ctx, userID)
	return out, unread, err
}

// UnreadNotifications counts userID's unread notifications.
func (d *DB) UnreadNotifications(ctx context.Context, userID string) (int, error) {
	var n int
	if err := d.queryRow(ctx, `SELECT COUNT(*) FROM notifications WHERE user_id = ? AND read_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("unread notifications: %w", err)
	}
	return n, nil
}

// MarkNotificationsRead marks the named notifications of user read (all of
// theirs when ids is empty), audited, and returns how many changed. Others'
// notifications among ids are left alone.
func (d *DB) MarkNotificationsRead(ctx context.Context, user *domain.User, ids []string) (int, error) {
	now := d.now().UTC().Truncate(time.Millisecond)
	var n int64
	err := d.tx(ctx, func(tx *wtx) error {
		q, args := `UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL`, []any{ms(now), user.ID}
		if len(ids) > 0 {
			q += ` AND id IN (?` + strings.Repeat(", ?", len(ids)-1) + `)`
			for _, id := range ids {
				args = append(args, id)
			}
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ = res.RowsAffected(); n == 0 {
			return nil
		}
		data := map[string]any{"count": n}
		if len(ids) > 0 {
			data["ids"] = ids
		} else {
			data["all"] = true
		}
		_, err = appendAudit(ctx, tx, now, Audit{ActorID: user.ID, Action: "notification.read", Data: data})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("mark notifications read: %w", err)
	}
	return int(n), nil
}

// Contact returns how userID is reached outside the app, or ErrNotFound.
func (d *DB) Contact(ctx context.Context, userID string) (*domain.Contact, error) {
	var c domain.Contact
	err := d.queryRow(ctx, `SELECT email, phone, notify_email, notify_sms FROM users WHERE id = ?`, userID).
		Scan(&c.Email, &c.Phone, &c.NotifyEmail, &c.NotifySMS)
	if err != nil {
		return nil, notFound(err, "user "+userID)
	}
	return &c, nil
}

// SetContact validates and stores user's own contact and channel choices,
// audited (which fields changed, not their values: the chain is kept for
// years and shown to the office).
func (d *DB) SetContact(ctx context.Context, user *domain.User, c domain.Contact) (*domain.Contact, error) {
	if err := c.Normalize(); err != nil {
		return nil, err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	err := d.tx(ctx, func(tx *wtx) error {
		var old domain.Contact
		err := tx.QueryRowContext(ctx, `SELECT email, phone, notify_email, notify_sms FROM users WHERE id = ?`, user.ID).
			Scan(&old.Email, &old.Phone, &old.NotifyEmail, &old.NotifySMS)
		if err != nil {
			return notFound(err, "user "+user.ID)
		}
		if old == c {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET email = ?, phone = ?, notify_email = ?, notify_sms = ? WHERE id = ?`,
			c.Email, c.Phone, c.NotifyEmail, c.NotifySMS, user.ID); err != nil {
			return err
		}
		changed := []string{}
		for _, f := range []struct {
			name string
			diff bool
		}{{"email", old.Email != c.Email}, {"phone", old.Phone != c.Phone}, {"notify_email", old.NotifyEmail != c.NotifyEmail}, {"notify_sms", old.NotifySMS != c.NotifySMS}} {
			if f.diff {
				changed = append(changed, f.name)
			}
		}
		_, err = appendAudit(ctx, tx, now, Audit{ActorID: user.ID, Action: "user.contact_set", Target: user.ID, Data: map[string]any{"changed": changed}})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("set contact: %w", err)
	}
	return &c, nil
}

// Delivery returns what the job delivering notification id by channel
// needs, or ErrNotFound.
func (d *DB) Delivery(ctx context.Context, id, channel string) (*domain.Delivery, error) {
	col, err := sentColumn(channel)
	if err != nil {
		return nil, err
	}
	var del domain.Delivery
	var caseID, number sql.NullString
	var data string
	var created int64
	var read, sent sql.NullInt64
	n := &del.Notification
	err = d.queryRow(ctx, `SELECT n.id, n.user_id, n.case_id, n.kind, n.data, n.created_at, n.read_at, n.`+col+`, c.number,
			u.display_name, u.email, u.phone, u.notify_email, u.notify_sms
		FROM notifications n JOIN users u ON u.id = n.user_id LEFT JOIN cases c ON c.id = n.case_id WHERE n.id = ?`, id).
		Scan(&n.ID, &n.UserID, &caseID, &n.Kind, &data, &created, &read, &sent, &number,
			&del.Recipient, &del.Contact.Email, &del.Contact.Phone, &del.Contact.NotifyEmail, &del.Contact.NotifySMS)
	if err != nil {
		return nil, notFound(err, "notification "+id)
	}
	n.CaseID, n.Data, n.CreatedAt, n.ReadAt = caseID.String, d.openLinks(json.RawMessage(data)), time.UnixMilli(created).UTC(), fromMS(read)
	del.CaseNumber, del.SentAt = number.String, fromMS(sent)
	return &del, nil
}

// MarkDelivered records that notification id went out by channel. It
// returns ErrConflict when it had already been recorded (a job that ran
// twice).
func (d *DB) MarkDelivered(ctx context.Context, id, channel string) error {
	col, err := sentColumn(channel)
	if err != nil {
		return err
	}
	res, err := d.exec(ctx, `UPDATE notifications SET `+col+` = ? WHERE id = ? AND `+col+` IS NULL`, ms(d.now()), id)
	if err != nil {
		return fmt.Errorf("mark notification %s delivered: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return domain.Errorf(domain.ErrConflict, "notification "+id+" was already delivered by "+channel)
	}
	return nil
}

func sentColumn(channel string) (string, error) {
	switch channel {
	case domain.ChannelEmail:
		return "email_sent_at", nil
	case domain.ChannelSMS:
		return "sms_sent_at", nil
	}
	return "", errors.New("unknown notification channel " + channel)
}
