"""Fixed label codes (DOMAIN.md §2–4) and their plain-language zh-CN names."""

from __future__ import annotations

from typing import Final

KINDS: Final = ("complaint", "report", "inquiry", "suggestion", "praise")

CATEGORIES: Final = (
    "profit_driven",
    "irregular",
    "rigid",
    "abusive",
    "rent_seeking",
    "service",
    "infrastructure",
    "other",
)

# The five categories of the 2023 national campaign; rent_seeking outranks the others.
ENFORCEMENT_CATEGORIES: Final = frozenset(
    {"profit_driven", "irregular", "rigid", "abusive", "rent_seeking"}
)

SEVERITIES: Final = ("urgent", "high", "normal", "low")

DOMAINS: Final = (
    "road_freight",
    "taxi",
    "ride_hailing",
    "road_passenger",
    "highway",
    "waterway",
    "driver_training",
)

# Subcategory -> the category its keywords vote for (None: cross-cutting, a tag only).
SUBCATEGORY_VOTES: Final[dict[str, str | None]] = {
    "overload_station": None,
    "vehicle_detention": None,
    "e_monitoring": None,
    "auxiliary_staff": None,
    "fine_receipt": "profit_driven",
    "entrapment": "abusive",
    "body_cam": "irregular",
    "first_offense": "rigid",
    "illegal_op_ruling": "irregular",
    "inaction": "irregular",
    "service_quality": "service",
    "platform_dispute": "service",
    "freight_payment": "service",
    "toll_fee": "service",
    "licensing_admin": "service",
    "illegal_operation": "service",
    "road_facility": "infrastructure",
    "service_area_facility": "infrastructure",
}

SUBCATEGORIES: Final = tuple(SUBCATEGORY_VOTES)

# Where a cross-cutting subcategory leans when nothing else names the category: complaints
# about stations and cameras are mostly about money, about detentions mostly about procedure.
CROSS_CUTTING_LEANS: Final[dict[str, str]] = {
    "overload_station": "profit_driven",
    "e_monitoring": "profit_driven",
    "vehicle_detention": "irregular",
    "auxiliary_staff": "irregular",
}

# Which categories a subcategory may decorate; cross-cutting ones fit any enforcement category.
SUBCATEGORY_FITS: Final[dict[str, frozenset[str]]] = {
    code: (frozenset({parent}) if parent else ENFORCEMENT_CATEGORIES)
    for code, parent in SUBCATEGORY_VOTES.items()
}

KIND_LABELS: Final[dict[str, str]] = {
    "complaint": "投诉（自己的权益受到侵害）",
    "report": "举报（反映他人的违法违规行为）",
    "inquiry": "咨询（问政策、问流程、问进度）",
    "suggestion": "建议（改进规定或服务）",
    "praise": "表扬（感谢执法人员或单位）",
}

CATEGORY_LABELS: Final[dict[str, str]] = {
    "profit_driven": "逐利执法（乱罚款、乱收费、罚款不开票等）",
    "irregular": "执法不规范（不亮证、不开记录仪、随意拦车、扣车扣证等）",
    "rigid": "执法方式简单僵化（一刀切、运动式执法、轻微违法不给改正机会等）",
    "abusive": "执法粗暴（辱骂、推搡、威胁、钓鱼执法、不听解释等）",
    "rent_seeking": "执法寻租（要红包、私了、黄牛捞车、收保护费等）",
    "service": "运输服务与平台（平台抽成封号、运费拖欠、收费站、办证等）",
    "infrastructure": "道路与设施（路面坑洼、标志不清、服务区设施等）",
    "other": "其他（与交通运输执法无关或暂时说不清）",
}

SUBCATEGORY_LABELS: Final[dict[str, str]] = {
    "overload_station": "治超站、过磅、卸货",
    "vehicle_detention": "扣车扣证",
    "fine_receipt": "罚款不开票",
    "entrapment": "钓鱼执法",
    "body_cam": "执法记录仪",
    "first_offense": "首违不罚、轻微不罚",
    "illegal_op_ruling": "非法营运认定",
    "e_monitoring": "电子监控、抓拍",
    "auxiliary_staff": "协管员、辅助人员",
    "inaction": "不作为、推诿",
    "service_quality": "运输服务质量",
    "platform_dispute": "平台纠纷",
    "freight_payment": "运费结算",
    "toll_fee": "通行费、ETC",
    "licensing_admin": "证照办理",
    "illegal_operation": "非法营运、黑车",
    "road_facility": "道路设施",
    "service_area_facility": "服务区设施",
}

SEVERITY_LABELS: Final[dict[str, str]] = {
    "urgent": "紧急（暴力、受伤、威胁、群体性事件）",
    "high": "较重（长期扣车、寻租线索、捏造案情等）",
    "normal": "一般",
    "low": "较轻（咨询、建议、表扬）",
}

DOMAIN_LABELS: Final[dict[str, str]] = {
    "road_freight": "道路货运",
    "taxi": "出租汽车",
    "ride_hailing": "网约车",
    "road_passenger": "道路客运",
    "highway": "公路与高速",
    "waterway": "水路",
    "driver_training": "驾驶员培训",
}

# Label codes by lexicon section; `trigger` and `jurisdiction` names are free.
SECTION_CODES: Final[dict[str, tuple[str, ...]]] = {
    "kind": KINDS,
    "category": CATEGORIES,
    "subcategory": SUBCATEGORIES,
    "domain": DOMAINS,
}
