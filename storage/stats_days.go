package storage

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// statsGrace is how long after midnight a day still counts as open: an
// event is stamped when its transaction starts writing and becomes
// visible when it commits, so one stamped 23:59:59.999 may appear a
// moment after midnight; a day is kept only once that moment is past.
const statsGrace = 5 * time.Minute

// statsDays are the tallies of the office days of [start, end) in loc: the
// closed days' (before today) from stats_days, those missing there counted
// from the chain once and kept, and the open days' (today, and any later)
// counted from the chain every time.
func (d *DB) statsDays(ctx context.Context, office string, loc *time.Location, start, end time.Time) (map[string]*statsDay, error) {
	now := d.now().Add(-statsGrace).In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	closedEnd := end
	if today.Before(closedEnd) {
		closedEnd = today
	}
	days := map[string]*statsDay{}
	if closedEnd.After(start) {
		kept, err := d.keptStatsDays(ctx, office, loc, start, closedEnd)
		if err != nil {
			return nil, err
		}
		var missing []time.Time
		for t := start; t.Before(closedEnd); t = nextDay(t, loc) {
			if day, ok := kept[t.Format(time.DateOnly)]; ok {
				days[t.Format(time.DateOnly)] = day
			} else {
				missing = append(missing, t)
			}
		}
		if len(missing) > 0 {
			// One scan from the first missing day to the last: the kept
			// days in between are counted again, cheaper than a scan each.
			counted, err := d.statsScan(ctx, office, loc, missing[0], nextDay(missing[len(missing)-1], loc))
			if err != nil {
				return nil, err
			}
			fresh := map[string]*statsDay{}
			for _, t := range missing {
				key := t.Format(time.DateOnly)
				day := counted[key]
				if day == nil {
					day = newStatsDay()
				}
				days[key], fresh[key] = day, day
			}
			if err := d.keepStatsDays(ctx, office, loc, fresh); err != nil {
				return nil, err
			}
		}
	}
	if end.After(closedEnd) {
		from := closedEnd
		if start.After(from) {
			from = start
		}
		counted, err := d.statsScan(ctx, office, loc, from, end)
		if err != nil {
			return nil, err
		}
		for key, day := range counted {
			days[key] = day
		}
	}
	return days, nil
}

// FillStatsDays keeps the tallies of the closed office days among the
// last days (today excluded) that are not kept yet, counting them from the
// chain a month at a time, oldest first, so that a year's figures read kept
// days only. A server runs it at start and then hourly; it is cheap when
// nothing is missing (the kept days' names are read, not their tallies).
// It returns how many days it kept.
//
// Replicas share the work: while one keeps the days, the others' calls
// return 0 at once, and the days it keeps are read by all.
func (d *DB) FillStatsDays(ctx context.Context, office string, loc *time.Location, days int) (int, error) {
	release, ok, err := d.dialect.TryTask(ctx, d.sql, "stats days "+office)
	if err != nil || !ok {
		return 0, err
	}
	defer release()
	now := d.now().Add(-statsGrace).In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	start := time.Date(now.Year(), now.Month(), now.Day()-days, 0, 0, 0, 0, loc)
	rows, err := d.query(ctx, `SELECT day FROM stats_days WHERE office = ? AND zone = ? AND day >= ? AND day < ?`,
		office, loc.String(), start.Format(time.DateOnly), today.Format(time.DateOnly))
	if err != nil {
		return 0, fmt.Errorf("kept stats days: %w", err)
	}
	kept := map[string]bool{}
	for rows.Next() {
		var day string
		if err := rows.Scan(&day); err != nil {
			rows.Close()
			return 0, fmt.Errorf("kept stats days: %w", err)
		}
		kept[day] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("kept stats days: %w", err)
	}
	var missing []time.Time
	for t := start; t.Before(today); t = nextDay(t, loc) {
		if !kept[t.Format(time.DateOnly)] {
			missing = append(missing, t)
		}
	}
	n := 0
	for len(missing) > 0 {
		// A month from the oldest missing day, each window one scan.
		limit := time.Date(missing[0].Year(), missing[0].Month(), missing[0].Day()+31, 0, 0, 0, 0, loc)
		i := 0
		for i < len(missing) && missing[i].Before(limit) {
			i++
		}
		window := missing[:i]
		missing = missing[i:]
		counted, err := d.statsScan(ctx, office, loc, window[0], nextDay(window[len(window)-1], loc))
		if err != nil {
			return n, err
		}
		fresh := map[string]*statsDay{}
		for _, t := range window {
			key := t.Format(time.DateOnly)
			fresh[key] = counted[key]
			if fresh[key] == nil {
				fresh[key] = newStatsDay()
			}
		}
		if err := d.keepStatsDays(ctx, office, loc, fresh); err != nil {
			return n, err
		}
		n += len(window)
	}
	return n, nil
}

