package report

import (
	"cmp"
	"fmt"
	"strings"
)

// title draws the heading and the case facts.
func (l *layout) title() {
	d, lang := l.d, l.lang
	title := "现场踏勘检查报告 / Site Inspection Report"
	if lang == "zh" || lang == "en" {
		title = lang.l("现场踏勘检查报告", "Site Inspection Report")
	}
	l.line(marginL, 18, colText, title)
	if office := cmp.Or(d.Case.OfficeName, d.Case.Office); office != "" {
		l.line(marginL, 10, colMuted, office)
	}
	l.y += 4
	l.rule(colText, 1.2)
	l.y += 8

	permit := strings.TrimSpace(d.PermitType.NameZH + " / " + d.PermitType.NameEN)
	if d.PermitType.Code != "" {
		permit += " (" + d.PermitType.Code + ")"
	}
	if v := d.PermitType.Version; v > 0 {
		// The checklist below is this version's (docs/CATALOGUE.md).
		permit += " · " + lang.l(fmt.Sprintf("第 %d 版", v), fmt.Sprintf("version %d", v))
	}
	if d.PermitType.CommitmentAllowed {
		permit += " · " + lang.l("承诺办", "commitment-based")
	}
	l.field(lang.l("案件编号", "Case number"), d.Case.Number)
	l.field(lang.l("状态", "Status"), lang.pick(statusLabels, d.Case.Status))
	l.field(lang.l("许可事项", "Permit type"), permit)
	l.field(lang.l("场所", "Site"), d.Case.SiteName)
	l.field(lang.l("地址", "Address"), d.Case.SiteAddress)
	l.field(lang.l("申请人", "Applicant"), person(&d.Case.Applicant))
	l.field(lang.l("承办人", "Inspector"), person(d.Case.Inspector))
	l.field(lang.l("复核人", "Reviewer"), person(d.Case.Reviewer))
	l.field(lang.l("创建时间", "Created"), stamp(d.Case.CreatedAt))
	l.field(lang.l("提交时间", "Submitted"), stampPtr(d.Case.SubmittedAt))
	l.field(lang.l("办结时限", "Due"), stampPtr(d.Case.DueAt))
	if d.Case.Description != "" {
		l.field(lang.l("说明", "Description"), d.Case.Description)
	}
	l.field(lang.l("报告生成", "Generated"), stamp(d.GeneratedAt))
}

// evidence draws the evidence table: one row of facts and one of the full SHA-256
// per item, so the hash is never cut by a column.
func (l *layout) evidence() {
	lang := l.lang
	l.heading("证据材料", "Evidence")
	x := marginL
	cols := func(texts ...string) []column {
		widths := []float64{20, 160, 62, 62, 72, contentW - 376}
		out := make([]column, len(texts))
		cx := x
		for i, t := range texts {
			out[i] = column{cx, widths[i], t}
			cx += widths[i]
		}
		return out
	}
	l.row(8, colText, &colShade, cols("#", lang.l("文件名", "File"), lang.l("类型", "Kind"),
		lang.l("大小", "Size"), lang.l("时长/页数", "Length"), lang.l("拍摄时间与地点", "Captured"))...)
	if len(l.d.Evidence) == 0 {
		l.line(marginL, 9, colMuted, lang.l("无", "None"))
	}
	for i, e := range l.d.Evidence {
		l.need(4 * lineHeight(8.5))
		captured := strings.TrimSpace(e.CapturedAt + " " + e.Location)
		if captured == "" {
			captured = "—"
		}
		l.row(8.5, colText, nil, cols(fmt.Sprint(i+1), e.Filename, lang.pick(kindLabels, e.Kind),
			byteSize(e.Size), lang.extent(e), captured)...)
		l.row(7.5, colMuted, nil,
			column{x + 20, 70, "SHA-256"}, column{x + 90, contentW - 90, e.SHA256})
		l.row(7.5, colMuted, nil,
			column{x + 20, 70, lang.l("上传", "Uploaded")}, column{x + 90, contentW - 90, stamp(e.UploadedAt)})
		l.rule(colRule, 0.4)
		l.y += 2
	}
}

