"""uvicorn as both servers run it: one config, and a deadline on every request head.

uvicorn arms its keep-alive timer only after a response, and cancels it on the first byte that
follows: a connection that sends nothing, or half a request head, stays open for ever (seen:
300 such connections still open after 65 s). :func:`head_deadline_protocol` wraps uvicorn's
HTTP protocol (httptools or h11) so that a connection must deliver a complete request head
within ``header_timeout`` seconds of opening, and of each response it received; else it is
closed. A body that does not arrive is the app's business (``/v1`` answers 408).

``limelight serve`` (its workers) and ``limelight ui`` both run through :func:`uvicorn_config`,
which lives here because the command line may import serving while the dashboard may not.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from typing import Any

from limelight.core.errors import InvalidInputError

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "check_header_timeout",
    "head_deadline_protocol",
    "run_app",
    "uvicorn_config",
]

DEFAULT_HEADER_TIMEOUT = 10.0


def check_header_timeout(header_timeout: float) -> float:
    """``header_timeout`` as a float, or InvalidInputError saying what it must be."""
    if (
        isinstance(header_timeout, bool)
        or not isinstance(header_timeout, int | float)
        or not 0 < header_timeout <= 3600
    ):
        raise InvalidInputError(
            f"header_timeout must be a number of seconds above 0 and at most 3600, not {header_timeout!r}"
        )
    return float(header_timeout)


def head_deadline_protocol(base: type[asyncio.Protocol], header_timeout: float) -> type[Any]:
    """A subclass of uvicorn's ``base`` protocol that closes a connection whose request head
    is not complete ``header_timeout`` seconds after it opened or after its last response."""
    timeout = check_header_timeout(header_timeout)

    class HeadDeadline(base):  # type: ignore[misc, valid-type]
        _head_timer: asyncio.TimerHandle | None = None

        def _waiting_for_head(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _arm(self) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self._head_timer = self.loop.call_later(timeout, self.transport.close)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if not self._waiting_for_head():  # the head is in: the request has begun
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._waiting_for_head():  # no pipelined request started: wait for the next head
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    HeadDeadline.__name__ = HeadDeadline.__qualname__ = f"HeadDeadline{base.__name__}"
    return HeadDeadline


def _http_protocol() -> type[asyncio.Protocol]:
    if importlib.util.find_spec("httptools"):
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return H11Protocol


def uvicorn_config(
    app: Any,
    *,
    log_level: str = "warning",
    graceful_seconds: float = 30.0,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
) -> Any:
    """The ``uvicorn.Config`` of both servers: httptools (else h11) with the head deadline."""
    import uvicorn

    return uvicorn.Config(
        app,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http=head_deadline_protocol(_http_protocol(), header_timeout),
        lifespan="on",
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=max(1, round(graceful_seconds)),
        server_header=False,
        date_header=False,
        # nothing here reads the client's address: skip rewriting it from X-Forwarded-For
        proxy_headers=False,
    )


def run_app(app: Any, sock: socket.socket, **options: Any) -> None:
    """Serve ``app`` on the listening ``sock`` until SIGINT/SIGTERM; ``options`` as
    :func:`uvicorn_config`'s."""
    import uvicorn

    uvicorn.Server(uvicorn_config(app, **options)).run(sockets=[sock])
