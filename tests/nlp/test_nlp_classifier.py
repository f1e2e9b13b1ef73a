"""Classification of real-looking driver messages, one behaviour per test."""

from __future__ import annotations

import pytest

from nlp import Classification, Classifier, classify
from nlp.labels import CATEGORIES, CATEGORY_LABELS, KINDS, SEVERITIES


def check(
    classifier: Classifier, text: str, kind: str, category: str, severity: str | None = None
) -> Classification:
    result = classifier.classify(text)
    assert (result.kind, result.category) == (kind, category), result.explanation
    if severity is not None:
        assert result.severity == severity, result.explanation
    return result


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("罚了俺一千五 问他要票 他说没有 让扫个人二维码交", "profit_driven"),
        ("这个月他们有罚款任务 月底天天蹲在收费站口 专门等大车", "profit_driven"),
        ("拖车费八百 保管费一天一百 这些费凭啥让我们出", "profit_driven"),
        ("查车的两个人都不亮证 我问他要执法证 他说你管不着", "irregular"),
        ("执法仪一直关着 我拿手机录 他不让我录像", "irregular"),
        ("车扣了半个月 一张扣押清单都没给我", "irregular"),
        ("轮胎有点磨损也罚 都不给整改的机会 一刀切", "rigid"),
        ("最近搞集中整治 一天被查四五回 过了这阵子又没人管", "rigid"),
        ("那个执法的张嘴就骂人 还推搡我", "abusive"),
        ("有人假扮乘客叫车 上车就被执法队截住 这就是钓鱼执法", "abusive"),
        ("执法员暗示要红包 给了就不罚 不给就扣车", "rent_seeking"),
        ("车被扣后来了个中介 说交钱就放车 他跟队里有人", "rent_seeking"),
        ("滴滴抽成越来越高 一单抽走三成 还动不动封号", "service"),
        ("货主拖欠运费三个月了 物流公司也不管", "service"),
        ("ETC重复扣费 过一次收费站扣了两回", "service"),
        ("国道上坑坑洼洼的 下雨全是积水 也没人修", "infrastructure"),
        ("服务区厕所太脏 大车车位也不够", "infrastructure"),
    ],
)
def test_complaint_categories(classifier: Classifier, text: str, category: str) -> None:
    result = classifier.classify(text)
    assert result.kind in ("complaint", "report"), result.explanation
    assert result.category == category, result.explanation
    assert result.matched.get(category), "the deciding keywords are reported"


def test_negated_abuse_with_good_attitude_is_praise(classifier: Classifier) -> None:
    result = check(classifier, "执法员没骂人 态度挺好", "praise", "abusive", "low")
    assert all("骂人" not in words for words in result.matched.values())


def test_negation_drops_the_keyword_but_not_longer_words(classifier: Classifier) -> None:
    assert classifier.classify("他们没打人 也没推我").severity != "urgent"
    # 没收 is one word (confiscate), not 没 + 收.
    assert classifier.classify("没收了我的驾驶证").category == "irregular"
    # A rhetorical question asserts: 这不是钓鱼执法是啥.
    assert classifier.classify("这不是钓鱼执法是啥").category == "abusive"


def test_absence_is_not_negation(classifier: Classifier) -> None:
    result = classifier.classify("查车的时候执法记录仪没开 也没有出示证件")
    assert result.category == "irregular"
    assert result.subcategory == "body_cam"


def test_praise_suppresses_complaint_routing(classifier: Classifier) -> None:
    result = check(
        classifier, "表扬一下收费站口的执法队员 虽然罚了款但是讲道理 心服口服", "praise", "abusive"
    )
    assert result.severity == "low"


def test_praise_names_its_topic(classifier: Classifier) -> None:
    check(classifier, "第一次被查 执法员说首违不罚 教育了几句就让我走了 谢谢", "praise", "rigid")
    check(classifier, "路修好了 坑都填平了 点赞", "praise", "infrastructure")


def test_rent_seeking_outranks_other_enforcement(classifier: Classifier) -> None:
    result = check(
        classifier, "罚款不开票 还暗示塞烟就少罚 不塞就扣车", "complaint", "rent_seeking"
    )
    assert result.severity == "high"  # rent_seeking floor (settings.category_severity)
    assert "profit_driven" in result.alternatives


def test_how_to_pay_a_fine_is_an_inquiry(classifier: Classifier) -> None:
    check(classifier, "请问罚款在哪里交 能不能手机上交", "inquiry", "other", "low")


def test_inquiry_with_a_problem_names_it(classifier: Classifier) -> None:
    check(classifier, "执法人员不出示证件 我可以拒绝检查吗", "inquiry", "irregular", "low")


def test_suggestion(classifier: Classifier) -> None:
    check(classifier, "建议收费站多开几条货车道", "suggestion", "infrastructure", "low")


def test_report_of_someone_else(classifier: Classifier) -> None:
    check(classifier, "举报 火车站出站口天天有黑车拉客 漫天要价", "report", "service")