// checklist draws each item with its result, note and supporting annotations.
func (l *layout) checklist() {
	lang := l.lang
	l.heading("检查项", "Checklist")
	if len(l.d.Checklist) == 0 {
		l.line(marginL, 9, colMuted, lang.l("无", "None"))
	}
	for i, it := range l.d.Checklist {
		l.y += 4
		l.need(3*lineHeight(11) + 20)
		top := l.y
		label := lang.pick(resultLabels, it.Result)
		l.ts.size = 8.5
		bw := l.ts.width(label) + 10
		l.badge(marginL+contentW-bw, top+1, resultColor(it.Result), label)
		textW := contentW - bw - 28
		l.para(marginL, textW, 11, colText, fmt.Sprintf("%d. %s", i+1, it.TextZH))
		if it.TextEN != "" {
			l.para(marginL+14, textW-14, 8.5, colMuted, it.TextEN)
		}
		if it.Note != "" {
			l.y += 2
			l.para(marginL+14, contentW-14, 9.5, colText, lang.l("备注", "Note")+": "+it.Note)
		}
		for j := range it.Annotations {
			l.annotation(&it.Annotations[j], l.pics[[2]int{i, j}])
		}
		l.y += 2
		l.rule(colRule, 0.4)
	}
}

// annotationImageH is the tallest an annotation picture is printed, in points:
// two landscape frames fit on a page.
const annotationImageH = 300

// annotation draws one annotation: where it is, who wrote it, what it says, and
// its picture with the shape.
func (l *layout) annotation(a *Annotation, p *picture) {
	lang := l.lang
	x, w := marginL+14, contentW-14
	l.y += 4
	where := []string{a.EvidenceName}
	if tc := timeRange(a.StartMS, a.EndMS); tc != "" {
		where = append(where, tc)
	}
	if a.Frame != nil {
		where = append(where, lang.l(fmt.Sprintf("第 %d 帧", *a.Frame), fmt.Sprintf("frame %d", *a.Frame)))
	}
	if a.Page != nil {
		where = append(where, lang.l(fmt.Sprintf("第 %d 页", *a.Page), fmt.Sprintf("page %d", *a.Page)))
	}
	meta := fmt.Sprintf("[%s] %s · %s · %s", lang.pick(severityLabels, a.Severity),
		strings.Join(where, " · "), a.Author, stamp(a.CreatedAt))
	c := colMuted
	if a.Severity == "violation" {
		c = colAlert
	}
	// Keep the words with their picture: start a page unless both fit.
	block := l.height(w, 8.5, meta) + 2*lineHeight(9.5)
	if a.Body != "" {
		block += l.height(w, 9.5, a.Body)
	}
	if p != nil {
		_, h := p.fit(w, annotationImageH)
		block += h + 10
	}
	l.need(min(block, bodyBottom-marginT))
	l.para(x, w, 8.5, c, meta)
	if a.Body != "" {
		l.para(x, w, 9.5, colText, a.Body)
	}
	if p != nil {
		l.y += 2
		l.image(x, w, annotationImageH, p)
	}
}

// decisions draws each decision round with both officers.
func (l *layout) decisions() {
	lang := l.lang
	l.heading("审批决定", "Decision")
	if len(l.d.Decisions) == 0 {
		l.line(marginL, 9.5, colMuted, lang.l("尚未作出决定", "No decision yet"))
	}
	for i, dc := range l.d.Decisions {
		l.need(6 * lineHeight(9.5))
		l.line(marginL, 10.5, colText, lang.l(fmt.Sprintf("第 %d 轮", i+1), fmt.Sprintf("Round %d", i+1)))
		l.field(lang.l("结论", "Outcome"), lang.pick(outcomeLabels, dc.Outcome))
		if dc.Summary != "" {
			l.field(lang.l("理由", "Summary"), dc.Summary)
		}
		if dc.Reason != "" {
			l.field(lang.l("仍予批准理由", "Why approved"), dc.Reason)
		}
		l.field(lang.l("承办人", "Inspector"), person(&dc.Inspector)+" · "+stamp(dc.DecidedAt))
		review := lang.l("待复核", "Pending")
		if dc.Agree != nil && *dc.Agree {
			review = lang.l("同意", "Agreed")
		} else if dc.Agree != nil {
			review = lang.l("退回", "Returned")
		}
		l.field(lang.l("复核人", "Reviewer"), person(dc.Reviewer)+" · "+stampPtr(dc.CountersignedAt)+" · "+review)
		if dc.Comment != "" {
			l.field(lang.l("复核意见", "Comment"), dc.Comment)
		}
		if dc.CountersignReason != "" {
			l.field(lang.l("复核同意理由", "Why agreed"), dc.CountersignReason)
		}
		l.y += 4
	}
}

// owed draws the materials owed on a commitment basis.
func (l *layout) owed() {
	lang := l.lang
	l.heading("容缺后补材料", "Owed materials")
	if len(l.d.Owed) == 0 {
		l.line(marginL, 9.5, colMuted, lang.l("无", "None"))
		return
	}
	cols := func(a, b, c string) []column {
		return []column{{marginL, contentW - 210, a}, {marginL + contentW - 210, 130, b}, {marginL + contentW - 80, 80, c}}
	}
	l.row(8, colText, &colShade, cols(lang.l("材料", "Material"), lang.l("截止时间", "Due"), lang.l("状态", "Status"))...)
	for _, o := range l.d.Owed {
		status, c := lang.l("待提交", "Outstanding"), colText
		switch {
		case o.Fulfilled:
			status = lang.l("已提交", "Handed in")
		case o.Overdue:
			status, c = lang.l("已逾期", "OVERDUE"), colAlert
		}
		l.row(9, c, nil, cols(o.Text, stamp(o.DueAt), status)...)
	}
}

