// Package notify sends notifications outside the app: e-mail over SMTP
// (Mailer) and SMS through an office's HTTP gateway (Webhook), with the
// plain-text zh+en wording of each kind of notification (Render). It knows
// nothing of the job queue: pipeline's delivery jobs call Sender.Send.
package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"siteinspect/domain"
)

// Message is a notification's wording, in Chinese then English.
type Message struct {
	// Subject is the e-mail subject, "zh / en".
	Subject string
	// Body is the plain-text e-mail body: the Chinese text, then the
	// English, then a link to the case when the public URL is known.
	Body string
	// SMS is the short text for the SMS gateway: both languages, no
	// greeting.
	SMS string
	// Text is the sentence in each language (what the inbox shows).
	Text domain.Text
}

// facts is what a notification's data holds.
type facts struct {
	CaseNumber  string  `json:"case_number"`
	SiteName    string  `json:"site_name"`
	From        string  `json:"from"`
	To          string  `json:"to"`
	Outcome     string  `json:"outcome"`
	Comment     string  `json:"comment"`
	DueAt       string  `json:"due_at"`
	Text        string  `json:"text"`
	DaysOverdue float64 `json:"days_overdue"`
	JoinLink    string  `json:"join_link"`
	ScheduledAt string  `json:"scheduled_at"`
	ExpiresAt   string  `json:"token_expires_at"`
}

