package main

import (
	"flag"
	"fmt"
	"time"

	"siteinspect/notify"
)

// notifyFlags configure the notification channels besides the in-app
// inbox (docs/NOTIFICATIONS.md).
type notifyFlags struct {
	smtpAddr, smtpFrom, smtpUser, smtpPassword string
	smtpStartTLS                               bool
	smsURL, smsSecret                          string
	retry                                      time.Duration
}

func (nf *notifyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&nf.smtpAddr, "smtp-addr", "", "SMTP server host:port for e-mail notifications; empty sends none")
	fs.StringVar(&nf.smtpFrom, "smtp-from", "", "sender address of e-mail notifications (required with --smtp-addr)")
	fs.StringVar(&nf.smtpUser, "smtp-user", "", "SMTP AUTH PLAIN user name; empty does not authenticate")
	fs.StringVar(&nf.smtpPassword, "smtp-password", "", "SMTP password (better: SITEINSPECT_SMTP_PASSWORD)")
	fs.BoolVar(&nf.smtpStartTLS, "smtp-starttls", false, "refuse to send unless the SMTP server offers STARTTLS (it is used whenever offered)")
	fs.StringVar(&nf.smsURL, "sms-webhook", "", "URL of the office's SMS gateway, which receives POSTs of {to, text, notification_id}; empty sends no SMS")
	fs.DurationVar(&nf.retry, "notify-retry", 10*time.Second, "wait before a failed e-mail or SMS is tried again; it doubles with each attempt, up to ten minutes, for about five hours")
	fs.StringVar(&nf.smsSecret, "sms-webhook-secret", "", "key of the HMAC-SHA256 signature over each SMS webhook body (better: SITEINSPECT_SMS_WEBHOOK_SECRET)")
}

// sender builds the channels that were configured.
func (nf *notifyFlags) sender(loc *time.Location, publicURL string) (*notify.Sender, error) {
	s := &notify.Sender{Location: loc, PublicURL: publicURL}
	if nf.smtpAddr != "" {
		m, err := notify.NewMailer(notify.MailConfig{Addr: nf.smtpAddr, From: nf.smtpFrom, Username: nf.smtpUser,
			Password: nf.smtpPassword, StartTLS: nf.smtpStartTLS})
		if err != nil {
			return nil, fmt.Errorf("--smtp-addr/--smtp-from: %w", err)
		}
		s.Mail = m
	} else if nf.smtpFrom != "" || nf.smtpUser != "" {
		return nil, fmt.Errorf("--smtp-from and --smtp-user need --smtp-addr")
	}
	if nf.smsURL != "" {
		w, err := notify.NewWebhook(nf.smsURL, nf.smsSecret, nil)
		if err != nil {
			return nil, fmt.Errorf("--sms-webhook: %w", err)
		}
		s.SMS = w
	} else if nf.smsSecret != "" {
		return nil, fmt.Errorf("--sms-webhook-secret needs --sms-webhook")
	}
	return s, nil
}
