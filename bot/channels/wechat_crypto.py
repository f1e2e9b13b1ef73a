"""WeChat callback security: query signatures, timestamps and the AES envelope of safe mode.

Every failure is a `CallbackRejected` carrying the HTTP status to answer: 403 when the
request cannot be authenticated (signature, timestamp, AES key or app id), 400 when it is
authenticated but unreadable. Nothing here touches the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from datetime import datetime
from xml.parsers.expat import ExpatError

import xmltodict
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException

# The platform signs with its own clock; five minutes either way covers honest skew while a
# captured request cannot be replayed later (the signature itself has no expiry).
MAX_CLOCK_SKEW_SECONDS = 300
AES_KEY_CHARS = 43


class CallbackRejected(Exception):
    """A callback we refuse; `status` is the HTTP answer, `reason` a short log word."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the parts sorted and concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def check_signature(signature: str | None, *parts: str) -> None:
    """Refuse (403) unless `signature` signs `parts`; compared in constant time."""
    if not signature or not hmac.compare_digest(sign(*parts), signature.lower()):
        raise CallbackRejected(403, "bad_signature")


def check_timestamp(timestamp: str | None, now: datetime) -> None:
    """Refuse (403) a missing, malformed or stale timestamp (replay protection)."""
    if not timestamp or not timestamp.isdigit() or len(timestamp) > 12:
        raise CallbackRejected(403, "bad_timestamp")
    if abs(int(timestamp) - now.timestamp()) > MAX_CLOCK_SKEW_SECONDS:
        raise CallbackRejected(403, "stale_timestamp")


def valid_aes_key(key: str) -> bool:
    """Whether an EncodingAESKey has the platform's form (43 base64 characters, 32 bytes)."""
    if len(key) != AES_KEY_CHARS:
        return False
    try:
        return len(base64.b64decode(key + "=", validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def parse_xml(body: str | bytes) -> dict[str, object]:
    """The `<xml>` element as a dict; 400 for malformed XML, entities (XXE) or other roots."""
    try:
        # xmltodict >= 1.0 refuses every entity declaration with ValueError: no XXE, no
        # billion laughs. Expat errors are plain malformed XML.
        parsed = xmltodict.parse(body)
    except (ValueError, ExpatError, TypeError):
        raise CallbackRejected(400, "malformed_xml") from None
    root = parsed.get("xml") if isinstance(parsed, dict) else None
    if not isinstance(root, dict):
        raise CallbackRejected(400, "malformed_xml")
    return root


class Envelope:
    """The safe-mode envelope: `<Encrypt>` checked by msg_signature, AES-CBC with the app id."""

    def __init__(self, *, token: str, aes_key: str, app_id: str) -> None:
        if not valid_aes_key(aes_key):
            raise ValueError("WECHAT_ENCODING_AES_KEY must be 43 base64 characters")
        self.token = token
        self.app_id = app_id
        self._crypto = WeChatCrypto(token, aes_key, app_id)
        self._key = base64.b64decode(aes_key + "=")

    def open(self, body: bytes, *, msg_signature: str | None, timestamp: str, nonce: str) -> str:
        """The plaintext XML inside an encrypted push."""
        encrypted = parse_xml(body).get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise CallbackRejected(400, "no_encrypt_element")
        check_signature(msg_signature, self.token, timestamp, nonce, encrypted)
        try:
            plaintext: str = PrpCrypto(self._key).decrypt(encrypted, self.app_id)
        except InvalidAppIdException:
            raise CallbackRejected(403, "wrong_app_id") from None
        except (ValueError, TypeError, IndexError, struct.error):
            # Signed by someone with our token but not decryptable with our key: the AES
            # key differs, so the sender is not the platform we are configured for.
            raise CallbackRejected(403, "undecryptable") from None
        return plaintext

    def seal(self, xml: str, *, nonce: str, timestamp: str) -> str:
        """An encrypted, signed reply envelope, as the platform expects in safe mode."""
        sealed: str = self._crypto.encrypt_message(xml, nonce, timestamp)
        return sealed