// Render words a delivery. Times are shown in loc (the office's zone);
// publicURL (https://permits.example.gov, may be empty) makes the case
// and join links absolute.
func Render(d *domain.Delivery, loc *time.Location, publicURL string) Message {
	var f facts
	json.Unmarshal(d.Notification.Data, &f)
	num := f.CaseNumber
	if num == "" {
		num = d.CaseNumber
	}
	when := func(s string) string {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return s
		}
		return t.In(loc).Format("2006-01-02 15:04 (UTC-07:00)")
	}
	base := strings.TrimRight(publicURL, "/")
	site := ""
	if f.SiteName != "" {
		site = "（" + f.SiteName + "）"
	}
	siteEn := ""
	if f.SiteName != "" {
		siteEn = " (" + f.SiteName + ")"
	}
	var subZh, subEn, zh, en string
	switch d.Notification.Kind {
	case domain.NotifySubmitted:
		subZh, subEn = "案件已提交", "case submitted"
		zh = fmt.Sprintf("案件 %s%s 已提交。", num, site)
		en = fmt.Sprintf("Case %s%s was submitted.", num, siteEn)
		if f.DueAt != "" {
			zh += "办理期限：" + when(f.DueAt) + "。"
			en += " To be decided by " + when(f.DueAt) + "."
		}
	case domain.NotifyClaimed:
		subZh, subEn = "案件已受理审查", "review started"
		zh = fmt.Sprintf("案件 %s%s 已由踏勘人员受理审查。", num, site)
		en = fmt.Sprintf("An inspector is now reviewing case %s%s.", num, siteEn)
	case domain.NotifySupplement:
		subZh, subEn = "需要补充材料", "more material needed"
		zh = fmt.Sprintf("案件 %s%s 需要补充材料，请登录查看要求并补交。", num, site)
		en = fmt.Sprintf("Case %s%s needs more material: sign in to see what is asked and hand it in.", num, siteEn)
	case domain.NotifyDecided:
		subZh, subEn = "检查结论已作出", "inspector's decision"
		oz, oe := "不予许可", "reject"
		if f.Outcome == "approve" {
			oz, oe = "准予许可", "approve"
		}
		zh = fmt.Sprintf("踏勘人员已对案件 %s%s 作出结论（%s），待复核人员复核。", num, site, oz)
		en = fmt.Sprintf("The inspector decided case %s%s (%s); a reviewer countersigns next.", num, siteEn, oe)
	case domain.NotifyCountersigned:
		oz, oe := "不予许可", "rejected"
		if f.To == string(domain.StatusApproved) {
			oz, oe = "准予许可", "approved"
		}
		subZh, subEn = "案件已办结："+oz, "case "+oe
		zh = fmt.Sprintf("案件 %s%s 已复核办结：%s。", num, site, oz)
		en = fmt.Sprintf("Case %s%s is decided after countersign: %s.", num, siteEn, oe)
	case domain.NotifyReturned:
		subZh, subEn = "结论被退回", "decision returned"
		zh = fmt.Sprintf("复核人员退回了案件 %s%s 的结论：%s", num, site, f.Comment)
		en = fmt.Sprintf("The reviewer returned the decision on case %s%s: %s", num, siteEn, f.Comment)
	case domain.NotifyWithdrawn:
		subZh, subEn = "案件已撤回", "case withdrawn"
		zh = fmt.Sprintf("申请人撤回了案件 %s%s。", num, site)
		en = fmt.Sprintf("The applicant withdrew case %s%s.", num, siteEn)
	case domain.NotifyLiveInvite:
		subZh, subEn = "远程视频检查邀请", "live inspection invitation"
		zh = fmt.Sprintf("案件 %s%s 的远程视频检查已开启", num, site)
		en = fmt.Sprintf("A live video inspection of case %s%s is open", num, siteEn)
		if f.ScheduledAt != "" {
			zh += "，预约时间 " + when(f.ScheduledAt)
			en += ", scheduled for " + when(f.ScheduledAt)
		}
		zh += "。请在现场用手机打开以下链接加入"
		en += ". On site, open this link on your phone to join"
		if f.ExpiresAt != "" {
			zh += "（" + when(f.ExpiresAt) + " 前有效）"
			en += " (valid until " + when(f.ExpiresAt) + ")"
		}
		link := base + f.JoinLink
		zh += "：" + link
		en += ": " + link
	case domain.NotifyOwedReminder:
		subZh, subEn = "承诺材料已逾期", "owed material overdue"
		zh = fmt.Sprintf("案件 %s%s 承诺补交的材料“%s”已逾期 %d 天（应于 %s 前提交），请尽快上传。", num, site, f.Text, int(f.DaysOverdue), when(f.DueAt))
		en = fmt.Sprintf("The material you committed to hand in for case %s%s, “%s”, is %d days overdue (due %s): please upload it.", num, siteEn, f.Text, int(f.DaysOverdue), when(f.DueAt))
	case domain.NotifyOwedEscalated:
		subZh, subEn = "承诺材料逾期未交", "owed material overdue (escalation)"
		zh = fmt.Sprintf("案件 %s%s 承诺补交的材料“%s”已逾期（应于 %s 前提交），已提醒申请人。", num, site, f.Text, when(f.DueAt))
		en = fmt.Sprintf("The material owed on case %s%s, “%s”, is overdue (due %s); the applicant has been reminded.", num, siteEn, f.Text, when(f.DueAt))
	case domain.NotifyFollowup:
		subZh, subEn = "不满意评价待跟进", "follow-up opened"
		zh = fmt.Sprintf("申请人对案件 %s%s 的办理作出了不满意评价，请在 %s 前跟进处理。", num, site, when(f.DueAt))
		en = fmt.Sprintf("The applicant rated the handling of case %s%s as unsatisfactory: follow it up by %s.", num, siteEn, when(f.DueAt))
	case domain.NotifyFollowupClosed:
		subZh, subEn = "评价跟进已办结", "follow-up closed"
		zh = fmt.Sprintf("您对案件 %s%s 的评价已跟进处理：%s", num, site, f.Outcome)
		en = fmt.Sprintf("Your rating of case %s%s was followed up: %s", num, siteEn, f.Outcome)
	default:
		subZh, subEn = "案件动态", "case update"
		zh = fmt.Sprintf("案件 %s 有新的动态。", num)
		en = fmt.Sprintf("There is news on case %s.", num)
	}
	m := Message{Subject: fmt.Sprintf("%s %s / Case %s: %s", num, subZh, num, subEn), SMS: zh + " " + en, Text: domain.Text{ZH: zh, EN: en}}
	var b strings.Builder
	if d.Recipient != "" {
		fmt.Fprintf(&b, "%s，您好：\n\n", d.Recipient)
	}
	b.WriteString(zh + "\n\n")
	if d.Recipient != "" {
		fmt.Fprintf(&b, "Dear %s,\n\n", d.Recipient)
	}
	b.WriteString(en + "\n")
	if base != "" && d.Notification.CaseID != "" {
		fmt.Fprintf(&b, "\n%s/#/cases/%s\n", base, d.Notification.CaseID)
	}
	b.WriteString("\n-- \n此邮件由系统自动发送，请勿回复。This message was sent automatically; please do not reply.\n")
	m.Body = b.String()
	return m
}
