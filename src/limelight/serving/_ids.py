"""Request ids that prove where they came from: a nonce, the time, the user and the items shown,
signed.

Any worker process (on any host sharing the home) can check a request id that another worker
issued, with no shared state but the secret: ``/v1/feedback`` refuses ids it did not sign, ids
older than their time to live, and items the response did not show (each shown item is in the
id as a 3-byte checksum: 4 characters per item; a wrong item passes with odds of 1 in 16
million per item shown). The signature is keyed BLAKE2b (a MAC by design, one C call: a quarter
of ``hmac`` with SHA-256 on the request path).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import os
import secrets
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson

from limelight.core.errors import ConfigError, InvalidInputError

__all__ = ["Issued", "RequestIds", "load_secret", "max_id_chars"]

SECRET_FILE = "serving.key"
_SIG_BYTES = 16
_ITEM_BYTES = 3
MAX_ID_CHARS = 1024  # without the items


def max_id_chars(max_items: int) -> int:
    """The longest request id issued for a response of at most ``max_items`` items."""
    return MAX_ID_CHARS + 4 * max_items


def _item_sums(items: Iterable[str]) -> bytes:
    return b"".join(
        (zlib.crc32(i.encode("utf-8", "surrogatepass")) & 0xFFFFFF).to_bytes(_ITEM_BYTES, "big")
        for i in items
    )


@dataclass(frozen=True)
class Issued:
    """What a verified request id says: for whom, when, and (as checksums) the items shown."""

    user_id: str
    issued_at: float
    _sums: bytes

    def showed(self, item_id: str) -> bool:
        """Whether ``item_id`` was among the items of that response."""
        mine = _item_sums([item_id])
        sums = self._sums
        return any(sums[i : i + _ITEM_BYTES] == mine for i in range(0, len(sums), _ITEM_BYTES))


def load_secret(home: Path) -> bytes:
    """The per-home signing secret, created once (mode 0600) by whichever process comes first."""
    path = Path(home) / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path} is not a serving secret ({exc}); delete it to make a new one"
        ) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(32))
    try:
        os.link(tmp, path)  # fails if another process created it first: theirs wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class RequestIds:
    """Issues and verifies signed request ids ``<payload>.<signature>`` (URL-safe base64)."""

    def __init__(self, secret: bytes, *, max_items: int = 1000) -> None:
        self.max_chars = max_id_chars(max_items)
        if len(secret) < 16:
            raise ConfigError("the serving secret must be at least 16 bytes")
        self._secret = secret[: hashlib.blake2b.MAX_KEY_SIZE]
        # unique per process and request without a system call per id (the HMAC is the proof)
        self._prefix = secrets.token_hex(6)
        self._count = itertools.count()

    def _sign(self, payload: str) -> str:
        mac = hashlib.blake2b(payload.encode("ascii"), key=self._secret, digest_size=_SIG_BYTES)
        return _b64(mac.digest())

    def issue(self, user_id: str, now: float | None = None, items: Iterable[str] = ()) -> str:
        """A new request id for ``user_id``, whose response showed ``items``."""
        stamp = time.time() if now is None else now
        nonce = f"{self._prefix}{next(self._count):x}"
        payload = (
            f"{_b64(orjson.dumps([nonce, round(stamp, 3), user_id]))}.{_b64(_item_sums(items))}"
        )
        return f"{payload}.{self._sign(payload)}"

    def verify(self, request_id: object) -> Issued:
        """What a request id this home signed says; else InvalidInputError."""
        if not isinstance(request_id, str) or len(request_id) > self.max_chars:
            raise InvalidInputError("request_id must be the text returned by /v1/recommend")
        signed, dot, signature = request_id.rpartition(".")
        payload, dot2, sums = signed.partition(".")
        if (
            not dot
            or not dot2
            or not hmac.compare_digest(
                self._sign_safe(signed).encode(), signature.encode("utf-8", "replace")
            )
        ):
            raise InvalidInputError(
                "unknown request_id: it was not issued by this service (use the request_id "
                "returned by /v1/recommend, unchanged)"
            )
        try:
            _, stamp, user_id = orjson.loads(_unb64(payload))
            return Issued(str(user_id), float(stamp), _unb64(sums))
        except (ValueError, TypeError) as exc:  # pragma: no cover - signed ids always decode
            raise InvalidInputError("request_id is malformed") from exc

    def _sign_safe(self, payload: str) -> str:
        try:
            return self._sign(payload)
        except UnicodeEncodeError:
            return ""
