package storage

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"siteinspect/domain"
	"siteinspect/storage/objects"
)

// The join link a live invitation carries holds the session's publish
// token, which the database otherwise keeps only as a hash
// (live_sessions.token_hash): whoever reads the token can publish as the
// applicant's phone. The invitation's deliveries (the inbox, e-mail and
// SMS, sent later by jobs) need the link, so it is stored sealed: AES-256-GCM
// under a key that lives in the object store, not in the database, so that
// a copy of the database (a backup, a leak, a read through a hole) yields
// no usable link. Every replica reads the same key (NotifyKeyObject), made
// once by the first to start. The link is opened where the notification is
// read for its recipient (Notifications, Delivery), so the inbox and the
// messages are as before.

// NotifyKeyObject is the object holding the key that seals join links.
const NotifyKeyObject = "system/notify-key"

// sealedPrefix starts a sealed value: the format's version.
const sealedPrefix = "v1."

// joinLinkSealed is the notification data field holding the sealed join
// link; the read paths replace it with join_link.
const joinLinkSealed = "join_link_sealed"

// LoadNotifyKey reads the key that seals join links from objs, making it
// if there is none yet, and seals the links of invitations stored before
// there was one. Call it before serving. Replicas starting together make
// one key: each looks and writes under the start-up lock that the
// migrations and the catalogue's seeding take (LockMigrations).
func (d *DB) LoadNotifyKey(ctx context.Context, objs objects.ObjectStore) error {
	var key []byte
	err := d.tx(ctx, func(tx *wtx) error {
		if err := d.dialect.LockMigrations(ctx, tx.Tx); err != nil {
			return err
		}
		var err error
		if key, err = readNotifyKey(ctx, objs); errors.Is(err, domain.ErrNotFound) {
			key = make([]byte, 32)
			rand.Read(key)
			err = objs.Put(ctx, NotifyKeyObject, bytes.NewReader(key), int64(len(key)), "application/octet-stream")
		}
		if err != nil {
			return err
		}
		return sealStoredLinks(ctx, tx, key)
	})
	if err != nil {
		return fmt.Errorf("notification key: %w", err)
	}
	d.notifyKey = key
	return nil
}

// readNotifyKey reads the key object: ErrNotFound when there is none.
func readNotifyKey(ctx context.Context, objs objects.ObjectStore) ([]byte, error) {
	o, err := objs.Open(ctx, NotifyKeyObject)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	key, err := io.ReadAll(io.LimitReader(o, 64))
	if err != nil {
		return nil, err
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("%s holds %d bytes, want 32", NotifyKeyObject, len(key))
	}
	return key, nil
}

// sealStoredLinks seals the join links that invitations stored before
// there was a key hold in the clear.
func sealStoredLinks(ctx context.Context, tx *wtx, key []byte) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, data FROM notifications WHERE kind = ? AND data LIKE ?`, domain.NotifyLiveInvite, `%"join_link"%`)
	if err != nil {
		return err
	}
	type row struct{ id, data string }
	var plain []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.data); err != nil {
			rows.Close()
			return err
		}
		if strings.Contains(r.data, `"join_link"`) {
			plain = append(plain, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range plain {
		var data map[string]any
		if json.Unmarshal([]byte(r.data), &data) != nil {
			continue
		}
		link, _ := data["join_link"].(string)
		delete(data, "join_link")
		if link != "" {
			if err := sealInto(key, data, link); err != nil {
				return err
			}
		}
		b, err := json.Marshal(data)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE notifications SET data = ? WHERE id = ?`, string(b), r.id); err != nil {
			return err
		}
	}
	return nil
}

// seal encrypts plain under key: sealedPrefix, then the nonce and the
// ciphertext in URL-safe base64.
func seal(key []byte, plain string) (string, error) {
	aead, err := notifyAEAD(key)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	out := aead.Seal(nonce, nonce, []byte(plain), []byte(joinLinkSealed))
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// unseal opens what seal made under the same key.
func unseal(key []byte, sealed string) (string, error) {
	aead, err := notifyAEAD(key)
	if err != nil {
		return "", err
	}
	rest, ok := strings.CutPrefix(sealed, sealedPrefix)
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if !ok || err != nil || len(b) < aead.NonceSize() {
		return "", errors.New("not a sealed value")
	}
	plain, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], []byte(joinLinkSealed))
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

func notifyAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("no notification key (LoadNotifyKey)")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealLink puts link in data sealed, or in the clear on a database that
// has no key (one opened without LoadNotifyKey: tests of other things).
func (d *DB) sealLink(data map[string]any, link string) error {
	if d.notifyKey == nil {
		data["join_link"] = link
		return nil
	}
	return sealInto(d.notifyKey, data, link)
}

// sealInto puts link in data sealed under key (joinLinkSealed).
func sealInto(key []byte, data map[string]any, link string) error {
	sealed, err := seal(key, link)
	if err != nil {
		return err
	}
	data[joinLinkSealed] = sealed
	return nil
}

// openLinks is a notification's data with its sealed join link, if any,
// opened (join_link). A link that does not open (the key was lost with the
// object store) is left out, and the inbox and messages go without it.
func (d *DB) openLinks(data json.RawMessage) json.RawMessage {
	if !bytes.Contains(data, []byte(joinLinkSealed)) {
		return data
	}
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return data
	}
	sealed, _ := m[joinLinkSealed].(string)
	delete(m, joinLinkSealed)
	if link, err := unseal(d.notifyKey, sealed); err == nil {
		m["join_link"] = link
	} else {
		slog.Default().Warn("a live invitation's join link does not open", "err", err)
	}
	out, err := json.Marshal(m)
	if err != nil {
		return data
	}
	return out
}
