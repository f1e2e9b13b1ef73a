"""`complaintbot wechat menu`: install the Official Account menu (投诉 / 查询 / 帮助)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from bot.channels.wechat_api import WeChatAPI, WeChatAPIError, WeChatOutcomeUnknown
from bot.channels.wechat_inbound import MENU_BUTTONS
from bot.outbox import SendError
from bot.settings import get_settings

# What the platform's common error codes mean for whoever runs this command.
HINTS = {
    40001: "the access token was refused: check WECHAT_APP_SECRET",
    40013: "WECHAT_APP_ID is not a valid AppID",
    40125: "WECHAT_APP_SECRET is wrong",
    40164: "this server's IP address is not on the account's IP whitelist",
    48001: "this account is not allowed to use the menu API (unverified subscription account?)",
    65301: "the menu is malformed",
}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `wechat` command and its `menu` action."""
    parser = subparsers.add_parser("wechat", help="WeChat Official Account tools")
    actions = parser.add_subparsers(dest="wechat_action", metavar="ACTION")
    menu = actions.add_parser("menu", help="install the account menu (投诉 / 查询 / 帮助)")
    menu.add_argument(
        "--print", action="store_true", dest="print_only", help="print the menu JSON only"
    )
    menu.set_defaults(func=run_menu)

    def usage(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=usage)


def menu_buttons() -> list[dict[str, Any]]:
    """The menu: one CLICK button per command; the callback maps keys back to words."""
    return [{"type": "click", "name": name, "key": key} for name, key in MENU_BUTTONS]


def run_menu(args: argparse.Namespace) -> int:
    """Install the menu through the API at WECHAT_API_BASE_URL."""
    buttons = menu_buttons()
    if args.print_only:
        print(json.dumps({"button": buttons}, ensure_ascii=False, indent=2))
        return 0
    settings = get_settings()
    secret = settings.wechat_app_secret.get_secret_value() if settings.wechat_app_secret else ""
    if not settings.wechat_app_id or not secret:
        print("complaintbot: set WECHAT_APP_ID and WECHAT_APP_SECRET first", file=sys.stderr)
        return 2

    async def install() -> None:
        api = WeChatAPI(
            app_id=settings.wechat_app_id,
            app_secret=secret,
            base_url=settings.wechat_api_base_url,
        )
        try:
            await api.create_menu(buttons)
        finally:
            await api.close()

    try:
        asyncio.run(install())
    except WeChatAPIError as exc:
        hint = HINTS.get(exc.errcode, "see the platform's error code list")
        print(
            f"complaintbot: WeChat refused: errcode {exc.errcode} ({exc.errmsg}): {hint}",
            file=sys.stderr,
        )
        return 1
    except (SendError, WeChatOutcomeUnknown) as exc:
        print(
            f"complaintbot: {exc} (WECHAT_API_BASE_URL={settings.wechat_api_base_url})",
            file=sys.stderr,
        )
        return 1
    print("menu installed: " + " / ".join(name for name, _key in MENU_BUTTONS))
    return 0
