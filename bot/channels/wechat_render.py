"""Rendering replies for WeChat: one text per answer, choices as numbered lines.

WeChat has no buttons in a conversation, so choices become `1. 实名` lines; the engine
resolves "1" or the option's words against the choices it last offered.
"""

from __future__ import annotations

from collections.abc import Sequence

from handlers.choices import numbered
from handlers.messages import Reply

# The platform's limit on a text message (passive reply or customer-service message).
MAX_TEXT_BYTES = 2048
SUCCESS = "success"


def render_text(replies: Sequence[Reply]) -> str:
    """All replies of one answer as a single text message."""
    blocks = []
    for item in replies:
        block = item.text.strip()
        if item.choices:
            block = f"{block}\n{numbered(item.choices)}" if block else numbered(item.choices)
        if block:
            blocks.append(block)
    return "\n\n".join(blocks)


def fits_one_message(text: str) -> bool:
    """Whether a text goes out as one WeChat message."""
    return len(text.encode("utf-8")) <= MAX_TEXT_BYTES


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Cut a long text into messages of at most `limit` UTF-8 bytes, at line ends if possible."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode("utf-8")) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        # A single line longer than the limit is cut by characters.
        while len(line.encode("utf-8")) > limit:
            cut = len(line.encode("utf-8")[:limit].decode("utf-8", "ignore"))
            parts.append(line[:cut])
            line = line[cut:]
        current = line
    if current:
        parts.append(current)
    return parts


def _cdata(value: str) -> str:
    # "]]>" inside text would end the section early and let text inject XML.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def passive_text_xml(*, to_user: str, from_user: str, content: str, create_time: int) -> str:
    """The XML of a passive text reply."""
    return (
        "<xml>"
        f"<ToUserName>{_cdata(to_user)}</ToUserName>"
        f"<FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{_cdata(content)}</Content>"
        "</xml>"
    )
