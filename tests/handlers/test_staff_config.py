"""The city configuration file: good, idempotent, bad (with the line), and the CLI around it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ops_support import SAMPLE
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from handlers.staff_config import ConfigError, apply_config, load_config, parse_config
from storage.engine import transaction
from storage.models import Staff, Unit
from storage.models_ops import RoutingRule
from storage.staffing import redeem_binding_code

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def counts(engine: Engine) -> tuple[int, int, int]:
    """Rows of units, staff and routing rules."""
    with Session(engine) as session:
        return tuple(  # type: ignore[return-value]
            session.exec(select(func.count()).select_from(model)).one()
            for model in (Unit, Staff, RoutingRule)
        )


def apply_text(engine: Engine, raw: str) -> dict[str, dict[str, int]]:
    """Check and import a configuration given as text."""
    config = parse_config(raw, source="city.toml")
    with transaction(engine) as session:
        return apply_config(session, config=config, now=NOW).counts


def test_sample_imports_and_a_second_import_changes_nothing(any_engine: Engine) -> None:
    raw = SAMPLE.read_text(encoding="utf-8")
    first = apply_text(any_engine, raw)
    assert first["units"] == {"created": 7, "deactivated": 0}
    assert first["staff"] == {"created": 12, "deactivated": 0}
    assert first["rules"]["created"] == 10  # nine rules and the default
    second = apply_text(any_engine, raw)
    assert second["units"] == {"unchanged": 7, "deactivated": 0}
    assert second["staff"] == {"unchanged": 12, "deactivated": 0}
    assert second["rules"] == {"created": 0, "removed": 0, "unchanged": 10}


def test_edits_are_reported_and_bindings_survive(any_engine: Engine) -> None:
    raw = SAMPLE.read_text(encoding="utf-8")
    apply_text(any_engine, raw)
    edited = raw.replace('name = "陈承办"', 'name = "陈承办员"')
    edited = re.sub(r'\[\[staff\]\]\nusername = "he\.zcz"[^\[]*', "", edited)
    report = apply_text(any_engine, edited)
    assert report["staff"] == {"unchanged": 10, "updated": 1, "deactivated": 1}
    with Session(any_engine) as session:
        gone = session.exec(select(Staff).where(Staff.username == "he.zcz")).one()
    assert not gone.active


def test_chat_ids_bound_later_are_kept_on_reimport(any_engine: Engine) -> None:
    from datetime import timedelta

    from storage.staffing import issue_binding_code, staff_by_username

    raw = SAMPLE.read_text(encoding="utf-8")
    apply_text(any_engine, raw)
    with transaction(any_engine) as session:
        chen = staff_by_username(session, username="chen.dd2")
        assert chen is not None and chen.id is not None
        code = issue_binding_code(session, staff_id=chen.id, now=NOW, ttl=timedelta(minutes=5))
        redeem_binding_code(session, code=code, channel="telegram", channel_user_id="777", now=NOW)
    assert apply_text(any_engine, raw)["staff"] == {"unchanged": 12, "deactivated": 0}
    with Session(any_engine) as session:
        chen = session.exec(select(Staff).where(Staff.username == "chen.dd2")).one()
    assert chen.telegram_chat_id == "777"


GOOD = """
[[units]]
code = "A"
name = "甲大队"

[[units]]
code = "B"
name = "乙科"
kind = "legal"

