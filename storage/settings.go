package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"siteinspect/domain"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// settingsCacheTTL bounds how long a replica serves the office's settings
// from memory. A change through this DB drops them at once here and, by
// the session channel's "*" (peers.go), on the other replicas; the TTL
// bounds what a lost notification leaves stale.
const settingsCacheTTL = 2 * time.Second

// settingsCache is the office settings rows last read, per office.
type settingsCache struct {
	mu   sync.Mutex
	rows map[string]cachedSettings
}

type cachedSettings struct {
	s     domain.OfficeSettings
	until time.Time
}

func (c *settingsCache) get(office string) (domain.OfficeSettings, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.rows[office]
	if !ok || time.Now().After(e.until) {
		return domain.OfficeSettings{}, false
	}
	return e.s, true
}

func (c *settingsCache) put(s domain.OfficeSettings) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rows == nil {
		c.rows = map[string]cachedSettings{}
	}
	c.rows[s.Office] = cachedSettings{s: s, until: time.Now().Add(settingsCacheTTL)}
}

func (c *settingsCache) drop() {
	c.mu.Lock()
	c.rows = nil
	c.mu.Unlock()
}

// OfficeSettings returns what an admin set of office's settings; zero
// fields (no row at all before the first change) leave the flags in force.
func (d *DB) OfficeSettings(ctx context.Context, office string) (domain.OfficeSettings, error) {
	if s, ok := d.cache.settings.get(office); ok {
		return s, nil
	}
	s := domain.OfficeSettings{Office: office}
	var updated int64
	err := d.queryRow(ctx, `SELECT name_zh, name_en, timezone, retention_days, updated_at, updated_by FROM office_settings WHERE office = ?`, office).
		Scan(&s.NameZh, &s.NameEn, &s.Timezone, &s.RetentionDays, &updated, &s.UpdatedBy)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return s, fmt.Errorf("office settings: %w", err)
	default:
		t := time.UnixMilli(updated).UTC()
		s.UpdatedAt = &t
	}
	d.cache.settings.put(s)
	return s, nil
}

// MaxRetentionDays is the longest default retention an admin may set.
const MaxRetentionDays = 36500

// SaveOfficeSettings is an admin changing the office's settings (audited
// "office.settings" with the fields before and after). It refuses
// bad_timezone for a name time.LoadLocation does not know and
// bad_retention outside 0 (the flag) to MaxRetentionDays. Every replica
// uses the new settings at once (or within settingsCacheTTL).
func (d *DB) SaveOfficeSettings(ctx context.Context, actor *domain.User, in domain.OfficeSettings) (domain.OfficeSettings, error) {
	in.NameZh, in.NameEn, in.Timezone = strings.TrimSpace(in.NameZh), strings.TrimSpace(in.NameEn), strings.TrimSpace(in.Timezone)
	if utf8.RuneCountInString(in.NameZh) > 200 || utf8.RuneCountInString(in.NameEn) > 200 {
		return in, domain.Coded(domain.ErrInvalid, "office_name_invalid", "the office's name has at most 200 characters")
	}
	if in.Timezone != "" {
		if _, err := time.LoadLocation(in.Timezone); err != nil || strings.EqualFold(in.Timezone, "local") {
			return in, domain.Coded(domain.ErrInvalid, domain.CodeBadTimezone, fmt.Sprintf("unknown time zone %q: want an IANA name such as Asia/Shanghai", in.Timezone))
		}
	}
	if in.RetentionDays < 0 || in.RetentionDays > MaxRetentionDays {
		return in, domain.Coded(domain.ErrInvalid, domain.CodeBadRetention, fmt.Sprintf("retention must be 1 to %d days (0 keeps the server's flag)", MaxRetentionDays))
	}
	d.cache.settings.drop()
	old, err := d.OfficeSettings(ctx, in.Office)
	if err != nil {
		return in, err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	err = d.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE office_settings SET name_zh = ?, name_en = ?, timezone = ?, retention_days = ?, updated_at = ?, updated_by = ? WHERE office = ?`,
			in.NameZh, in.NameEn, in.Timezone, in.RetentionDays, ms(now), actor.ID, in.Office)
		if err != nil {
			return fmt.Errorf("save office settings: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			_, err = tx.ExecContext(ctx, `INSERT INTO office_settings (office, name_zh, name_en, timezone, retention_days, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				in.Office, in.NameZh, in.NameEn, in.Timezone, in.RetentionDays, ms(now), actor.ID)
			if err != nil {
				return fmt.Errorf("save office settings: %w", err)
			}
		}
		fields := func(s domain.OfficeSettings) map[string]any {
			return map[string]any{"name_zh": s.NameZh, "name_en": s.NameEn, "timezone": s.Timezone, "retention_days": s.RetentionDays}
		}
		_, err = appendAudit(ctx, tx, now, Audit{ActorID: actor.ID, Action: "office.settings", Target: in.Office,
			Data: map[string]any{"before": fields(old), "after": fields(in)}})
		return err
	})
	if err != nil {
		return in, err
	}
	// Here and on every replica (the "*" of the session channel drops
	// the settings too).
	d.cache.dropSession("")
	return d.OfficeSettings(ctx, in.Office)
}
