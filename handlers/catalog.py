"""The text catalog: every user-facing sentence, by key and language (zh-CN first)."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

from handlers.messages import Choice, Reply

DATA_DIR = Path(__file__).parent / "data"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


@functools.cache
def _catalog(language: str) -> dict[str, str]:
    """Flatten `catalog.<lang>.toml` to {"section.key": text}."""
    with (DATA_DIR / f"catalog.{language}.toml").open("rb") as handle:
        raw = tomllib.load(handle)
    flat: dict[str, str] = {}

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                walk(name, value)
            else:
                flat[name] = str(value)

    walk("", raw)
    return flat


def language_of(code: str | None) -> str:
    """Map a platform language code (en-US, zh-hans, …) to a catalog language."""
    if code and code.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


def text(key: str, language: str = DEFAULT_LANGUAGE, **values: object) -> str:
    """The sentence for `key` in `language` (falling back to zh-CN), with values filled in."""
    template = _catalog(language_of(language)).get(key) or _catalog(DEFAULT_LANGUAGE)[key]
    return template.format(**values) if values else template


def reply(
    key: str,
    language: str = DEFAULT_LANGUAGE,
    *,
    choices: tuple[Choice, ...] = (),
    **values: object,
) -> Reply:
    """A `Reply` carrying the catalog text for `key`."""
    return Reply(text=text(key, language, **values), choices=choices, key=key)


def choice(key: str, value: str, language: str = DEFAULT_LANGUAGE) -> Choice:
    """A button labelled with the catalog text for `key`."""
    return Choice(label=text(key, language), value=value)


def keys(language: str) -> frozenset[str]:
    """Every key the catalog of `language` defines."""
    return frozenset(_catalog(language))