def test_injury_is_urgent_and_an_emergency(classifier: Classifier) -> None:
    result = check(
        classifier, "执法的动手打人 我头都打出血了 现在还不让走", "complaint", "abusive", "urgent"
    )
    assert result.emergency
    assert "120" in result.emergency_calls
    assert "请立即拨打" in result.explanation


def test_mass_incident_is_urgent_without_emergency_call(classifier: Classifier) -> None:
    result = classifier.classify("治超站乱罚款 上百个司机把国道堵上了 说要罢运")
    assert result.severity == "urgent"
    assert not result.emergency


def test_threat_is_urgent(classifier: Classifier) -> None:
    assert classifier.classify("执法人员威胁我 说再投诉就让我跑不下去").severity == "urgent"


def test_long_detention_is_high(classifier: Classifier) -> None:
    assert classifier.classify("车被扣了二十天 一直不给处理").severity == "high"


def test_traffic_police_is_out_of_jurisdiction(classifier: Classifier) -> None:
    result = classifier.classify("交警扣了我驾照六分 我要投诉")
    assert result.out_of_jurisdiction == "traffic_police"
    assert result.jurisdiction_channel and "122" in result.jurisdiction_channel
    assert classifier.classify("不是交警也不是路政 是镇上的人在拦车").out_of_jurisdiction is None


def test_traditional_characters(classifier: Classifier) -> None:
    result = classifier.classify("執法人員罰款不開票，還態度惡劣")
    assert result.category == "profit_driven"
    assert result.kind == "complaint"


def test_full_width_and_case(classifier: Classifier) -> None:
    result = classifier.classify("ＥＴＣ重复扣费　两回")
    assert result.category == "service"
    assert result.subcategory == "toll_fee"


def test_homophone_spelling_fixes(classifier: Classifier) -> None:
    # Voice input writes 发款 for 罚款 and 路正 for 路政.
    result = classifier.classify("路正的人要发款一千五 票也没给我")
    assert result.category == "profit_driven"
    assert result.domain == "highway"


def test_dialect(classifier: Classifier) -> None:
    result = classifier.classify("恁这执法的咋恁横 一句话不对就吼俺")
    assert result.category == "abusive"


def test_chit_chat_is_uncertain_other(classifier: Classifier) -> None:
    result = classifier.classify("在吗 测试一下")
    assert (result.kind, result.category, result.severity) == ("inquiry", "other", "low")


def test_low_confidence_keeps_a_guess_and_flags_uncertain(classifier: Classifier) -> None:
    result = classifier.classify("他们那样搞 不太好吧")
    assert result.uncertain
    assert result.kind in KINDS and result.category in CATEGORIES
    assert result.to_contract("x")["uncertain"] is True


def test_domain(classifier: Classifier) -> None:
    assert classifier.classify("网约车被查 说我没有运输证 罚了一万").domain == "ride_hailing"
    assert classifier.classify("半挂车过磅超了两吨 罚了两千").domain == "road_freight"
    assert classifier.classify("出租车公司份子钱又涨了").domain == "taxi"


def test_result_shape_and_contract(classifier: Classifier) -> None:
    result = classifier.classify("3月12号在G4京港澳高速 湘J·3K921 被罚2000 没给票 电话13800001234")
    assert result.kind in KINDS and result.category in CATEGORIES and result.severity in SEVERITIES
    assert 0.0 <= result.confidence <= 1.0
    assert result.explanation.startswith("判断为")
    contract = result.to_contract("dev-1")
    assert list(contract)[:8] == [
        "id", "kind", "category", "subcategory", "severity", "confidence", "matched", "entities",
    ]  # fmt: skip
    assert contract["entities"]["plate"] == "湘J3K921"
    assert contract["entities"]["amount_yuan"] == 2000
    assert contract["entities"]["phone"] == "13800001234"
    assert set(CATEGORY_LABELS) == set(CATEGORIES)


def test_alternatives_are_other_categories(classifier: Classifier) -> None:
    result = classifier.classify("罚款不给票 态度还很差 骂人")
    assert result.category not in result.alternatives
    assert len(result.alternatives) <= 3


def test_module_level_classify_uses_the_default(classifier: Classifier) -> None:
    assert classify("罚款不开票").category == "profit_driven"


@pytest.mark.parametrize(
    "text",
    ["", "   ", "🙂🙂🙂👍", "\x00\x01\x07\x1b[31m", "\ud800坏", "？？？", "a" * 10, "罚" * 50_000],
)
def test_bad_input_gives_a_result(classifier: Classifier, text: str) -> None:
    result = classifier.classify(text)
    assert result.kind in KINDS
    assert result.to_contract(None)["kind"] == result.kind


def test_100_kb_message(classifier: Classifier) -> None:
    text = ("执法人员不开票还骂人 " * 10_000)[:100_000]
    result = classifier.classify(text)
    assert result.category in ("profit_driven", "abusive")


def test_non_string_is_a_type_error(classifier: Classifier) -> None:
    with pytest.raises(TypeError):
        classifier.classify(None)  # type: ignore[arg-type]
