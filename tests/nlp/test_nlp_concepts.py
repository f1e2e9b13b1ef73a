"""Concept checks written for the broadened lexicon (own sentences, not from any labelled set)."""

from __future__ import annotations

import pytest

from nlp.amounts import find_amounts
from nlp.classifier import classify


@pytest.mark.parametrize(
    "text",
    [
        "他们把我关在值班室 不让我打电话",
        "站长说你信不信我让你在这条路上跑不下去",
        "头磕破了 满脸是血",
        "二三十个的哥约了明天去交通局门口讨说法",
        "油罐车翻了 在往外漏 味道很呛",
        "我爸被他们推了一下 心脏病犯了 现在在急诊",
    ],
)
def test_urgent_cues(text: str) -> None:
    assert classify(text).severity == "urgent"


@pytest.mark.parametrize(
    "text",
    [
        "辛辛苦苦的血汗钱 就这么被罚了",
        "罚了120 没给票",
        "收费站堵了两个小时 一群车排队",
        "隧道里太黑 吓死人",
        "篷布破了个洞 还没巴掌大 也罚",
    ],
)
def test_no_false_alarm(text: str) -> None:
    assert classify(text).severity != "urgent"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("保管费 七七八八三千多", 3000),
        ("说好两百 到了不给", 200),
        ("每次两百 一个月拍了四回", 200),
        ("一共花了两万来块", 20000),
        ("罚了1.5w", 15000),
    ],
)
def test_fuzzy_amounts(text: str, value: int) -> None:
    assert [a.value for a in find_amounts(text)][:1] == [value]


def test_money_words_that_are_not_money() -> None:
    assert find_amounts("说俺们就欠收拾 罚款") == []


def test_traffic_police_matter_is_other_but_normal() -> None:
    result = classify("交警扣了我三分 我根本没闯灯 不服")
    assert (result.category, result.severity) == ("other", "normal")


def test_official_relatives_are_rent_seeking() -> None:
    result = classify("站里扣的车只能叫一家拖车 老板是队长的小舅子 一趟六百")
    assert result.category == "rent_seeking"


def test_paid_more_than_the_receipt_says() -> None:
    result = classify("单子上写两百 实际收了我五百")
    assert result.category == "rent_seeking"
