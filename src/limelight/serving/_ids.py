"""Request ids that prove where they came from: a nonce, the time and the user, signed.

Any worker process (on any host sharing the home) can check a request id that another worker
issued, with no shared state but the secret: ``/v1/feedback`` refuses ids it did not sign. The
signature is keyed BLAKE2b (a MAC by design, one C call: a quarter of ``hmac`` with SHA-256
on the request path).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import os
import secrets
import time
from pathlib import Path

import orjson

from limelight.core.errors import ConfigError, InvalidInputError

__all__ = ["RequestIds", "load_secret"]

SECRET_FILE = "serving.key"
_SIG_BYTES = 16
MAX_ID_CHARS = 1024


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

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ConfigError("the serving secret must be at least 16 bytes")
        self._secret = secret[: hashlib.blake2b.MAX_KEY_SIZE]
        # unique per process and request without a system call per id (the HMAC is the proof)
        self._prefix = secrets.token_hex(6)
        self._count = itertools.count()

    def _sign(self, payload: str) -> str:
        mac = hashlib.blake2b(payload.encode("ascii"), key=self._secret, digest_size=_SIG_BYTES)
        return _b64(mac.digest())

    def issue(self, user_id: str, now: float | None = None) -> str:
        """A new request id for ``user_id``."""
        stamp = time.time() if now is None else now
        nonce = f"{self._prefix}{next(self._count):x}"
        payload = _b64(orjson.dumps([nonce, round(stamp, 3), user_id]))
        return f"{payload}.{self._sign(payload)}"

    def verify(self, request_id: object) -> tuple[str, float]:
        """The (user id, issue time) of a request id this home signed; else InvalidInputError."""
        if not isinstance(request_id, str) or len(request_id) > MAX_ID_CHARS:
            raise InvalidInputError("request_id must be the text returned by /v1/recommend")
        payload, dot, signature = request_id.partition(".")
        if not dot or not hmac.compare_digest(
            self._sign_safe(payload).encode(), signature.encode("utf-8", "replace")
        ):
            raise InvalidInputError(
                "unknown request_id: it was not issued by this service (use the request_id "
                "returned by /v1/recommend, unchanged)"
            )
        try:
            _, stamp, user_id = orjson.loads(_unb64(payload))
        except (ValueError, TypeError) as exc:  # pragma: no cover - signed ids always decode
            raise InvalidInputError("request_id is malformed") from exc
        return str(user_id), float(stamp)

    def _sign_safe(self, payload: str) -> str:
        try:
            return self._sign(payload)
        except UnicodeEncodeError:
            return ""
