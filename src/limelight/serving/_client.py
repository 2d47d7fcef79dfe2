"""A small client of the serving API over one keep-alive connection (standard library only)."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

from limelight.core.errors import LimelightError

__all__ = ["Client", "ServingError"]


class ServingError(LimelightError):
    """The server answered with an error; ``status`` and ``body`` say which."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.body = status, body


class Client:
    """``Client("http://127.0.0.1:8000").recommend("u1", k=10)``; not shared between threads."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise LimelightError(f"{url!r} is not an http:// URL of a Limelight server")
        self.host, self.port = parts.hostname, parts.port or 80
        self.timeout = timeout
        self.headers = {"content-type": "application/json"}
        if token:
            self.headers["authorization"] = f"Bearer {token}"
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request; the decoded JSON answer (or text), or :class:`ServingError`."""
        data = None if body is None else json.dumps(body).encode()
        for attempt in (0, 1):  # a keep-alive connection the server closed: reconnect once
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=data, headers=self.headers)
                response = self._conn.getresponse()
                raw = response.read()
                break
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        kind = response.getheader("content-type", "")
        payload: Any = json.loads(raw) if kind.startswith("application/json") else raw.decode()
        if response.status >= 400:
            raise ServingError(response.status, payload)
        return payload

    def recommend(
        self,
        user_id: str | int,
        k: int = 10,
        *,
        context: dict[str, Any] | None = None,
        exclude: list[Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"user_id": user_id, "k": k}
        if context is not None:
            body["context"] = context
        if exclude is not None:
            body["exclude"] = exclude
        return dict(self.request("POST", "/v1/recommend", body))

    def feedback(
        self, request_id: str, item_id: str | int, event: str, value: float | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"request_id": request_id, "item_id": item_id, "event": event}
        if value is not None:
            body["value"] = value
        return dict(self.request("POST", "/v1/feedback", body))

    def predict(self, model: str, *, rows: Any = None, columns: Any = None) -> list[Any]:
        body = {"rows": rows} if columns is None else {"columns": columns}
        return list(self.request("POST", f"/v1/predict/{model}", body)["predictions"])

    def models(self) -> dict[str, Any]:
        return dict(self.request("GET", "/v1/models"))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
