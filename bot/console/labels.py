"""zh-CN labels of the console's own screens (what drivers read lives in the text catalog)."""

from __future__ import annotations

from handlers.catalog import text

QUEUE_LABELS = {
    "mine": "我的待办",
    "unit": "本单位",
    "incoming": "待接收转办",
    "overdue": "已超期",
    "due_soon": "即将到期",
    "supervised": "督办件",
    "urgent": "紧急件",
    "discipline": "纪检线索",
    "all": "全部工单",
}

EVENT_LABELS = {
    "create": "受理",
    "sign": "签收",
    "start_handling": "开始处理",
    "reply": "答复投诉人",
    "close": "办结",
    "reject": "不予受理",
    "withdraw": "投诉人撤回",
    "transfer": "转办",
    "accept_transfer": "接收转办",
    "return_transfer": "退回转办",
    "reopen": "重办",
    "note": "记录",
    "supplement": "补充材料",
    "merge": "重复件合并",
    "supervise": "督办",
    "escalate": "预警",
    "request_extension": "申请延期",
    "approve_extension": "批准延期",
    "recategorize": "更正类别",
    "assign": "分派",
    "identity_read": "查看身份",
}

ACTION_LABELS = {
    "sign": "签收",
    "handle": "核查完毕，开始处理",
    "note": "核查记录",
    "reply": "答复投诉人",
    "close": "办结",
    "reject": "不予受理",
    "transfer": "转办",
    "accept": "接收转办",
    "return": "退回转办",
    "extend": "申请延期",
    "approve": "批准延期",
    "assign": "指定承办人",
    "supervise": "下达督办",
    "recategorize": "更正类别",
    "attach": "上传材料",
}

DONE_MESSAGES = {
    "sign": "已签收。",
    "handle": "已转入处理阶段。",
    "note": "核查记录已保存。",
    "reply": "答复已记录，将通过投诉人原渠道发送。",
    "close": "已办结。",
    "reject": "已作不予受理处理，已告知投诉人。",
    "transfer": "已转办，等待对方接收。",
    "accept": "已接收。",
    "return": "已退回。",
    "extend": "延期申请已提交，等待督办人员批准。",
    "approve": "已批准延期。",
    "assign": "已指定承办人。",
    "supervise": "督办已下达。",
    "recategorize": "类别已更正，已记入分类反馈。",
    "attach": "材料已上传。",
    "identity": "",
}

# Refusals the console adds to the staff bot's catalog sentences.
CONSOLE_REFUSALS = {
    "console.bad_category": "请选择正确的类别。",
    "console.same_category": "类别没有变化。",
    "console.transferring": "该工单正在转办中，请先接收或退回后再更正类别。",
}

IDENTITY_REFUSALS = {
    "no_complainant": "该工单没有投诉人信息。",
    "anonymous": "投诉人选择匿名，没有可显示的身份信息。",
    "accused_unit": "被投诉单位不能查看投诉人身份。",
    "sealed": "纪检线索的投诉人身份仅纪检人员可查看。",
    "role": "您的岗位不能查看投诉人身份；如需联系投诉人，请使用「答复投诉人」。",
    "reason": "请写明查看身份的理由（至少4个字）。",
}

UPLOAD_REFUSALS = {
    "too_large": "文件太大，超过上传上限。",
    "bad_type": "只能上传图片、音视频或 PDF 文件。",
    "empty": "文件是空的。",
    "missing": "没有收到文件。",
}

SUPERVISION_LEVELS = {"yellow": "黄牌", "red": "红牌", "listed": "挂牌督办"}
REJECT_REASONS = ("not_transport", "no_facts", "other_procedure")
ANONYMITY = {"real_name": "实名", "anonymous": "匿名", "confidential": "保密"}
HOT_SPOT_KINDS = {"unit": "单位", "station": "站点", "road": "路段", "badge": "执法证号"}


def label(section: str, code: str | None) -> str:
    """A catalog label (ticket_status, category_short, kind, …) or the code itself."""
    if not code:
        return ""
    try:
        return text(f"{section}.{code}")
    except KeyError:
        return code


def refusal(key: str, **values: object) -> str:
    """The sentence for a refused action's key."""
    if key in CONSOLE_REFUSALS:
        return CONSOLE_REFUSALS[key]
    try:
        fields: dict[str, object] = {"ticket_no": "", "reason": "", **values}
        return text(key, "zh", **fields)
    except (KeyError, IndexError):
        return text("staff.refused", ticket_no=values.get("ticket_no", ""))
