"""The Starlette app and the uvicorn runner behind ``panning label`` (see :mod:`panning.ui`)."""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..labeling import LabelingSession

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
MAX_BATCH = 1000
MAX_LIMIT = 1000


class SessionWorker:
    """The one thread that opens, uses and closes a session (SQLite connections stay on the
    thread that made them); requests from every tab are served one after the other on it."""

    def __init__(self, opener: Callable[[], LabelingSession]) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="panning-session")
        try:
            self.session: LabelingSession = self._pool.submit(opener).result()
        except BaseException:
            self._pool.shutdown()
            raise

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args))

    def close(self) -> None:
        self._pool.submit(self.session.close).result()
        self._pool.shutdown()


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _int_param(value: Any, name: str, *, lo: int = 1, hi: int) -> int:
    """An integer in ``lo..hi`` from JSON (int) or a query string (digits), else 400."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be in {lo}..{hi}, got {value}")
    return value


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the request body is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def create_app(worker: SessionWorker) -> Starlette:
    """The app serving ``worker.session`` (a :class:`LabelingSession` opened for writing)."""
    session = worker.session
    call = worker.call

    async def index(request: Request) -> Response:
        return FileResponse(os.path.join(STATIC, "index.html"))

    async def status(request: Request) -> Response:
        return JSONResponse(await call(session.status))

    async def search(request: Request) -> Response:
        body = await _json_body(request)
        limit = _int_param(body.get("limit", 50), "limit", hi=MAX_LIMIT)
        if "like" in body:
            n = len(session.items)
            item_id = _int_param(body["like"], "like", lo=0, hi=n - 1)
            items = await call(session.like, item_id, limit)
            return JSONResponse({"items": items, "mode": ["like"]})
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BadRequest('"text" must be a non-empty string (or give "like": id)')
        items = await call(session.search, text, limit)
        return JSONResponse({"items": items, "mode": session.search_modes()})

    async def batch(request: Request) -> Response:
        size = _int_param(request.query_params.get("size", "20"), "size", hi=MAX_BATCH)
        items = await call(session.batch, size)
        return JSONResponse({"items": items})

    async def labels(request: Request) -> Response:
        body = await _json_body(request)
        entries = body.get("labels")
        if not isinstance(entries, list):
            raise BadRequest('"labels" must be a list of {"id": int, "label": int|str}')
        pairs = []
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or "id" not in e or "label" not in e:
                raise BadRequest(f'labels[{i}] must be an object with "id" and "label"')
            if isinstance(e["id"], bool) or not isinstance(e["id"], int):
                raise BadRequest(f"labels[{i}]: id {e['id']!r} is not an integer")
            if isinstance(e["label"], bool) or not isinstance(e["label"], (int, str)):
                raise BadRequest(f"labels[{i}]: label {e['label']!r} must be an integer or a name")
            pairs.append((e["id"], e["label"]))
        try:
            n = await call(session.teach, pairs)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return JSONResponse({"recorded": n, "status": await call(session.status)})

    async def export(request: Request) -> Response:
        fmt = request.query_params.get("format", "csv")
        if fmt not in ("csv", "jsonl"):
            raise BadRequest(f"format must be csv or jsonl, got {fmt!r}")
        text = await call(session.export, fmt)
        media = "text/csv" if fmt == "csv" else "application/x-ndjson"
        name = os.path.splitext(os.path.basename(session.path))[0] + f"-labeled.{fmt}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(text, media_type=media, headers=headers)

    async def image(request: Request) -> Response:
        n = len(session.items)
        item_id = _int_param(request.path_params["item_id"], "id", lo=0, hi=n - 1)
        path = session.items[item_id].get("image")
        # only files named by the session's own items are served, never a path from the request
        if not isinstance(path, str) or not os.path.isfile(path):
            raise BadRequest(f"item {item_id} has no local image", 404)
        return FileResponse(path)

    async def bad_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadRequest)
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    routes = [
        Route("/", index),
        Route("/api/status", status),
        Route("/api/search", search, methods=["POST"]),
        Route("/api/batch", batch),
        Route("/api/labels", labels, methods=["POST"]),
        Route("/api/export", export),
        Route("/api/image/{item_id}", image),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={BadRequest: bad_request, HTTPException: http_error},
    )


def serve(worker: SessionWorker, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve ``worker.session`` until interrupted (uvicorn, one process, one session file)."""
    import uvicorn

    uvicorn.run(create_app(worker), host=host, port=port, log_level="warning")
