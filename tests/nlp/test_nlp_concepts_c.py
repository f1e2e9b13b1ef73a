"""Concept checks for the breadth round (own sentences, not from any labelled set)."""

from __future__ import annotations

import pytest

from nlp.classifier import classify


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # No strong keyword: the weak cues (lean) pick the nearest enforcement category.
        ("执法的说我挡风玻璃上年检标贴了三张 罚了一百 撕掉不就完了", "rigid"),
        ("执法的拦下来 把我从驾驶室往下拽", "abusive"),
        ("协管拦车 说给他微信转两百就放我走", "rent_seeking"),
        ("执法队在那个下坡藏了个测速 一个礼拜被拍了三回", "profit_driven"),
    ],
)
def test_lean_cues_name_the_category(text: str, category: str) -> None:
    assert classify(text).category == category


def test_other_body_is_not_our_category() -> None:
    # A city-management matter stays 'other' even with a detention word in it.
    assert classify("城管把我的三轮车拖走了 说我乱摆摊").category == "other"


@pytest.mark.parametrize(
    "text",
    [
        "跟人刮了一下 没人受伤 等交警来处理",
        "他说你爱信不信 反正磅是准的",
    ],
)
def test_no_false_alarm_c(text: str) -> None:
    assert classify(text).severity != "urgent"


@pytest.mark.parametrize(
    "text",
    [
        "这个站的磅偏重 每次都多称两吨 罚了我三千",
        "那段山路下雪没人管 昨天又有车滑下去了 路面全是冰",
        "同一个大队的事 我已经投诉过好几回了",
    ],
)
def test_high_severity_families(text: str) -> None:
    assert classify(text).severity == "high"
