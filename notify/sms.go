package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// SignatureHeader carries the webhook body's HMAC-SHA256 under the shared
// secret, as "sha256=" and lower-case hex (docs/NOTIFICATIONS.md).
const SignatureHeader = "X-Siteinspect-Signature"

// SMSRequest is the JSON body the SMS webhook receives.
type SMSRequest struct {
	// To is the recipient's phone number as they gave it (digits, maybe a
	// leading +).
	To string `json:"to"`
	// Text is the message, Chinese then English.
	Text string `json:"text"`
	// NotificationID is the same on every attempt at one message: a gateway
	// that saw it already should answer 2xx and not send it again.
	NotificationID string `json:"notification_id"`
}

// Webhook posts SMS requests to the office's gateway, an HTTP endpoint
// that forwards them to its SMS provider.
type Webhook struct {
	url    string
	secret []byte
	client *http.Client
}

// NewWebhook checks the gateway's URL. secret signs every body; empty
// sends no signature (not advised: anyone could then post SMS requests
// that look like ours).
func NewWebhook(rawURL, secret string, client *http.Client) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sms webhook %q is not an http(s) URL", rawURL)
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Webhook{url: rawURL, secret: []byte(secret), client: client}, nil
}

// Sign returns the signature header's value for body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Send posts one request. A 2xx answer is success; 408, 429 and 5xx (and
// no answer) may pass and are retried; any other answer is permanent.
func (w *Webhook) Send(ctx context.Context, r SMSRequest) error {
	body, err := json.Marshal(r)
	if err != nil {
		return Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", r.NotificationID)
	if len(w.secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(w.secret, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("sms webhook: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return fmt.Errorf("sms webhook answered %s: %s", resp.Status, msg)
	}
	return Permanent(fmt.Errorf("sms webhook answered %s: %s", resp.Status, msg))
}

// permanent is a failure that no retry can mend.
type permanent struct{ err error }

func (p permanent) Error() string   { return p.err.Error() }
func (p permanent) Unwrap() error   { return p.err }
func (p permanent) Permanent() bool { return true }

// Permanent marks err as one no retry can mend (a refused address, a
// gateway that rejects the request): the delivery job gives up at once.
func Permanent(err error) error { return permanent{err} }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}
