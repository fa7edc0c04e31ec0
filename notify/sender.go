package notify

import (
	"context"
	"errors"
	"time"

	"siteinspect/domain"
)

// ErrChannelOff fails a delivery job for a channel this process has no
// configuration for (its job was queued by a process that had).
var ErrChannelOff = errors.New("notification channel not configured")

// Sender words deliveries and sends them by the configured channels.
type Sender struct {
	// Mail sends e-mail; nil when --smtp-addr is not set.
	Mail *Mailer
	// SMS posts to the SMS gateway; nil when --sms-webhook is not set.
	SMS *Webhook
	// Location is the office's zone, in which times are written.
	Location *time.Location
	// PublicURL makes links absolute (--public-url); may be empty.
	PublicURL string
}

// Channels reports which channels are configured.
func (s *Sender) Channels() (email, sms bool) { return s.Mail != nil, s.SMS != nil }

// Words is what n says in each language, as its e-mail says it (the
// inbox shows it).
func (s *Sender) Words(n *domain.Notification) domain.Text {
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	return Render(&domain.Delivery{Notification: *n}, loc, s.PublicURL).Text
}

// Send delivers d by channel. A failure marked Permanent (see IsPermanent)
// is not worth retrying.
func (s *Sender) Send(ctx context.Context, channel string, d *domain.Delivery) error {
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	m := Render(d, loc, s.PublicURL)
	switch channel {
	case domain.ChannelEmail:
		if s.Mail == nil {
			return Permanent(ErrChannelOff)
		}
		return s.Mail.Send(ctx, d.Contact.Email, m.Subject, m.Body, d.Notification.ID+".email@siteinspect")
	case domain.ChannelSMS:
		if s.SMS == nil {
			return Permanent(ErrChannelOff)
		}
		return s.SMS.Send(ctx, SMSRequest{To: d.Contact.Phone, Text: m.SMS, NotificationID: d.Notification.ID})
	}
	return Permanent(errors.New("unknown channel " + channel))
}
