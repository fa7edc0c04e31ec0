package domain

// Catalogue is the built-in permit catalogue of a public security approval
// office (PRODUCT.md), seeded on first start. Target days are working days
// from submission; 0 means the same day (当日申请当日办结). Commitment-based
// types (承诺办) allow 60 days to hand in owed materials.
var Catalogue = []PermitType{
	{
		Code: "blasting-operator", Name: Text{"爆破作业人员许可", "Blasting operator licence"},
		CommitmentAllowed: true, SupplementDays: 60, TargetDays: 0,
		Checklist: []ChecklistItem{
			{ID: "magazine-storage", Text: Text{"爆破器材库房或临时存放点符合安全距离要求", "Explosives magazine or temporary store keeps the required safety distances"}},
			{ID: "training-records", Text: Text{"作业人员培训考核记录齐全", "Operators' training and examination records are complete"}},
			{ID: "safety-equipment", Text: Text{"防护用品与警戒设施配备到位", "Protective equipment and cordon materials are on hand"}},
		},
		Materials: []Text{{"身份证明", "Identity document"}, {"培训合格证明", "Training certificate"}, {"体检证明", "Medical certificate"}},
	},
	{
		Code: "hotel", Name: Text{"旅馆业特种行业许可", "Hotel special-trade licence"},
		CommitmentAllowed: true, SupplementDays: 60, TargetDays: 0,
		Checklist: []ChecklistItem{
			{ID: "fire-exits", Text: Text{"安全出口标识清晰且畅通无阻", "Fire exits are marked and unobstructed"}, Hint: &Text{"拍摄每个安全出口及其标识，从走廊看向出口，能看清门是否畅通。", "Film each fire exit and its sign from the corridor, so it shows whether the door is clear."}},
			{ID: "guest-registration", Text: Text{"旅客住宿登记系统终端已安装", "Guest registration terminal is installed"}, Hint: &Text{"拍摄前台的旅客登记终端，屏幕和设备标签要清晰可读。", "Film the registration terminal at the front desk; its screen and device label must be legible."}},
			{ID: "cctv-entrances", Text: Text{"出入口安装视频监控", "CCTV covers the entrances"}, Hint: &Text{"先拍出入口的摄像头，再拍监控屏幕上该出入口的画面。", "Film the camera at each entrance, then the monitor showing that entrance."}},
			{ID: "valuables-storage", Text: Text{"设有旅客贵重物品保管设施", "Storage for guests' valuables is provided"}, Hint: &Text{"拍摄贵重物品保险柜或寄存处及其上锁情况。", "Film the safe or deposit room for valuables and how it locks."}},
		},
		Materials: []Text{{"营业执照", "Business licence"}, {"房屋产权或租赁证明", "Proof of ownership or lease"}, {"消防安全检查合格证明", "Fire safety inspection certificate"}, {"平面图", "Floor plan"}},
	},
	{
		Code: "seal-engraving", Name: Text{"公章刻制业特种行业许可", "Seal-engraving special-trade licence"},
		CommitmentAllowed: true, SupplementDays: 60, TargetDays: 0,
		Checklist: []ChecklistItem{
			{ID: "engraving-equipment", Text: Text{"刻制设备与备案系统联网", "Engraving equipment is connected to the filing system"}},
			{ID: "seal-storage", Text: Text{"印章及印模有专用保管柜", "Seals and impressions are kept in a dedicated locked cabinet"}},
			{ID: "cctv-workshop", Text: Text{"刻制作业区安装视频监控", "CCTV covers the engraving workshop"}},
		},
		Materials: []Text{{"营业执照", "Business licence"}, {"经营场所证明", "Proof of premises"}, {"从业人员名单", "List of staff"}},
	},
	{
		Code: "fireworks-transport", Name: Text{"烟花爆竹道路运输许可", "Fireworks road transport permit"},
		CommitmentAllowed: true, SupplementDays: 60, TargetDays: 0,
		Checklist: []ChecklistItem{
			{ID: "vehicle-markings", Text: Text{"运输车辆危险货物标志齐全", "Vehicle carries complete dangerous-goods markings"}},
			{ID: "extinguishers", Text: Text{"车辆配备有效灭火器", "Vehicle carries working fire extinguishers"}},
			{ID: "cargo-securing", Text: Text{"货物装载牢固、不超载", "Cargo is secured and within load limits"}},
		},
		Materials: []Text{{"道路危险货物运输许可证", "Dangerous goods road transport licence"}, {"驾驶员及押运员资格证", "Driver and escort qualifications"}, {"购销合同", "Sales contract"}},
	},
	{
		Code: "internet-cafe", Name: Text{"互联网上网服务营业场所信息网络安全审核", "Internet café network security review"},
		CommitmentAllowed: true, SupplementDays: 60, TargetDays: 0,
		Checklist: []ChecklistItem{
			{ID: "security-software", Text: Text{"安装网络安全管理系统并正常运行", "Network security management software is installed and running"}},
			{ID: "real-name-registration", Text: Text{"上网人员实名登记设备到位", "Real-name registration device is in place"}},
			{ID: "cctv-coverage", Text: Text{"营业区域视频监控全覆盖", "CCTV covers the whole customer area"}},
			{ID: "fire-exits", Text: Text{"安全出口标识清晰且畅通无阻", "Fire exits are marked and unobstructed"}},
		},
		Materials: []Text{{"营业执照", "Business licence"}, {"网络安全管理制度", "Network security policy"}, {"计算机清单", "Inventory of computers"}},
	},
	{
		Code: "bank-security", Name: Text{"金融机构安全防范设施建设方案审批", "Financial institution security facility plan approval"},
		CommitmentAllowed: true, SupplementDays: 60, TargetDays: 5,
		Checklist: []ChecklistItem{
			{ID: "vault-doors", Text: Text{"金库门与防护结构符合标准", "Vault doors and protective structure meet the standard"}},
			{ID: "alarm-system", Text: Text{"入侵报警系统联网并可测试", "Intrusion alarm is connected and testable"}},
			{ID: "cctv-recording", Text: Text{"视频监控覆盖并保存30天以上", "CCTV covers the premises and keeps 30 days of footage"}},
			{ID: "cash-counter", Text: Text{"营业柜台防护达标", "Teller counters meet protection requirements"}},
		},
		Materials: []Text{{"安全防范设施建设方案", "Security facility construction plan"}, {"设计图纸", "Design drawings"}, {"设备清单", "Equipment list"}},
	},
	{
		Code: "precursor-purchase", Name: Text{"第三类易制毒化学品购买备案", "Category-III precursor chemical purchase filing"},
		CommitmentAllowed: false, SupplementDays: 15, TargetDays: 0,
		Checklist: []ChecklistItem{
			{ID: "storage-room", Text: Text{"专用仓库或储存柜并上锁", "Dedicated locked store or cabinet"}},
			{ID: "ledger", Text: Text{"出入库台账完整", "Complete stock ledger"}},
			{ID: "usage-matches", Text: Text{"购买用途与生产经营范围一致", "Purpose matches the business scope"}},
		},
		Materials: []Text{{"营业执照", "Business licence"}, {"购买合同", "Purchase contract"}, {"经办人身份证明", "Handler's identity document"}},
	},
	{
		Code: "precursor-transport", Name: Text{"第三类易制毒化学品运输备案", "Category-III precursor chemical transport filing"},
		CommitmentAllowed: false, SupplementDays: 15, TargetDays: 0,
		Checklist: []ChecklistItem{
			{ID: "vehicle-condition", Text: Text{"运输车辆状况良好并有标识", "Vehicle is in good condition and marked"}},
			{ID: "packaging", Text: Text{"包装完好、标签清晰", "Packaging is intact and clearly labelled"}},
			{ID: "route-documents", Text: Text{"运输路线与单据一致", "Route matches the transport documents"}},
		},
		Materials: []Text{{"运输合同", "Transport contract"}, {"承运人资质", "Carrier's qualification"}, {"购买备案证明", "Purchase filing certificate"}},
	},
}
