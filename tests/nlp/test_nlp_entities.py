"""Entity extraction edge cases: plates, money, phones, officers, places, times."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from nlp import extract_entities, mask_identifiers, mask_phone
from nlp.timeexpr import SHANGHAI


@pytest.mark.parametrize(
    ("text", "plates"),
    [
        ("俺车湘J·3K921被扣了", ["湘J3K921"]),
        ("车牌湘j 3k921", ["湘J3K921"]),
        ("ＡＢ湘Ｊ３Ｋ９２１", ["湘J3K921"]),  # full-width
        ("粤BD12345这辆网约车", ["粤BD12345"]),  # new energy, small car: D + 5
        ("浙A12345F是大车", ["浙A12345F"]),  # new energy, large vehicle: 5 + F
        ("挂车冀B1234挂超了", ["冀B1234挂"]),
        ("晋D·K8891", ["晋DK8891"]),
        ("两辆车 鲁Q3F628 和 豫P·6K253", ["鲁Q3F628", "豫P6K253"]),
        ("湘I12345 湘O12345 用了I和O", []),  # I and O are never used
        ("湘J3K9215", []),  # too long: part of something else
        ("京ABCDE", []),  # letters only: a word, not a plate
    ],
)
def test_plates(text: str, plates: list[str]) -> None:
    assert list(extract_entities(text).plates) == plates


@pytest.mark.parametrize(
    ("text", "amounts"),
    [
        ("罚了2000", [2000]),
        ("罚款两千", [2000]),
        ("交了2千", [2000]),
        ("被罚1.5万", [15000]),
        ("要了2k", [2000]),
        ("收了¥300", [300]),
        ("罚款伍佰元", [500]),
        ("收我一千二 外面三百就能换", [1200, 300]),
        ("份子钱七千五", [7500]),
        ("拖欠运费四十多万", [400000]),
        ("一千多块", [1000]),
        ("罚1,500元", [1500]),
        ("停车费一天一百五 光停车费就一千八", [1800, 150]),  # the total before the rate
        ("罚一万 人家才罚三千 俺那单才挣38块", [10000, 3000, 38]),
        ("听说每台每月交两千一台", [2000]),
        ("超了0.8吨 罚2000", [2000]),
        ("十二万公里的车 罚了两千", [2000]),
        ("限速从80突然变成40 罚了200", [200]),
        ("限高2米5 罚款200", [200]),
        ("电话13800001234 罚了500", [500]),
        ("打12328投诉 罚了500", [500]),
        ("扣车十五天 罚了500", [500]),
        ("三点钟到的 一天跑两趟", []),
        ("十几万的车 几千块钱", []),
        ("超载百分之十", []),
    ],
)
def test_amounts(text: str, amounts: list[float]) -> None:
    assert list(extract_entities(text).amounts_yuan) == amounts


def test_amounts_are_ints_when_whole() -> None:
    (value,) = extract_entities("罚了2000").amounts_yuan
    assert isinstance(value, int)


def test_phones() -> None:
    found = extract_entities("电话13800001234 座机0731-88886666 也可以打 138 0000 5678").phones
    assert found == ("13800001234", "13800005678", "0731-88886666")


def test_no_word_boundaries_next_to_chinese() -> None:
    # \b would not split 在G4京港澳高速 or 打13800001234请回电.
    entities = extract_entities("在G4京港澳高速被拦 打13800001234请回电")
    assert entities.routes == ("G4",)
    assert entities.phones == ("13800001234",)
    assert entities.locations == ("G4京港澳高速",)


def test_badges() -> None:
    assert extract_entities("胸牌号湘交执0512 不出示证件").badges == ("湘交执0512",)
    assert extract_entities("他的工号：A1087").badges == ("A1087",)
    assert extract_entities("执法证号12345678").badges == ("12345678",)


@pytest.mark.parametrize(
    ("text", "locations"),
    [
        ("在长沙绕城高速李家塘站口查车", ["长沙绕城高速李家塘站口"]),
        ("连霍高速三门峡西收费站下来", ["连霍高速三门峡西收费站"]),
        ("S20高速某服务区出口", ["S20高速某服务区出口"]),
        ("107国道XX镇路口摆了锥桶", ["107国道XX镇路口"]),
        ("举报XX县交通运输综合执法大队", ["XX县交通运输综合执法大队"]),
        ("S12滨州段新装了抓拍", ["S12滨州段"]),
        ("X205县道那段路灯坏了", ["X205县道"]),
        ("今天高速上车真多", []),
        ("在那个出口", []),
    ],
)
def test_locations(text: str, locations: list[str]) -> None:
    assert list(extract_entities(text).locations) == locations


def test_stations_and_units() -> None:
    entities = extract_entities("耒阳超限检测站的人和耒阳市交通运输局")
    assert entities.stations == ("耒阳超限检测站",)
    assert entities.units == ("耒阳市交通运输局",)


def test_relative_time_resolves_against_message_time(now: datetime) -> None:
    entities = extract_entities("昨天下午三点在站里被扣", now=now)
    assert entities.datetime_texts == ("昨天下午三点",)
    assert entities.datetimes == (datetime(2025, 3, 19, 15, 0, tzinfo=SHANGHAI),)
    assert entities.datetimes[0].utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("上周四晚上十点左右", datetime(2025, 3, 13, 22, 0, tzinfo=SHANGHAI)),
        ("3月12号", datetime(2025, 3, 12, 0, 0, tzinfo=SHANGHAI)),
        ("12月30号", datetime(2024, 12, 30, 0, 0, tzinfo=SHANGHAI)),  # last year's
        ("前天晚上8:30", datetime(2025, 3, 18, 20, 30, tzinfo=SHANGHAI)),
        ("今天凌晨两点", datetime(2025, 3, 20, 2, 0, tzinfo=SHANGHAI)),
    ],
)
def test_time_expressions(now: datetime, text: str, expected: datetime) -> None:
    assert extract_entities(text, now=now).datetimes == (expected,)


def test_coarse_times_keep_the_text_only(now: datetime) -> None:
    entities = extract_entities("去年冬天的事 上个月又来了 一点点也罚", now=now)
    assert entities.datetime_texts == ("去年冬天", "上个月")
    assert entities.datetimes == ()


def test_decision_numbers_platforms_tonnage_axles() -> None:
    entities = extract_entities("决定书湘交罚〔2024〕第123号 滴滴和T3都封号 六轴车超了2.5吨")
    assert entities.decision_numbers == ("湘交罚〔2024〕第123号",)
    assert entities.platforms == ("滴滴", "T3出行")
    assert entities.axles == (6,)
    assert entities.tonnages == (2.5,)


def test_contract_single_value_or_list() -> None:
    one = extract_entities("罚了2000").to_contract()
    assert one == {"amount_yuan": 2000}
    two = extract_entities("罚了2000 又罚了500").to_contract()
    assert two == {"amount_yuan": [2000, 500]}
    assert extract_entities("没什么").to_contract() == {}


def test_masking() -> None:
    assert mask_phone("电话13812345678请回电") == "电话138****5678请回电"
    assert mask_phone("座机0731-88886666") == "座机0731-****6666"
    masked = mask_identifiers("湘J·3K921 车主 13812345678 身份证430102199001011234")
    assert "湘J***21" in masked
    assert "138****5678" in masked
    assert "1990" not in masked
    assert mask_identifiers("没有号码") == "没有号码"
