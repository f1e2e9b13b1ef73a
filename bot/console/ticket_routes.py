"""The ticket page, its action forms, the identity action, uploads and attachment downloads."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, web
from sqlmodel import Session

from bot.attachments import UploadRejected, store_upload
from bot.console import labels
from bot.console.common import ConsoleWeb
from handlers.console_access import Identity, IdentityRefused, show_identity, view_ticket
from handlers.console_actions import ACTIONS, StoredFile, attach_file, perform
from handlers.console_auth import SignedIn
from handlers.console_queries import queues_for
from handlers.console_views import attachment_for, ticket_view
from handlers.staff_actions import ActionRefused, PermissionDenied
from storage.errors import ConflictError, TicketNotFound
from storage.lifecycle import IllegalTransition
from storage.models import Staff

log = logging.getLogger(__name__)

STORED_PATH_RE = re.compile(r"[0-9a-f]{2}/[0-9a-f]{64}", re.ASCII)
INLINE_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MULTIPART_OVERHEAD = 64 * 1024
MAX_FIELD_BYTES = 4096
NOT_FOUND = "工单不存在，或您无权查看。"


class NotVisible(Exception):
    """The ticket does not exist or is not this staff member's to see."""


class TicketRoutes:
    """/console/t/{ticket_no}[/{action}] and /console/a/{attachment_id}."""

    def __init__(self, web_: ConsoleWeb) -> None:
        self.web = web_

    @staticmethod
    def _ticket_no(request: web.Request) -> str:
        return request.match_info["ticket_no"].upper()

    def _visible(self, session: Session, user: SignedIn, ticket_no: str) -> None:
        try:
            view_ticket(session, staff_id=user.staff_id, ticket_no=ticket_no)
        except (PermissionDenied, TicketNotFound):
            raise NotVisible() from None

    async def _page(
        self,
        request: web.Request,
        ticket_no: str,
        *,
        status: int = 200,
        error: str = "",
        identity: Identity | None = None,
    ) -> web.Response:
        now = self.web.now()

        def work(session: Session, user: SignedIn) -> dict[str, Any]:
            try:
                view = ticket_view(session, staff_id=user.staff_id, ticket_no=ticket_no, now=now)
            except (PermissionDenied, TicketNotFound):
                raise NotVisible() from None
            person = session.get(Staff, user.staff_id)
            assert person is not None
            return {"user": user, "view": view, "queues": queues_for(person)}

        try:
            values = await self.web.as_staff(request, work)
        except NotVisible:
            raise self.web.http_error(web.HTTPNotFound, NOT_FOUND) from None
        done = request.query.get("done", "")
        return self.web.render(
            "ticket.html",
            status=status,
            error=error,
            done=labels.DONE_MESSAGES.get(done, ""),
            identity=identity,
            identity_refusals=labels.IDENTITY_REFUSALS,
            max_upload_bytes=self.web.services.settings.max_upload_bytes,
            now=now,
            **values,
        )

    async def page(self, request: web.Request) -> web.Response:
        """GET the ticket page."""
        return await self._page(request, self._ticket_no(request))

    async def act(self, request: web.Request) -> web.Response:
        """POST one action form; success redirects back, a refusal re-renders with why."""
        ticket_no, action = self._ticket_no(request), request.match_info["action"]
        if action not in ACTIONS:
            raise self.web.http_error(web.HTTPNotFound, "没有这个操作。")
        form = await request.post()
        fields = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
        now, rules = self.web.now(), self.web.services.rules

        def work(session: Session, user: SignedIn) -> bool:
            self._visible(session, user, ticket_no)
            perform(
                session,
                staff_id=user.staff_id,
                ticket_no=ticket_no,
                action=action,
                form=fields,
                now=now,
                rules=rules,
            )
            try:  # a return, or a category that seals the ticket, can take it out of view
                self._visible(session, user, ticket_no)
            except NotVisible:
                return False
            return True

        try:
            visible = await self.web.as_staff(request, work, form=form)
        except NotVisible:
            raise self.web.http_error(web.HTTPNotFound, NOT_FOUND) from None
        except PermissionDenied:
            raise self.web.http_error(web.HTTPForbidden, "您的岗位不能执行这项操作。") from None
        except ActionRefused as refused:
            message = labels.refusal(refused.key, **{"ticket_no": ticket_no, **refused.values})
            return await self._page(request, ticket_no, status=400, error=message)
        except IllegalTransition as exc:
            status = labels.label("ticket_status", exc.status.value)
            message = labels.refusal("staff.illegal", ticket_no=ticket_no, status=status)
            return await self._page(request, ticket_no, status=409, error=message)
        except ConflictError:
            message = labels.refusal("staff.conflict", ticket_no=ticket_no)
            return await self._page(request, ticket_no, status=409, error=message)
        log.info("console %s on %s", action, ticket_no)
        target = f"/console/t/{ticket_no}?done={action}" if visible else "/console"
        raise web.HTTPSeeOther(target)

    async def identity(self, request: web.Request) -> web.Response:
        """Show the complainant's identity once, for a stated reason (logged, on the trail)."""
        ticket_no = self._ticket_no(request)
        form = await request.post()
        reason = str(form.get("reason", ""))
        now = self.web.now()

        def work(session: Session, user: SignedIn) -> Identity:
            self._visible(session, user, ticket_no)
            return show_identity(
                session, staff_id=user.staff_id, ticket_no=ticket_no, reason=reason, now=now
            )

        try:
            shown = await self.web.as_staff(request, work, form=form)
        except NotVisible:
            raise self.web.http_error(web.HTTPNotFound, NOT_FOUND) from None
        except IdentityRefused as refused:
            message = labels.IDENTITY_REFUSALS.get(refused.reason, "不能查看投诉人身份。")
            status = 400 if refused.reason == "reason" else 403
            return await self._page(request, ticket_no, status=status, error=message)
        return await self._page(request, ticket_no, identity=shown)

    async def upload(self, request: web.Request) -> web.Response:
        """POST a staff document: the CSRF field first, then one file within the size limit."""
        ticket_no = self._ticket_no(request)
        settings = self.web.services.settings
        limit = settings.max_upload_bytes
        if (request.content_length or 0) > limit + MULTIPART_OVERHEAD:
            log.warning("console upload on %s refused: %s bytes", ticket_no, request.content_length)
            return await self._upload_refused(request, ticket_no, "too_large", 413)
        try:
            reader = await request.multipart()
            first = await reader.next()
            csrf = ""
            if isinstance(first, BodyPartReader) and first.name == "csrf":
                csrf = (await first.read(decode=False))[:MAX_FIELD_BYTES].decode("ascii", "replace")
        except (AssertionError, ValueError, KeyError):
            raise self.web.http_error(web.HTTPBadRequest, "上传格式不正确。") from None

        def check(session: Session, user: SignedIn) -> None:
            self._visible(session, user, ticket_no)

        try:
            await self.web.as_staff(request, check, form={"csrf": csrf})
        except NotVisible:
            raise self.web.http_error(web.HTTPNotFound, NOT_FOUND) from None
        part = await reader.next()
        if not isinstance(part, BodyPartReader) or part.name != "file":
            return await self._upload_refused(request, ticket_no, "missing", 400)
        try:
            stored = await store_upload(
                _chunks(part),
                root=settings.attachments_dir,
                max_bytes=limit,
                # aiohttp's client percent-encodes non-ASCII names; browsers send UTF-8.
                filename=unquote(part.filename) if part.filename else None,
            )
        except UploadRejected as rejected:
            log.warning("console upload on %s refused: %s", ticket_no, rejected.reason)
            status = {"too_large": 413, "bad_type": 415}.get(rejected.reason, 400)
            return await self._upload_refused(request, ticket_no, rejected.reason, status)
        assert stored.sha256 is not None and stored.storage_path is not None
        file = StoredFile(
            kind=stored.kind,
            mime=stored.mime,
            size=stored.size,
            sha256=stored.sha256,
            filename=stored.filename,
            storage_path=stored.storage_path,
        )
        now = self.web.now()

        def save(session: Session, user: SignedIn) -> None:
            attach_file(session, staff_id=user.staff_id, ticket_no=ticket_no, stored=file, now=now)

        try:
            await self.web.as_staff(request, save, form={"csrf": csrf})
        except PermissionDenied:
            raise self.web.http_error(web.HTTPForbidden, "您的岗位不能执行这项操作。") from None
        raise web.HTTPSeeOther(f"/console/t/{ticket_no}?done=attach")

    async def _upload_refused(
        self, request: web.Request, ticket_no: str, reason: str, status: int
    ) -> web.Response:
        message = labels.UPLOAD_REFUSALS.get(reason, "上传失败。")
        return await self._page(request, ticket_no, status=status, error=message)

    async def download(self, request: web.Request) -> web.StreamResponse:
        """An attachment of a visible ticket, by id only (no path ever comes from the request)."""
        raw = request.match_info["attachment_id"]
        attachment_id = int(raw) if raw.isdigit() and len(raw) < 12 else 0

        def work(session: Session, user: SignedIn) -> tuple[str, str, str | None, str | None]:
            try:
                row = attachment_for(session, staff_id=user.staff_id, attachment_id=attachment_id)
            except (LookupError, PermissionDenied, TicketNotFound):
                raise NotVisible() from None
            assert row.storage_path is not None
            return row.storage_path, row.mime, row.filename, row.sha256

        try:
            path, mime, filename, sha256 = await self.web.as_staff(request, work)
        except NotVisible:
            raise self.web.http_error(web.HTTPNotFound, "文件不存在，或您无权查看。") from None
        file = self.web.services.settings.attachments_dir / path
        if not STORED_PATH_RE.fullmatch(path) or not file.is_file():
            log.warning("attachment %d: stored file missing or misnamed", attachment_id)
            raise self.web.http_error(web.HTTPNotFound, "文件不存在。")
        inline = request.query.get("inline") == "1" and mime in INLINE_IMAGES
        name = filename or f"attachment-{attachment_id}"
        disposition = "inline" if inline else "attachment"
        headers = {
            "Content-Type": mime if inline else "application/octet-stream",
            "Content-Disposition": (
                f'{disposition}; filename="attachment-{attachment_id}"; '
                f"filename*=UTF-8''{quote(name, safe='')}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
            "Referrer-Policy": "no-referrer",
            "X-Checksum-SHA256": sha256 or "",
        }
        return web.FileResponse(file, headers=headers)


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(64 * 1024):
        yield chunk