// nextDay is the midnight in loc after the day of t's midnight.
func nextDay(t time.Time, loc *time.Location) time.Time {
	y, m, dd := t.In(loc).Date()
	return time.Date(y, m, dd+1, 0, 0, 0, 0, loc)
}

// keptStatsDays reads the kept tallies of the closed days of [start, end).
func (d *DB) keptStatsDays(ctx context.Context, office string, loc *time.Location, start, end time.Time) (map[string]*statsDay, error) {
	rows, err := d.query(ctx, `SELECT day, tallies FROM stats_days WHERE office = ? AND zone = ? AND day >= ? AND day < ?`,
		office, loc.String(), start.Format(time.DateOnly), end.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("kept stats days: %w", err)
	}
	defer rows.Close()
	out := map[string]*statsDay{}
	for rows.Next() {
		var key string
		var data []byte
		if err := rows.Scan(&key, &data); err != nil {
			return nil, fmt.Errorf("kept stats days: %w", err)
		}
		day := newStatsDay()
		if err := json.Unmarshal(data, day); err != nil {
			return nil, fmt.Errorf("kept stats day %s: %w", key, err)
		}
		if day.Total == nil {
			day.Total = &statsTally{}
		}
		out[key] = day
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("kept stats days: %w", err)
	}
	return out, nil
}

// keepStatsDays stores the tallies of closed days. Two replicas counting
// the same day count the same events, so the first row written stays.
func (d *DB) keepStatsDays(ctx context.Context, office string, loc *time.Location, days map[string]*statsDay) error {
	const batch = 100
	var marks []string
	var args []any
	flush := func() error {
		if len(marks) == 0 {
			return nil
		}
		_, err := d.exec(ctx, `INSERT INTO stats_days (office, zone, day, tallies, computed_at) VALUES `+strings.Join(marks, ", ")+
			` ON CONFLICT (office, zone, day) DO NOTHING`, args...)
		marks, args = marks[:0], args[:0]
		if err != nil {
			return fmt.Errorf("keep stats days: %w", err)
		}
		return nil
	}
	now := ms(d.now())
	for key, day := range days {
		data, err := json.Marshal(day)
		if err != nil {
			return fmt.Errorf("keep stats day %s: %w", key, err)
		}
		marks = append(marks, "(?, ?, ?, ?, ?)")
		args = append(args, office, loc.String(), key, string(data), now)
		if len(marks) == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// msList are durations in milliseconds. In JSON it is one string, the
// base64 of the values as zig-zag varints: a year of kept days holds some
// 300,000 durations, which as JSON numbers took most of a year's figures'
// time to decode.
type msList []int64

// MarshalJSON writes l as the base64 of its varints.
func (l msList) MarshalJSON() ([]byte, error) {
	buf := make([]byte, 0, len(l)*4)
	for _, v := range l {
		buf = binary.AppendVarint(buf, v)
	}
	return json.Marshal(buf)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (l *msList) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*l = nil
		return nil
	}
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return fmt.Errorf("durations: not a string")
	}
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(data)-2))
	n, err := base64.StdEncoding.Decode(raw, data[1:len(data)-1])
	if err != nil {
		return fmt.Errorf("durations: %w", err)
	}
	raw = raw[:n]
	out := make(msList, 0, n/3)
	for len(raw) > 0 {
		v, k := binary.Varint(raw)
		if k <= 0 {
			return fmt.Errorf("durations: a broken varint")
		}
		out = append(out, v)
		raw = raw[k:]
	}
	*l = out
	return nil
}