[[staff]]
username = "x"
role = "handler"
unit = "A"
telegram_chat_id = 1
"""


UNIT_A = 'code = "A"\nname = "甲大队"'
TAIL = "telegram_chat_id = 1"
SECOND_Y = '\n\n[[staff]]\nusername = "y"\nrole = "handler"\nunit = "A"\ntelegram_chat_id = 1'
BAD_RULE = '\n\n[[rules]]\ncategory = "speeding"\nunit = "A"'
BAD_DEFAULT = '\n\n[routing]\ndefault_unit = "C"'


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        ((UNIT_A, UNIT_A + '\nparent = "ZZ"'), 5, "unknown unit 'ZZ' in parent"),
        (('unit = "A"', 'unit = "Q"'), 14, "unknown unit 'Q' for staff 'x'"),
        (('role = "handler"', 'role = "boss"'), 13, "unknown role 'boss'"),
        (('code = "B"', 'code = "A"'), 7, "duplicate unit code 'A' (first on line 3)"),
        (('name = "乙科"', 'name = "乙科'), 8, "Illegal character"),
        (('kind = "legal"', 'kind = "legal"\ncolour = "red"'), 10, "unknown key 'colour'"),
        (('kind = "legal"', 'kind = "legel"'), 9, "unknown unit kind 'legel'"),
        ((UNIT_A, UNIT_A + '\nparent = "A"'), 5, "cannot be its own parent"),
        ((TAIL, TAIL + SECOND_Y), 21, "already belongs to 'x'"),
        ((TAIL, TAIL + BAD_RULE), 18, "unknown category 'speeding'"),
        ((TAIL, TAIL + BAD_DEFAULT), 18, "unknown unit 'C'"),
    ],
)
def test_bad_file_names_the_line_and_writes_nothing(
    any_engine: Engine, change: tuple[str, str], line: int, message: str
) -> None:
    apply_text(any_engine, SAMPLE.read_text(encoding="utf-8"))
    before = counts(any_engine)
    assert change[0] in GOOD
    bad = GOOD.replace(change[0], change[1], 1)
    with pytest.raises(ConfigError) as error:
        apply_text(any_engine, bad)
    assert any(
        p.startswith(f"city.toml:{line}: ") and message in p for p in error.value.problems
    ), error.value.problems
    assert counts(any_engine) == before


def test_parent_cycle_is_refused() -> None:
    raw = GOOD.replace('name = "甲大队"', 'name = "甲大队"\nparent = "B"').replace(
        'kind = "legal"', 'kind = "legal"\nparent = "A"'
    )
    with pytest.raises(ConfigError, match="parent cycle"):
        parse_config(raw, source="city.toml")


def test_sample_file_is_valid() -> None:
    config = load_config(SAMPLE)
    assert {u["code"] for u in config.units} >= {"ZD", "FZK", "JJZ", "DD1", "DD2", "DD3", "ZCZ"}


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """DATABASE_URL pointing at a fresh migrated SQLite file."""
    from bot.cli import main
    from bot.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    get_settings.cache_clear()
    assert main(["db", "upgrade"]) == 0
    yield main
    get_settings.cache_clear()


def test_cli_import_reports_counts_and_is_idempotent(cli_db, capsys) -> None:
    assert cli_db(["staff", "import", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "units: 7 created" in out and "staff: 12 created" in out
    assert cli_db(["staff", "import", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "units: 7 unchanged" in out and "changed: nothing" in out


def test_cli_bad_file_fails_with_the_line_and_imports_nothing(cli_db, capsys, tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        SAMPLE.read_text(encoding="utf-8").replace('role = "handler"', 'role = "boss"', 1)
    )
    assert cli_db(["staff", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert re.search(rf"{re.escape(str(bad))}:\d+: unknown role 'boss'", err)
    assert "nothing imported" in err
    assert cli_db(["staff", "import", str(SAMPLE), "--dry-run"]) == 0
    assert "would change: yes" in capsys.readouterr().out  # still empty: nothing was written


def test_cli_bind_prints_a_single_use_code(cli_db, capsys, tmp_path) -> None:
    assert cli_db(["staff", "import", str(SAMPLE)]) == 0
    capsys.readouterr()
    assert cli_db(["staff", "bind", "chen.dd2", "--channel", "telegram"]) == 0
    out = capsys.readouterr().out
    code = re.search(r"binding code for chen\.dd2: (\d{8})", out)
    assert code and f"绑定 {code.group(1)}" in out
    assert cli_db(["staff", "bind", "nobody"]) == 1
    assert "no active staff member 'nobody'" in capsys.readouterr().err
    assert cli_db(["staff", "bind", "chen.dd2", "--ttl-minutes", "0"]) == 2
