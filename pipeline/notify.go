package pipeline

import (
	"context"
	"errors"
	"time"

	"siteinspect/domain"
)

// NotificationRecords is what a delivery job reads and writes.
type NotificationRecords interface {
	// Delivery returns the notification, its case number and its
	// recipient's contact, or ErrNotFound.
	Delivery(ctx context.Context, id, channel string) (*domain.Delivery, error)
	// MarkDelivered records that the notification went out by channel;
	// ErrConflict when that was recorded already.
	MarkDelivered(ctx context.Context, id, channel string) error
}

// Notifier sends a notification by e-mail or SMS.
type Notifier interface {
	// Send delivers d by channel; an error with a Permanent() true method
	// is not retried.
	Send(ctx context.Context, channel string, d *domain.Delivery) error
}

// maxNotifyBackoff caps the wait between attempts at a delivery, so a
// message goes out soon after the mail server or gateway is back.
const maxNotifyBackoff = 10 * time.Minute

func channelOf(kind string) string {
	switch kind {
	case domain.JobNotifyEmail:
		return domain.ChannelEmail
	case domain.JobNotifySMS:
		return domain.ChannelSMS
	}
	return ""
}

// deliver sends a notification once: a delivery already recorded (a job
// that ran twice after a lost lease) is not sent again, nor one whose
// recipient has since removed that contact or turned the channel off.
func (w *Worker) deliver(ctx context.Context, job *domain.Job) error {
	channel := channelOf(job.Kind)
	if w.cfg.Notifier == nil || w.cfg.Notifications == nil {
		return permanentErr{errors.New("no notification channels configured")}
	}
	d, err := w.cfg.Notifications.Delivery(ctx, job.NotificationID, channel)
	if err != nil {
		return err
	}
	if d.SentAt != nil {
		return nil
	}
	to, wants := d.Contact.Email, d.Contact.NotifyEmail
	if channel == domain.ChannelSMS {
		to, wants = d.Contact.Phone, d.Contact.NotifySMS
	}
	if to == "" || !wants {
		w.cfg.Logger.Info("notification not sent: recipient's contact removed or channel off", "notification", d.Notification.ID, "channel", channel)
		return nil
	}
	if err := w.cfg.Notifier.Send(ctx, channel, d); err != nil {
		return err
	}
	if err := w.cfg.Notifications.MarkDelivered(context.WithoutCancel(ctx), d.Notification.ID, channel); err != nil && !errors.Is(err, domain.ErrConflict) {
		// Sent but not recorded: retrying would send it twice, which the
		// stable Message-ID / notification_id lets the far end drop.
		w.cfg.Logger.Error("notification sent but not recorded", "notification", d.Notification.ID, "channel", channel, "err", err)
	}
	return nil
}

// permanentErr is a delivery failure no retry mends.
type permanentErr struct{ error }

func (permanentErr) Permanent() bool { return true }

// finishDelivery records a delivery job's outcome: a passing failure (the
// mail server or gateway down) is retried with a doubling wait up to
// maxNotifyBackoff, until the job's attempts run out.
func (w *Worker) finishDelivery(ctx context.Context, job *domain.Job, err error, took time.Duration) {
	if err == nil {
		w.cfg.DB.FinishJob(ctx, job, w.owner, nil, false, 0)
		w.cfg.Logger.Info("notification delivered", "notification", job.NotificationID, "job", job.Kind, "took", took.Round(time.Millisecond))
		return
	}
	var p interface{ Permanent() bool }
	retry := !(errors.As(err, &p) && p.Permanent()) && !errors.Is(err, domain.ErrNotFound)
	backoff := min(w.cfg.NotifyRetry<<min(job.Attempts-1, 12), maxNotifyBackoff)
	state, _ := w.cfg.DB.FinishJob(ctx, job, w.owner, err, retry, backoff)
	w.cfg.Logger.Warn("notification not delivered", "notification", job.NotificationID, "job", job.Kind, "attempt", job.Attempts, "err", err, "next", state, "retry_in", backoff)
}
