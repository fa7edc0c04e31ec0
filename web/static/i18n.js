/**
 * Every visible string of the UI, in one table with Chinese and English side by
 * side, so a missing translation shows up in review next to its sibling.
 * Permit type names and checklist texts are not here: the API sends them in
 * both languages and pick() chooses one.
 */

const STORAGE_KEY = 'siteinspect.lang';

/** @type {Record<string, {zh: string, en: string}>} */
const messages = {
  'app.title': { zh: '在线踏勘', en: 'Remote site inspection' },
  'lang.label': { zh: '语言', en: 'Language' },
  'lang.zh': { zh: '中文', en: '中文' },
  'lang.en': { zh: 'English', en: 'English' },
  'header.logout': { zh: '退出', en: 'Sign out' },

  'role.applicant': { zh: '申请人', en: 'Applicant' },
  'role.inspector': { zh: '踏勘人员', en: 'Inspector' },
  'role.reviewer': { zh: '复核人员', en: 'Reviewer' },
  'role.admin': { zh: '管理员', en: 'Administrator' },

  'login.title': { zh: '登录', en: 'Sign in' },
  'login.intro': { zh: '企业申请人和审批人员使用同一入口登录。', en: 'Applicants and permit office staff sign in here.' },
  'login.username': { zh: '用户名', en: 'Username' },
  'login.password': { zh: '密码', en: 'Password' },
  'login.submit': { zh: '登录', en: 'Sign in' },
  'login.busy': { zh: '正在登录…', en: 'Signing in…' },
  'login.expired': { zh: '登录已失效，请重新登录。', en: 'Your session has ended. Please sign in again.' },

  'status.draft': { zh: '草稿', en: 'Draft' },
  'status.submitted': { zh: '已提交', en: 'Submitted' },
  'status.in_review': { zh: '审查中', en: 'In review' },
  'status.supplement_requested': { zh: '待补正', en: 'Supplement requested' },
  'status.pending_countersign': { zh: '待复核', en: 'Awaiting countersignature' },
  'status.approved': { zh: '已批准', en: 'Approved' },
  'status.rejected': { zh: '不予批准', en: 'Rejected' },
  'status.withdrawn': { zh: '已撤回', en: 'Withdrawn' },

  'cases.mine': { zh: '我的案件', en: 'My cases' },
  'cases.queue': { zh: '踏勘队列', en: 'Inspection queue' },
  'cases.new': { zh: '新建案件', en: 'New case' },
  'cases.empty': { zh: '暂无案件。', en: 'No cases yet.' },
  'cases.emptyFilter': { zh: '没有符合条件的案件。', en: 'No cases match this filter.' },
  'cases.filter': { zh: '状态', en: 'Status' },
  'cases.all': { zh: '全部', en: 'All' },
  'cases.overdue': { zh: '已逾期', en: 'Overdue' },
  'col.number': { zh: '编号', en: 'Number' },
  'col.permit': { zh: '许可事项', en: 'Permit type' },
  'col.site': { zh: '场所', en: 'Site' },
  'col.status': { zh: '状态', en: 'Status' },
  'col.due': { zh: '办结期限', en: 'Due' },

  'newcase.title': { zh: '新建踏勘案件', en: 'New inspection case' },
  'newcase.permit': { zh: '许可事项', en: 'Permit type' },
  'newcase.commitBadge': { zh: '承诺办', en: 'Commitment' },
  'newcase.commitYes': { zh: '可承诺办理（承诺办）：签署承诺后，缺少的材料可在 {days} 天内补交。', en: 'Commitment-based approval (承诺办) allowed: sign the commitment and hand in missing materials within {days} days.' },
  'newcase.commitNo': { zh: '不适用承诺办，需一次提交全部材料。', en: 'Commitment-based approval is not available: all materials are required up front.' },
  'newcase.sameDay': { zh: '当日办结', en: 'Decided the same day' },
  'newcase.targetDays': { zh: '{n} 个工作日内办结', en: 'Decided within {n} working days' },
  'newcase.checklist': { zh: '踏勘要点（请在视频和照片中展示）', en: 'Inspection checklist (show these in your videos and photos)' },
  'newcase.siteName': { zh: '场所名称', en: 'Site name' },
  'newcase.siteAddress': { zh: '场所地址', en: 'Site address' },
  'newcase.description': { zh: '说明', en: 'Description' },
  'coords.legend': { zh: '现场坐标（选填）', en: 'Site coordinates (optional)' },
  'coords.hint': { zh: '填写后，系统会核对视频和照片的拍摄地点是否在现场附近。', en: 'With these, the office can check that videos and photos were taken at the site.' },
  'coords.lat': { zh: '纬度', en: 'Latitude' },
  'coords.lon': { zh: '经度', en: 'Longitude' },
  'coords.useMine': { zh: '使用我的位置', en: 'Use my location' },
  'coords.locating': { zh: '正在获取位置…', en: 'Finding your location…' },
  'coords.located': { zh: '已填入当前位置（精度约 {m} 米）。', en: 'Filled in your location (accurate to about {m} m).' },
  'coords.denied': { zh: '未获准使用位置，请手动填写。', en: 'Location permission was denied; enter the coordinates by hand.' },
  'coords.unavailable': { zh: '无法获取位置，请手动填写。', en: 'Your location is not available; enter the coordinates by hand.' },
  'coords.notNumber': { zh: '请输入数字。', en: 'Enter a number.' },
  'coords.both': { zh: '请同时填写纬度和经度，或都不填。', en: 'Fill in both latitude and longitude, or neither.' },
  'coords.latRange': { zh: '纬度应在 -90 到 90 之间。', en: 'Latitude must be between -90 and 90.' },
  'coords.lonRange': { zh: '经度应在 -180 到 180 之间。', en: 'Longitude must be between -180 and 180.' },
  'newcase.create': { zh: '创建案件', en: 'Create case' },
  'newcase.creating': { zh: '正在创建…', en: 'Creating…' },
  'newcase.cancel': { zh: '取消', en: 'Cancel' },
  'newcase.onlyApplicants': { zh: '只有申请人可以新建案件。', en: 'Only applicants can open cases.' },

  'case.back': { zh: '返回列表', en: 'Back to list' },
  'case.permit': { zh: '许可事项', en: 'Permit type' },
  'case.site': { zh: '场所', en: 'Site' },
  'case.address': { zh: '地址', en: 'Address' },
  'case.due': { zh: '办结期限', en: 'Due' },
  'case.created': { zh: '创建时间', en: 'Created' },
  'case.submittedAt': { zh: '提交时间', en: 'Submitted' },
  'case.applicant': { zh: '申请人', en: 'Applicant' },
  'case.inspector': { zh: '踏勘人员', en: 'Inspector' },
  'case.unassigned': { zh: '未分配', en: 'Not assigned' },
  'case.description': { zh: '说明', en: 'Description' },
  'case.coords': { zh: '现场坐标', en: 'Site coordinates' },
  'case.checklist': { zh: '踏勘要点', en: 'Inspection checklist' },
  'case.submit': { zh: '提交审查', en: 'Submit for inspection' },
  'case.withdraw': { zh: '撤回申请', en: 'Withdraw' },
  'case.withdrawAsk': { zh: '确定撤回此案件？撤回后不能恢复。', en: 'Withdraw this case? This cannot be undone.' },
  'case.withdrawYes': { zh: '确认撤回', en: 'Yes, withdraw' },
  'case.withdrawNo': { zh: '保留', en: 'Keep the case' },
  'case.take': { zh: '领取案件', en: 'Take case' },
  'case.submitHint': { zh: '上传完所有视频、照片和 PDF 后再提交。', en: 'Submit once all videos, photos and PDFs are uploaded.' },

  'evidence.title': { zh: '踏勘材料', en: 'Evidence' },
  'evidence.empty': { zh: '尚未上传材料。', en: 'No evidence uploaded yet.' },
  'evidence.kind.video': { zh: '视频', en: 'Video' },
  'evidence.kind.image': { zh: '照片', en: 'Photo' },
  'evidence.kind.pdf': { zh: 'PDF', en: 'PDF' },
  'evidence.kind.recording': { zh: '现场录像', en: 'Live recording' },
  'evidence.status.processing': { zh: '处理中', en: 'Processing' },
  'evidence.status.ready': { zh: '就绪', en: 'Ready' },
  'evidence.status.failed': { zh: '处理失败', en: 'Failed' },
  'evidence.openPdf': { zh: '打开 PDF 原件', en: 'Open the original PDF' },
  'evidence.download': { zh: '下载原件', en: 'Download original' },
  'evidence.unplayable': { zh: '此浏览器无法播放该视频，请下载原件查看。', en: 'This browser cannot play the video; download the original instead.' },
  'evidence.processing': { zh: '处理中…', en: 'Processing…' },
  'evidence.failedReason': { zh: '处理失败：{reason}', en: 'Failed: {reason}' },
  'evidence.pages': { zh: '{n} 页', en: '{n} pages' },
  'evidence.fps': { zh: '{n} 帧/秒', en: '{n} fps' },
  'evidence.proxy': { zh: '转码播放', en: 'transcoded for playback' },
  'evidence.capturedAt': { zh: '拍摄时间', en: 'Captured' },
  'evidence.capturedPlace': { zh: '拍摄地点', en: 'Place' },
  'evidence.fromSite': { zh: '距现场 {d}', en: '{d} from the site' },
  'evidence.farFromSite': { zh: '拍摄地点距现场 {d}', en: 'Captured {d} from the site' },
  'evidence.farUnknown': { zh: '拍摄地点距现场过远', en: 'Captured too far from the site' },
  'evidence.open': { zh: '查看 {name}', en: 'View {name}' },
  'evidence.view': { zh: '查看', en: 'View' },
  'evidence.hide': { zh: '收起', en: 'Close' },
  'evidence.noPreview': { zh: '暂无预览图，请打开原件查看。', en: 'No preview available; open the original instead.' },
  'evidence.openOriginal': { zh: '打开原图', en: 'Open the original' },
  'player.scrub': { zh: '视频缩略图时间轴', en: 'Video thumbnail timeline' },
  'pdf.prev': { zh: '上一页', en: 'Previous' },
  'pdf.next': { zh: '下一页', en: 'Next' },
  'pdf.page': { zh: '第 {n} / {total} 页', en: 'Page {n} / {total}' },
  'pdf.goTo': { zh: '跳至', en: 'Go to' },
  'pdf.thumbs': { zh: '页面缩略图', en: 'Page thumbnails' },
  'pdf.pageArea': { zh: 'PDF 页面', en: 'PDF page' },
  'pdf.pageFailed': { zh: '该页图像加载失败。', en: 'This page image could not be loaded.' },
  'pdf.noPages': { zh: '暂无页面图像，请打开原件查看。', en: 'No page images; open the original instead.' },
  'evidence.hashTitle': { zh: 'SHA-256（入库时计算）', en: 'SHA-256 (computed at ingest)' },

  'upload.title': { zh: '上传材料', en: 'Upload evidence' },
  'upload.choose': { zh: '选择文件', en: 'Choose files' },
  'upload.drop': { zh: '或将视频、照片、PDF 拖到此处', en: 'or drop videos, photos and PDFs here' },
  'upload.hint': { zh: '网络中断后会自动续传；刷新页面后，重新选择同一文件即可从中断处继续。', en: 'Uploads continue after a dropped connection; after a reload, choose the same file again to continue where it stopped.' },
  'upload.closed': { zh: '案件为草稿或待补正状态时可以上传材料。', en: 'Evidence can be uploaded while the case is a draft or a supplement is requested.' },
  'upload.pause': { zh: '暂停', en: 'Pause' },
  'upload.resume': { zh: '继续', en: 'Resume' },
  'upload.cancel': { zh: '取消', en: 'Cancel' },
  'upload.retry': { zh: '重试', en: 'Retry' },
  'upload.remove': { zh: '移除', en: 'Remove' },
  'upload.state.queued': { zh: '排队中', en: 'Queued' },
  'upload.state.uploading': { zh: '上传中', en: 'Uploading' },
  'upload.state.paused': { zh: '已暂停', en: 'Paused' },
  'upload.state.done': { zh: '已完成', en: 'Done' },
  'upload.state.error': { zh: '失败', en: 'Failed' },
  'upload.retrying': { zh: '连接中断，{s} 秒后重试', en: 'Connection lost, retrying in {s} s' },
  'upload.offline': { zh: '网络已断开，恢复后自动继续', en: 'Offline; will continue when the network returns' },
  'upload.resumed': { zh: '从 {size} 处继续', en: 'Continuing from {size}' },
  'upload.eta': { zh: '剩余约 {time}', en: 'about {time} left' },
  'upload.pending': { zh: '未完成的上传', en: 'Unfinished uploads' },
  'upload.pendingHint': { zh: '重新选择同一文件即可从中断处继续。', en: 'Choose the same file again to continue where it stopped.' },
  'upload.discard': { zh: '放弃', en: 'Discard' },
  'upload.unauthorized': { zh: '登录已失效，请重新登录后点击“重试”。', en: 'Your session has ended; sign in again, then press Retry.' },
  'upload.failed': { zh: '上传失败（{status}）', en: 'Upload failed ({status})' },

  'case.takeReview': { zh: '承担复核', en: 'Take as reviewer' },
  'case.owed': { zh: '待补材料', en: 'Materials owed' },
  'case.owedCount': { zh: '{n} 项，{at} 前', en: '{n}, due {at}' },
  'evidence.review': { zh: '在工作区打开', en: 'Open in workspace' },

  'review.title': { zh: '审查工作区', en: 'Review workspace' },
  'review.readOnly': { zh: '只读：只有本案的踏勘人员和复核人员可在审查期间添加批注。', en: 'Read only: the case officers can add notes while it is under review.' },
  'review.chooseEvidence': { zh: '请在下方材料列表中选择要审查的视频、PDF 或照片。', en: 'Choose a video, PDF or photo from the evidence below to review it.' },
  'review.notReady': { zh: '该材料尚未处理完成，暂不能批注。', en: 'This item is still being processed and cannot be annotated yet.' },
  'review.play': { zh: '播放', en: 'Play' },
  'review.pause': { zh: '暂停', en: 'Pause' },
  'review.framePrev': { zh: '上一帧（,）', en: 'Previous frame (,)' },
  'review.frameNext': { zh: '下一帧（.）', en: 'Next frame (.)' },
  'review.frame': { zh: '第 {n} 帧', en: 'frame {n}' },
  'review.speed': { zh: '播放速度', en: 'Playback speed' },
  'review.rangeIn': { zh: '入点 I', en: 'In (I)' },
  'review.rangeOut': { zh: '出点 O', en: 'Out (O)' },
  'review.rangeInHint': { zh: '将当前时间设为区间起点', en: 'Start the range here' },
  'review.rangeOutHint': { zh: '将当前时间设为区间终点', en: 'End the range here' },
  'review.rangeClear': { zh: '清除区间', en: 'Clear range' },
  'review.markers': { zh: '批注时间轴', en: 'Annotation timeline' },
  'review.keys': { zh: '快捷键：J 后退 · K 暂停 · L 播放（再按加速）· , . 逐帧 · I/O 设置区间', en: 'Keys: J back · K pause · L play (again: faster) · , . frame step · I/O set range' },
  'review.tools': { zh: '绘图工具', en: 'Drawing tools' },
  'review.newNote': { zh: '新批注', en: 'New note' },
  'review.anchorAt': { zh: '位置：{at}', en: 'At {at}' },
  'review.anchorRange': { zh: '区间：{a} – {b}', en: 'Range {a} – {b}' },
  'review.atPage': { zh: '第 {n} 页', en: 'Page {n}' },
  'review.onPhoto': { zh: '照片', en: 'Photo' },
  'review.shapeNone': { zh: '可选：选择工具后在画面上绘制标记。', en: 'Optional: pick a tool and draw on the picture.' },
  'review.shapeReady': { zh: '已绘制：{tool}', en: 'Drawn: {tool}' },
  'review.clearShape': { zh: '清除图形', en: 'Clear shape' },
  'review.body': { zh: '批注内容', en: 'Note' },
  'review.bodyHint': { zh: '描述发现的问题或情况', en: 'What do you see here?' },
  'review.bodyRequired': { zh: '请填写批注内容。', en: 'Write the note first.' },
  'review.checklistItem': { zh: '踏勘要点', en: 'Checklist item' },
  'review.noItem': { zh: '（不关联）', en: '(none)' },
  'review.severity': { zh: '严重程度', en: 'Severity' },
  'review.save': { zh: '保存', en: 'Save' },
  'review.saved': { zh: '批注已保存。', en: 'Note saved.' },
  'review.notes': { zh: '批注', en: 'Notes' },
  'review.count': { zh: '显示 {n} / {total} 条', en: 'Showing {n} of {total}' },
  'review.noNotes': { zh: '暂无批注。', en: 'No notes yet.' },
  'review.noMatch': { zh: '没有符合条件的批注。', en: 'No notes match these filters.' },
  'review.filterEvidence': { zh: '材料', en: 'Evidence' },
  'review.filterAllEvidence': { zh: '全部材料', en: 'All evidence' },
  'review.filterThisEvidence': { zh: '当前材料', en: 'This item' },
  'review.filterAllItems': { zh: '全部要点', en: 'All items' },
  'review.filterAllSeverities': { zh: '全部', en: 'All' },
  'review.filterAllStates': { zh: '全部', en: 'All' },
  'review.state': { zh: '状态', en: 'State' },
  'review.open': { zh: '未解决', en: 'Open' },
  'review.resolved': { zh: '已解决', en: 'Resolved' },
  'review.jump': { zh: '跳转到此批注', en: 'Go to this note' },
  'review.reply': { zh: '回复', en: 'Reply' },
  'review.send': { zh: '发送', en: 'Send' },
  'review.resolve': { zh: '标记已解决', en: 'Resolve' },
  'review.reopen': { zh: '重新打开', en: 'Reopen' },
  'review.edit': { zh: '编辑', en: 'Edit' },
  'review.delete': { zh: '删除', en: 'Delete' },
  'review.deleteAsk': { zh: '删除这条批注？删除记录会保留在审计日志中。', en: 'Delete this note? The deletion stays in the audit trail.' },
  'review.deleteYes': { zh: '确认删除', en: 'Yes, delete' },
  'review.cancel': { zh: '取消', en: 'Cancel' },
  'review.stale': { zh: '这条批注已被他人修改，已重新加载，请查看后再编辑。', en: 'Someone changed this note meanwhile; it has been reloaded. Check it and edit again.' },
  'review.pageNotes': { zh: '本页批注', en: 'Notes on this page' },
  'review.noPageNotes': { zh: '本页暂无批注。', en: 'No notes on this page.' },
  'severity.info': { zh: '提示', en: 'Info' },
  'severity.concern': { zh: '关注', en: 'Concern' },
  'severity.violation': { zh: '违规', en: 'Violation' },
  'tool.rect': { zh: '矩形', en: 'Rectangle' },
  'tool.ellipse': { zh: '椭圆', en: 'Ellipse' },
  'tool.arrow': { zh: '箭头', en: 'Arrow' },
  'tool.line': { zh: '直线', en: 'Line' },
  'tool.freehand': { zh: '手绘', en: 'Freehand' },
  'tool.point': { zh: '标点', en: 'Point' },

  'findings.title': { zh: '踏勘要点与结论', en: 'Checklist and findings' },
  'findings.noChecklist': { zh: '该许可事项没有踏勘要点。', en: 'This permit type has no checklist.' },
  'findings.none': { zh: '未填写', en: 'Not recorded' },
  'findings.note': { zh: '说明（不合格时必填）', en: 'Note (required for a fail)' },
  'findings.supporting': { zh: '依据的批注：', en: 'Supporting notes:' },
  'findings.noNotesOnItem': { zh: '暂无关联此要点的批注。', en: 'No notes on this item yet.' },
  'findings.save': { zh: '保存结论', en: 'Save finding' },
  'findings.saved': { zh: '结论已保存。', en: 'Finding saved.' },
  'findings.pickResult': { zh: '请选择结论。', en: 'Choose a result.' },
  'result.pass': { zh: '合格', en: 'Pass' },
  'result.fail': { zh: '不合格', en: 'Fail' },
  'result.na': { zh: '不适用', en: 'N/A' },

  'decision.title': { zh: '审查决定', en: 'Decision' },
  'decision.open': { zh: '作出决定', en: 'Decide' },
  'decision.none': { zh: '尚无决定。', en: 'No decision yet.' },
  'decision.outcome': { zh: '决定', en: 'Outcome' },
  'decision.summary': { zh: '决定理由', en: 'Summary' },
  'decision.owed': { zh: '需补交的材料（每行一项）', en: 'Materials owed (one per line)' },
  'decision.owedHint': { zh: '例如：消防安全检查合格证明', en: 'e.g. Fire safety inspection certificate' },
  'decision.owedRequired': { zh: '要求补正时必须列出材料。', en: 'A supplement request must list the materials.' },
  'decision.owedCommitment': { zh: '承诺办：可在批准后限期补交的材料（选填）。', en: 'Commitment-based: materials that may follow after approval (optional).' },
  'decision.due': { zh: '补交期限', en: 'Due date' },
  'decision.submit': { zh: '提交决定', en: 'Submit decision' },
  'decision.pickOutcome': { zh: '请选择决定。', en: 'Choose an outcome.' },
  'decision.missing': { zh: '以下踏勘要点尚未填写结论：', en: 'These checklist items have no finding yet:' },
  'outcome.approve': { zh: '批准', en: 'Approve' },
  'outcome.reject': { zh: '不予批准', en: 'Reject' },
  'outcome.request_supplement': { zh: '要求补正', en: 'Request supplement' },
  'countersign.title': { zh: '复核会签', en: 'Countersign' },
  'countersign.hint': { zh: '请核对上方的踏勘要点结论和批注后再会签。', en: 'Check the findings and notes above before you sign.' },
  'countersign.comment': { zh: '复核意见', en: 'Comment' },
  'countersign.agree': { zh: '同意', en: 'Agree' },
  'countersign.return': { zh: '退回（需填写意见）', en: 'Return (with a comment)' },
  'countersign.needComment': { zh: '退回时请填写意见。', en: 'Say why the decision goes back.' },

  'record.title': { zh: '审查结果', en: 'Outcome' },
  'record.report': { zh: '下载踏勘报告（PDF）', en: 'Download the inspection report (PDF)' },
  'record.owed': { zh: '待补材料', en: 'Materials owed' },
  'record.owedOpen': { zh: '待补材料（{n} 项未交）', en: 'Materials owed ({n} open)' },
  'record.dueBy': { zh: '{at} 前', en: 'due {at}' },
  'record.fulfilled': { zh: '已于 {at} 补交', en: 'handed in {at}' },
  'record.supplementAsked': { zh: '审批部门要求补正材料', en: 'The office asks for more material' },
  'record.supplementHint': { zh: '请上传所需材料后重新提交。', en: 'Upload the material, then submit the case again.' },
  'record.agreed': { zh: '{who} 于 {at} 同意', en: 'Countersigned by {who}, {at}' },
  'record.returned': { zh: '{who} 于 {at} 退回', en: 'Returned by {who}, {at}' },
  'record.awaiting': { zh: '待复核会签', en: 'Awaiting countersignature' },
  'record.comment': { zh: '复核意见', en: 'Comment' },

  'time.s': { zh: '{n} 秒', en: '{n} s' },
  'time.min': { zh: '{n} 分钟', en: '{n} min' },
  'time.h': { zh: '{n} 小时', en: '{n} h' },
  'unit.m': { zh: '{n} 米', en: '{n} m' },
  'unit.km': { zh: '{n} 公里', en: '{n} km' },
  'common.loading': { zh: '加载中…', en: 'Loading…' },
  'common.none': { zh: '—', en: '—' },
  'common.colon': { zh: '：', en: ': ' },
  'error.network': { zh: '网络连接失败，请检查网络后重试。', en: 'Network error. Check your connection and try again.' },
  'error.generic': { zh: '出错了，请稍后重试。', en: 'Something went wrong. Please try again.' },
  'error.notFound': { zh: '页面不存在。', en: 'Page not found.' },
};

