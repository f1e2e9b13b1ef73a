"""The rights knowledge base answers the questions drivers ask, citing the law."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp import LexiconError, answer_question
from nlp.knowledge import default_knowledge, load_knowledge


def test_at_least_fifteen_entries_each_citing_an_article() -> None:
    entries = default_knowledge().entries
    assert len(entries) >= 15
    for entry in entries:
        assert "第" in entry.article and "条" in entry.article
        assert "法" in entry.article
        assert len(entry.answer) > 30


@pytest.mark.parametrize(
    ("question", "entry_id", "article"),
    [
        ("罚款不给开收据 我能不交吗", "receipt", "第七十条"),
        ("执法人员查车必须出示证件吗 不出示我能拒绝不", "credentials", "第五十五条"),
        ("路上当场罚款最多能罚多少", "on_the_spot_limit", "第五十一条"),
        ("执法的能当场收现金吗", "cash_on_the_spot", "第六十八条"),
        ("首违不罚 货车适用吗", "first_offense", "第三十三条"),
        ("车被扣了 多久能拿回来 要带啥材料", "detention_period", "第二十五条"),
        ("车扣了停车费要我交吗", "storage_fee", "第二十六条"),
        ("被罚款不服 复议去哪 多少天以内", "appeal", "第七条"),
        ("请问罚款在哪交 网上能交不", "pay_fine", "第六十七条"),
        ("同一车货能罚两次吗", "double_fine", "第二十九条"),
        ("执法队下罚款指标合法吗", "quota", "第七十四条"),
        ("我申辩了会不会罚得更重", "defence", "第四十五条"),
        ("交警扣分找谁投诉", "traffic_police", "第七十五条"),
        ("12328能投诉执法的吗", "where_to_complain", "第七十五条"),
        ("电子眼抓拍罚款合法吗", "e_monitoring", "第四十一条"),
        ("钓鱼执法的证据算数吗", "illegal_evidence", "第四十六条"),
        ("有人说私下转账就能放车 是真的吗", "bribe", "第六十七条"),
        ("罚这么多能要求听证吗", "hearing", "第六十四条"),
        ("执法的不开记录仪行吗", "recording", "第四十七条"),
    ],
)
def test_questions_find_their_answer(question: str, entry_id: str, article: str) -> None:
    answer = answer_question(question)
    assert answer is not None, question
    assert answer.id == entry_id
    assert article in answer.article
    assert answer.matched


@pytest.mark.parametrize("text", ["在吗", "今天天气不错", "", "给俺推荐个路线"])
def test_no_answer_for_unrelated_text(text: str) -> None:
    assert answer_question(text) is None


def test_bad_knowledge_file(tmp_path: Path) -> None:
    path = tmp_path / "kb.toml"
    path.write_text('[[entry]]\nid = "x"\nquestion = "q"\n', encoding="utf-8")
    with pytest.raises(LexiconError, match="answer is required") as caught:
        load_knowledge(path)
    assert caught.value.line == 2
    path.write_text("[[entry]\n", encoding="utf-8")
    with pytest.raises(LexiconError) as caught:
        load_knowledge(path)
    assert caught.value.line == 1
