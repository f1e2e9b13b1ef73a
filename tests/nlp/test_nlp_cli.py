"""`complaintbot classify`: one JSON object per line; a bad line never stops a batch."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bot.cli import classify as command

FIXTURES = Path(__file__).parent / "fixtures"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    parser = argparse.ArgumentParser(prog="complaintbot")
    command.register(parser.add_subparsers())
    args = parser.parse_args(["classify", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, "罚了俺两千 不给开票 湘J·3K921")
    assert code == 0
    (obj,) = [json.loads(line) for line in lines]
    assert list(obj) == [
        "id", "kind", "category", "subcategory", "severity", "confidence", "matched", "entities",
    ]  # fmt: skip
    assert obj["category"] == "profit_driven"
    assert obj["entities"] == {"plate": "湘J3K921", "amount_yuan": 2000}
    assert "不给开票" in obj["matched"]["profit_driven"]


def test_jsonl_with_bad_lines(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    lines = [
        '{"id": "a", "text": "执法的骂人"}'.encode(),
        b"\xff\xfe not utf-8",
        b"not json",
        b'{"id": "b"}',
        b"[1, 2]",
        b"",
        '{"id": "c", "text": "昨天下午三点被打了", "sent_at": "2025-03-20T10:00+08:00"}'.encode(),
        b'{"id": "d", "text": "x", "sent_at": "soon"}',
        b'{"id": "e", "text": ""}',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    code, lines, err = run(capsys, "--jsonl", str(path))
    assert code == 1  # some lines failed, all were answered
    objs = [json.loads(line) for line in lines]
    assert [o.get("id") for o in objs] == ["a", None, None, "b", None, "c", "d", "e"]
    assert objs[0]["category"] == "abusive"
    assert "invalid UTF-8" in objs[1]["error"] and objs[1]["line"] == 2
    assert "invalid JSON" in objs[2]["error"]
    assert '"text"' in objs[3]["error"]
    assert "JSON object" in objs[4]["error"]
    assert (
        objs[5]["severity"] == "urgent" and objs[5]["entities"]["datetime_text"] == "昨天下午三点"
    )
    assert "sent_at" in objs[6]["error"]
    assert objs[7]["kind"] == "inquiry" and objs[7]["uncertain"] is True
    assert "line 2" in err


def test_eval_prints_scores(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, "--eval", str(FIXTURES / "extra_set.jsonl"))
    assert code == 0
    text = "\n".join(lines)
    needles = ["kind accuracy", "category macro-F1", "urgent recall", "plate: exact"]
    needles += ["amount_yuan: exact", "category confusion", "category accuracy for praise"]
    for needle in needles:
        assert needle in text


def test_lexicon_error_is_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[category.abusive.keywords]\n"骂人" = "a lot"\n', encoding="utf-8")
    code, _, err = run(capsys, "--lexicon", str(bad), "测试")
    assert code == 2
    assert f"{bad}:2:" in err


def test_needs_exactly_one_source(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys)
    assert code == 2 and "TEXT" in err
