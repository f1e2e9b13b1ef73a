"""Concept checks for the second broadening round (own sentences, not from any labelled set)."""

from __future__ import annotations

import pytest

from nlp.amounts import find_amounts
from nlp.classifier import classify


@pytest.mark.parametrize(
    "text",
    [
        "他们拿警棍捅我肚子",
        "说要是再投诉就找人把我腿打断",
        "路政的说知道我孩子在哪上学",
        "车队的兄弟都约好了 后天全部停运",
        "司机被罚了三万 站在桥上说要跳下去",
        "车上的小孩被关在车里 大热天的 不让开门",
        "被他们打得鼻青脸肿",
    ],
)
def test_urgent_families(text: str) -> None:
    assert classify(text).severity == "urgent"


@pytest.mark.parametrize(
    "text",
    [
        "罚了两千 心疼得不行 头疼",
        "轮胎没气了 钉子扎破轮胎 在服务区补的",
        "查个没完没了 态度很不客气",
        "前面封路了 收费站挤着好多车 堵了两个小时",
        "车被扣在停车场 扣了一天",
        "这辈子再也不跑这条线了 干不了了",
        "限高架走不了 撕了个大口子",
    ],
)
def test_no_false_alarm_b(text: str) -> None:
    assert classify(text).severity != "urgent"


@pytest.mark.parametrize(
    ("text", "value"), [("说认识人 3万 车就能出来", 30000), ("卸货场一吨两百", 200)]
)
def test_colloquial_amounts(text: str, value: int) -> None:
    assert find_amounts(text)[0].value == value


def test_blows_name_abusive() -> None:
    assert classify("执法的拿棍子打司机").category == "abusive"


def test_witness_account_is_report() -> None:
    assert classify("有几个协管天天在路口拦车收钱 不给就说超载").kind == "report"
