"""``/api/2.0/mlflow-artifacts/``: MLflow's proxied artifacts in Limelight's artifact store.

A file's bytes are a content-addressed blob (stored once, however many runs log them); its
MLflow path (``<experiment>/<run>/artifacts/model/MLmodel``) names the blob in ``mlflow_files``.
Directories are the prefixes of those paths.
"""

from __future__ import annotations

import posixpath
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from limelight.core.errors import LimelightError
from limelight.store.schema import mlflow_files
from limelight.ui._mlflow._protocol import MlflowError, Protocol, bad

__all__ = ["artifact_routes", "file_bytes", "file_response", "list_files", "safe_path"]

MAX_ARTIFACT_BYTES = 4 * 1024**3
_CHUNK = 1 << 20


def safe_path(path: str) -> str:
    """A relative artifact path with no ``..``, no backslash, no NUL; MLflow's rule."""
    if (
        "\x00" in path
        or "\\" in path
        or path.startswith("/")
        or any(part in ("..", ".") for part in path.split("/"))
        or len(path) > 1000
        or "://" in path
    ):
        raise bad("Invalid path")
    return path.strip("/")


def list_files(conn: sa.Connection, path: str) -> list[dict[str, Any]]:
    """The direct children of ``path``: files with their size, and directories."""
    prefix = f"{path}/" if path else ""
    rows = conn.execute(
        sa.select(mlflow_files.c.path, mlflow_files.c.size).where(
            mlflow_files.c.path.startswith(prefix, autoescape=True)
        )
    ).all()
    files: dict[str, dict[str, Any]] = {}
    for full, size in rows:
        rest = full[len(prefix) :]
        head, sep, _ = rest.partition("/")
        if sep:
            files.setdefault(head, {"path": head, "is_dir": True})
        else:
            files[head] = {"path": head, "is_dir": False, "file_size": size}
    return [files[k] for k in sorted(files)]


def file_bytes(p: Protocol, path: str) -> bytes:
    with p.store.metadata.connect() as conn:
        key = conn.execute(
            sa.select(mlflow_files.c.key).where(mlflow_files.c.path == path)
        ).scalar()
    if key is None:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"No such file or directory: '{path}'")
    return p.store.artifacts.blobs.get(key)


def file_response(data: bytes, path: str, *, attachment: bool = False) -> Response:
    """A file's bytes as the artifact service sends them (MLflow's web UI: as an attachment)."""
    kind = "text/plain" if path.endswith((".txt", ".json", ".yaml", "MLmodel")) else None
    headers = {}  # (no-sniff comes from the app's SecurityHeaders, as on every response)
    if attachment:  # never shown inline on the server's origin
        name = posixpath.basename(path).replace('"', "")
        headers["content-disposition"] = f'attachment; filename="{name}"'
    return Response(data, media_type=kind or "application/octet-stream", headers=headers)


def _guarded(
    work: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        try:
            return await work(request)
        except MlflowError as exc:
            return exc.response()
        except LimelightError as exc:
            return MlflowError("INTERNAL_ERROR", str(exc)).response()

    return handle


def artifact_routes(p: Protocol) -> list[tuple[str, str, Callable[[Request], Awaitable[Response]]]]:
    """(path, method, endpoint) of the artifact service, relative to ``/api/2.0/mlflow-artifacts``."""

    async def upload(request: Request) -> Response:
        p.check_write(request)
        path = safe_path(request.path_params["path"])
        if not path:
            raise bad("Invalid path: an upload needs a file path")
        blobs = p.store.artifacts.blobs
        size = 0
        with blobs.writer() as writer:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_ARTIFACT_BYTES:
                    raise bad(f"the file is larger than {MAX_ARTIFACT_BYTES} bytes")
                await run_in_threadpool(writer.write, chunk)
        key = writer.key

        def record(conn: sa.Connection) -> None:
            conn.execute(mlflow_files.delete().where(mlflow_files.c.path == path))
            conn.execute(mlflow_files.insert().values(path=path, key=key, size=size))

        await run_in_threadpool(p.store.metadata.transaction, record)
        return JSONResponse({})

    async def download(request: Request) -> Response:
        path = safe_path(request.path_params["path"])
        return file_response(await run_in_threadpool(file_bytes, p, path), path)

    async def listing(request: Request) -> Response:
        path = safe_path(request.query_params.get("path", ""))

        def work() -> list[dict[str, Any]]:
            with p.store.metadata.connect() as conn:
                return list_files(conn, path)

        return JSONResponse({"files": await run_in_threadpool(work)})

    async def delete(request: Request) -> Response:
        p.check_write(request)
        path = safe_path(request.path_params["path"])

        def work(conn: sa.Connection) -> None:
            conn.execute(
                mlflow_files.delete().where(
                    sa.or_(
                        mlflow_files.c.path == path,
                        mlflow_files.c.path.startswith(f"{path}/", autoescape=True),
                    )
                )
            )

        await run_in_threadpool(p.store.metadata.transaction, work)
        return JSONResponse({})

    return [
        ("/artifacts/{path:path}", "PUT", _guarded(upload)),
        ("/artifacts/{path:path}", "GET", _guarded(download)),
        ("/artifacts/{path:path}", "DELETE", _guarded(delete)),
        ("/artifacts", "GET", _guarded(listing)),
    ]


def artifact_dir(uri: str) -> str:
    """``mlflow-artifacts:/1/2/artifacts`` -> ``1/2/artifacts``."""
    return posixpath.normpath(uri.removeprefix("mlflow-artifacts:").lstrip("/"))
