package server

import (
	"context"
	"log/slog"
	"siteinspect/domain"
	"time"
)

// settingsReader is what the office's settings need from the records.
type settingsReader interface {
	// OfficeSettings returns what an admin set (zero fields: not set).
	OfficeSettings(ctx context.Context, office string) (domain.OfficeSettings, error)
}

// office is the office this server serves: its code, and its name, time
// zone and default retention as the flags give them unless an admin set
// them in the database (docs/ADMIN.md). Every request reads the current
// settings (the storage caches them for a moment and drops them when any
// replica changes them), so a change applies at once everywhere.
type office struct {
	code          string
	name          string
	loc           *time.Location
	retentionDays int
	db            settingsReader
	log           *slog.Logger
}

// officeView is the office's settings in force.
type officeView struct {
	Code          string
	NameZh        string
	NameEn        string
	Location      *time.Location
	RetentionDays int
	// Set is what an admin set (zero fields: the flag's value).
	Set domain.OfficeSettings
}

// current returns the settings in force. When the database cannot say,
// the flags' values serve (logged): a due date in the flag's zone beats
// no answer.
func (o *office) current(ctx context.Context) officeView {
	v := officeView{Code: o.code, NameZh: o.name, NameEn: o.name, Location: o.loc, RetentionDays: o.retentionDays}
	if o.db == nil {
		return v
	}
	s, err := o.db.OfficeSettings(ctx, o.code)
	if err != nil {
		o.log.Warn("office settings unreadable; the flags serve", "err", err)
		return v
	}
	v.Set = s
	if s.NameZh != "" {
		v.NameZh = s.NameZh
	}
	if s.NameEn != "" {
		v.NameEn = s.NameEn
	}
	if s.Timezone != "" {
		if loc, err := time.LoadLocation(s.Timezone); err == nil {
			v.Location = loc
		}
	}
	if s.RetentionDays > 0 {
		v.RetentionDays = s.RetentionDays
	}
	return v
}

// zoneFunc gives the office's time zone in force for a request.
type zoneFunc func(context.Context) *time.Location

// zone is the office's time zone now, for handlers that date things.
func (o *office) zone(ctx context.Context) *time.Location { return o.current(ctx).Location }
