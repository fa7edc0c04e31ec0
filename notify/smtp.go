package notify

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// MailConfig is how the office's mail server is reached.
type MailConfig struct {
	// Addr is the SMTP server, host:port (--smtp-addr). Port 587 with
	// STARTTLS is the usual submission port; 25 is for a relay on the
	// office's own network.
	Addr string
	// From is the sender address (--smtp-from), e.g. noreply@permits.example.gov.
	From string
	// Username and Password authenticate with AUTH PLAIN when Username is
	// set. net/smtp refuses to send them over a connection that is neither
	// TLS nor to localhost.
	Username, Password string
	// StartTLS requires the server to offer STARTTLS (--smtp-starttls);
	// without it, STARTTLS is still used whenever the server offers it.
	StartTLS bool
	// TLSConfig verifies the server's certificate; nil uses the system
	// roots and the host of Addr.
	TLSConfig *tls.Config
	// Timeout bounds one whole delivery (dial to QUIT); zero is 30 s.
	Timeout time.Duration
}

// Mailer sends plain-text e-mail over SMTP, one connection per message:
// notifications are few, and a fresh connection never meets a server that
// dropped an idle one.
type Mailer struct{ cfg MailConfig }

// NewMailer checks cfg.
func NewMailer(cfg MailConfig) (*Mailer, error) {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("smtp address %q: %w", cfg.Addr, err)
	}
	if !strings.Contains(cfg.From, "@") || strings.ContainsAny(cfg.From, "\r\n<>") {
		return nil, fmt.Errorf("smtp sender %q is not an e-mail address", cfg.From)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Mailer{cfg: cfg}, nil
}

// Send delivers one message to to. messageID (without angle brackets) is
// the Message-ID header: the same for every attempt at one notification,
// so a mail system that saw an attempt whose answer was lost may drop the
// repeat. An address the server refuses (5xx) is a permanent failure.
func (m *Mailer) Send(ctx context.Context, to, subject, body, messageID string) error {
	if strings.ContainsAny(to, "\r\n<>") {
		return Permanent(fmt.Errorf("recipient %q is not an e-mail address", to))
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", m.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp dial %s: %w", m.cfg.Addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	host, _, _ := net.SplitHostPort(m.cfg.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("smtp greeting: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		tc := m.cfg.TLSConfig
		if tc == nil {
			tc = &tls.Config{ServerName: host}
		}
		if err := c.StartTLS(tc); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	} else if m.cfg.StartTLS {
		return fmt.Errorf("smtp server %s does not offer STARTTLS, which --smtp-starttls requires", m.cfg.Addr)
	}
	if m.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.cfg.Username, m.cfg.Password, host)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := c.Mail(m.cfg.From); err != nil {
		return classify("smtp MAIL FROM", err)
	}
	if err := c.Rcpt(to); err != nil {
		return classify("smtp RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return classify("smtp DATA", err)
	}
	if _, err := w.Write(compose(m.cfg.From, to, subject, body, messageID, time.Now())); err != nil {
		return fmt.Errorf("smtp write: %w", err)
	}
	if err := w.Close(); err != nil {
		return classify("smtp end of data", err)
	}
	c.Quit() // the message is accepted; a lost QUIT changes nothing
	return nil
}

// classify makes a 5xx reply (RFC 5321 §4.2.1: permanent negative
// completion) a permanent failure; anything else may pass.
func classify(what string, err error) error {
	err = fmt.Errorf("%s: %w", what, err)
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return Permanent(err)
	}
	return err
}

// compose writes an RFC 5322 message: UTF-8 subject as an RFC 2047 word,
// the body base64 in UTF-8 (Chinese text passes any 7-bit relay).
func compose(from, to, subject, body, messageID string, now time.Time) []byte {
	var b strings.Builder
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", from)
	h("To", to)
	h("Subject", mime.BEncoding.Encode("UTF-8", subject))
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", "<"+messageID+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=UTF-8")
	h("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(strings.ReplaceAll(body, "\n", "\r\n")))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return []byte(b.String())
}
