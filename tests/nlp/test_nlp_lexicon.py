"""The lexicon as data: overrides from a file, and errors that name file, line and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp import LexiconError, load_lexicon
from nlp.classifier import Classifier
from nlp.lexicon import base_files
from nlp.patterns import PatternError, parse_pattern


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "extra.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_shipped_lexicon_loads_and_covers_every_label() -> None:
    lexicon = load_lexicon()
    labels = {(e.section, e.label) for e in lexicon.entries}
    for category in ("profit_driven", "irregular", "rigid", "abusive", "rent_seeking", "service"):
        assert ("category", category) in labels
    for kind in ("complaint", "report", "inquiry", "suggestion", "praise"):
        assert ("kind", kind) in labels
    assert {"injury", "violence", "threat", "mass_incident"} <= set(lexicon.triggers)
    assert lexicon.platforms["货拉拉"] == "货拉拉"
    assert len(base_files()) >= 3


def test_override_file_extends_and_overrides(tmp_path: Path) -> None:
    extra = write(
        tmp_path,
        """
[settings]
uncertain_threshold = 0.6

[category.rent_seeking.keywords]
"喝茶钱" = 4.5
"红包" = 0

[tokenizer]
words = ["喝茶钱"]
""",
    )
    lexicon = load_lexicon(extra)
    assert lexicon.settings.uncertain_threshold == 0.6
    keys = {e.key for e in lexicon.entries if e.label == "rent_seeking"}
    assert "喝茶钱" in keys
    assert "红包" not in keys  # weight 0 removes a shipped keyword
    assert "喝茶钱" in lexicon.words
    assert lexicon.sources[-1] == extra
    result = Classifier(lexicon).classify("执法员跟我要喝茶钱")
    assert result.category == "rent_seeking"


def test_traditional_keywords_are_matched_as_simplified(tmp_path: Path) -> None:
    extra = write(tmp_path, '[category.abusive.keywords]\n"態度囂張" = 5\n')
    keys = {e.key for e in load_lexicon(extra).entries}
    assert "態度囂張" in keys
    assert Classifier(load_lexicon(extra)).classify("态度嚣张").category == "abusive"


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ('[category.abusive.keywords]\n"骂人" = \n', 2, "Invalid value"),
        (
            '[category.abusive.keywords]\n"骂人" = 3\n[category.nasty.keywords]\n"x" = 1\n',
            3,
            "unknown category 'nasty'",
        ),
        ('[category.abusive.keywords]\n"骂人" = 3\n"吼人" = "high"\n', 3, "expected a number"),
        ('[category.abusive.keywords]\n"骂人" = 99\n', 2, "outside"),
        ('[category.abusive.keywords]\n"(骂|吼人" = 2\n', 2, "unclosed"),
        ("[settings]\ncolour = 3\n", 2, "unknown setting"),
        ('[aliases]\n"发款" = "罚款了"\n', 2, "same-length"),
        ('[trigger.new_kind.keywords]\n"着火" = 1\n', 1, "severity"),
        ("[nonsense]\nx = 1\n", 1, "unknown table"),
    ],
)
def test_malformed_lexicon_names_file_line_and_problem(
    tmp_path: Path, body: str, line: int, problem: str
) -> None:
    extra = write(tmp_path, body)
    with pytest.raises(LexiconError) as caught:
        load_lexicon(extra)
    assert caught.value.path == extra
    assert caught.value.line == line
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{extra}:{line}: ")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LexiconError, match="not found"):
        load_lexicon(tmp_path / "nope.toml")


def test_pattern_language() -> None:
    assert parse_pattern("(罚|扣)了(我|俺)") == (("罚了我", "罚了俺", "扣了我", "扣了俺"),)
    assert parse_pattern("(了)?罚") == (("了罚", "罚"),)
    assert parse_pattern("票*(没给|不给)") == (("票",), ("没给", "不给"))
    assert parse_pattern("本地**外地") == (("本地",), (), ("外地",))
    assert parse_pattern("ETC") == (("etc",),)
    for bad in ("", "*票", "票*", "(a|(b))", "a|b", "(a|b)(c|d)" * 5):
        with pytest.raises(PatternError):
            parse_pattern(bad)