const listeners = new Set();
let current = initialLang();

/** initialLang prefers the user's earlier choice, then the browser's language. */
function initialLang() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === 'zh' || saved === 'en') return saved;
  } catch { /* storage blocked: fall through to the browser's language */ }
  const nav = (navigator.languages && navigator.languages[0]) || navigator.language || '';
  return nav.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

/** lang returns the current language code, "zh" or "en". */
export function lang() {
  return current;
}

/** locale is the BCP 47 tag for Intl formatting in the current language. */
export function locale() {
  return current === 'zh' ? 'zh-CN' : 'en-GB';
}

/** setLang switches language, remembers it and tells listeners to re-render. */
export function setLang(next) {
  if ((next !== 'zh' && next !== 'en') || next === current) return;
  current = next;
  try { localStorage.setItem(STORAGE_KEY, next); } catch { /* not remembered; still switch */ }
  document.documentElement.lang = locale();
  for (const fn of listeners) fn(next);
}

/** onLangChange registers fn to run after a switch; it returns an unsubscribe function. */
export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** t looks a key up and fills {name} placeholders; an unknown key shows itself so it gets noticed. */
export function t(key, params = {}) {
  const entry = messages[key];
  const text = entry ? entry[current] : key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** pick chooses the current language from an API value shaped {zh, en}. */
export function pick(value) {
  if (!value) return '';
  if (typeof value === 'string') return value;
  return value[current] || value.zh || value.en || '';
}

document.documentElement.lang = locale();
