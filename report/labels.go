package report

import (
	"fmt"
	"time"
)

// labeler picks label text for the report's language.
type labeler string

// l returns zh, en or both, "检查项 Checklist", as the language asks.
func (lang labeler) l(zh, en string) string {
	switch lang {
	case "zh":
		return zh
	case "en":
		return en
	}
	return zh + " " + en
}

// pick looks key up in a table of {zh, en} labels; an unknown key is shown as is,
// so a value added later still prints.
func (lang labeler) pick(table map[string][2]string, key string) string {
	if v, ok := table[key]; ok {
		return lang.l(v[0], v[1])
	}
	return key
}

var statusLabels = map[string][2]string{
	"draft":                {"草稿", "Draft"},
	"submitted":            {"已提交", "Submitted"},
	"in_review":            {"审查中", "In review"},
	"supplement_requested": {"待补正", "Supplement requested"},
	"pending_countersign":  {"待复核", "Pending countersignature"},
	"approved":             {"已批准", "Approved"},
	"rejected":             {"不予批准", "Rejected"},
	"withdrawn":            {"已撤回", "Withdrawn"},
}

var resultLabels = map[string][2]string{
	"pass": {"合格", "Pass"},
	"fail": {"不合格", "Fail"},
	"na":   {"不适用", "N/A"},
	"":     {"未检查", "Not checked"},
}

var outcomeLabels = map[string][2]string{
	"approve":            {"批准", "Approve"},
	"reject":             {"不予批准", "Reject"},
	"request_supplement": {"要求补正", "Request supplement"},
}

var severityLabels = map[string][2]string{
	"info":      {"提示", "Info"},
	"concern":   {"关注", "Concern"},
	"violation": {"违规", "Violation"},
}

var kindLabels = map[string][2]string{
	"video":     {"视频", "Video"},
	"image":     {"照片", "Photo"},
	"pdf":       {"文档", "PDF"},
	"recording": {"直播录像", "Live recording"},
}

// resultColor is the badge colour of a checklist result.
func resultColor(result string) [3]uint8 {
	switch result {
	case "pass":
		return [3]uint8{0x1e, 0x8e, 0x3e}
	case "fail":
		return [3]uint8{0xd9, 0x30, 0x25}
	case "na":
		return [3]uint8{0x80, 0x86, 0x8b}
	}
	return [3]uint8{0xe3, 0x74, 0x00}
}

// stamp prints a time to the minute with its UTC offset; the zero time is "—".
func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Format("2006-01-02 15:04 -07:00")
}

// stampPtr is stamp for an optional time.
func stampPtr(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return stamp(*t)
}

// timeCode prints milliseconds as mm:ss.mmm, or h:mm:ss.mmm from an hour on.
func timeCode(ms int64) string {
	if ms < 0 {
		ms = 0
	}
	h, m, s, f := ms/3600000, ms/60000%60, ms/1000%60, ms%1000
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d.%03d", h, m, s, f)
	}
	return fmt.Sprintf("%02d:%02d.%03d", m, s, f)
}

// timeRange prints a moment or a range of a video; "" when there is no start.
func timeRange(start, end *int64) string {
	if start == nil {
		return ""
	}
	if end == nil || *end <= *start {
		return timeCode(*start)
	}
	return timeCode(*start) + "–" + timeCode(*end)
}

// byteSize prints a size in binary units with the exact byte count for small files.
func byteSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}

// extent prints a video's duration or a PDF's page count.
func (lang labeler) extent(e Evidence) string {
	switch {
	case e.DurationMS > 0:
		return timeCode(e.DurationMS)
	case e.Pages > 0:
		return fmt.Sprintf("%d %s", e.Pages, lang.l("页", "pages"))
	}
	return "—"
}

// person prints a name with the organisation, "王芳（某某酒店有限公司）".
func person(p *Person) string {
	if p == nil || p.Name == "" && p.Username == "" {
		return "—"
	}
	s := p.Name
	if s == "" {
		s = p.Username
	}
	if p.Org != "" {
		s += "（" + p.Org + "）"
	}
	return s
}