// auditHead closes the report with the audit chain's head and what it is for.
func (l *layout) auditHead() {
	lang := l.lang
	zh := "该哈希值是本案审计事件链（每个事件的 SHA-256 覆盖其内容和前一事件的哈希）在报告生成时的最新一环；任何持有审计记录的人都可以重新计算整条链并与此值比对，以核实本报告所依据的记录未被篡改。"
	en := "This hash is the newest link of the case's audit chain (each event's SHA-256 covers its content and the previous event's hash) when the report was made; anyone holding the audit record can recompute the chain and compare it with this value to verify that the record behind this report has not been altered."
	if l.d.VerifyURL != "" {
		zh += "持有本报告者可扫描二维码或访问核验网址，核对案件编号、决定及本报告文件的 SHA-256（均不含个人信息）。"
		en += " Anyone holding this report can scan the QR code or open the verification URL to check the case number, the decision and this report file's SHA-256 (nothing personal is shown)."
	}
	var explain []string
	if lang != "en" {
		explain = append(explain, zh)
	}
	if lang != "zh" {
		explain = append(explain, en)
	}
	// The heading, two fields and the explanation stay together on the last page.
	block := lineHeight(13) + 26 + 2*(lineHeight(9.5)+4)
	if l.d.VerifyURL != "" {
		block += lineHeight(9.5) + 4 + qrSide + 2*qrGap
	}
	for _, s := range explain {
		block += l.height(contentW, 8.5, s)
	}
	l.need(block)
	l.heading("审计记录", "Audit record")
	l.field(lang.l("链头序号", "Head seq"), fmt.Sprint(l.d.AuditHeadSeq))
	l.field(lang.l("链头哈希", "Head hash"), l.d.AuditHeadHash)
	if l.d.VerifyURL != "" {
		// Anyone holding the printed report can ask the office whether it
		// is genuine and compare its SHA-256.
		l.field(lang.l("核验网址", "Verify at"), l.d.VerifyURL)
		// The same URL as a QR code under it, for a phone.
		if err := l.qr(marginL+fieldLabelW+2, l.y+qrGap, qrSide, l.d.VerifyURL); err == nil {
			l.y += qrSide + 2*qrGap
		}
	}
	l.y += 2
	for _, s := range explain {
		l.para(marginL, contentW, 8.5, colMuted, s)
	}
}

// signatures draws the boxes the officers sign and the office seals in
// on the printed report: the inspector and the reviewer by name, the
// office by its name, each with a line for the date.
func (l *layout) signatures() {
	lang, d := l.lang, l.d
	const boxH, gap = 78.0, 10.0
	w := (contentW - 2*gap) / 3
	l.need(lineHeight(13) + 26 + boxH + lineHeight(9) + 8)
	l.heading("签章", "Signatures and seal")
	name := func(p *Person) string {
		if p == nil {
			return ""
		}
		return p.Name
	}
	boxes := []struct{ label, who string }{
		{lang.l("承办人（签名）", "Inspector (signature)"), name(d.Case.Inspector)},
		{lang.l("复核人（签名）", "Reviewer (signature)"), name(d.Case.Reviewer)},
		{lang.l("审批机关（盖章）", "Office (seal)"), cmp.Or(d.Case.OfficeName, d.Case.Office)},
	}
	top := l.y
	l.pdf.SetStrokeColor(colRule[0], colRule[1], colRule[2])
	l.pdf.SetLineWidth(0.8)
	for i, b := range boxes {
		x := marginL + float64(i)*(w+gap)
		l.pdf.RectFromUpperLeftWithStyle(x, top, w, boxH, "D")
		l.pdf.SetTextColor(colMuted[0], colMuted[1], colMuted[2])
		l.ts.size = 8.5
		l.ts.draw(x+5, top+12, b.label)
		if b.who != "" {
			l.pdf.SetTextColor(colText[0], colText[1], colText[2])
			l.ts.size = 9.5
			l.ts.draw(x+5, top+26, b.who)
		}
		l.pdf.SetTextColor(colMuted[0], colMuted[1], colMuted[2])
		l.ts.size = 8.5
		l.ts.draw(x+5, top+boxH-8, lang.l("日期：", "Date:"))
	}
	l.y = top + boxH + 8
}
