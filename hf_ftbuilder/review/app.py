"""The review page's HTTP side: a Starlette app over a :class:`~.session.ReviewSession`.

Safe by default, because the page sits on a person's machine beside their browser:

- every request must carry the run's random token: in the URL the command prints (the first page
  load turns it into a cookie named for the port, since cookies are shared across ports), then the
  cookie; a request without it gets 403;
- the Host header must be the address served (a DNS-rebinding page that resolves its own name to
  127.0.0.1 sends its own name, and gets 403);
- what changes state is a POST carrying the token in an ``X-Token`` header, which a cross-site
  form or image cannot send; a GET never changes state;
- responses forbid inline scripts (Content-Security-Policy), and the page renders row text as
  text nodes, never as HTML: scraped pages hold markup and scripts.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2

from .session import QUEUES, ReviewSession

# Starlette comes with the ``review`` extra: it is imported when an app is made, so that the
# package (and ``ftbuild``) imports without it.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["make_app"]

_HERE = Path(__file__).parent
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_MAX_BODY = 64 * 1024  # a decision is a few dozen bytes
_MAX_PAGE = 200


class _Guard:
    """ASGI middleware: the Host check, the token check, and the security headers on every answer."""

    def __init__(self, app: ASGIApp, *, token: str, hosts: set[str], cookie: str) -> None:
        self.app, self.token, self.hosts, self.cookie = app, token, hosts, cookie

    def _is_token(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given_url = (query.get("token") or [""])[0]
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001  (a malformed cookie header is no token, not a crash)
            cookies = SimpleCookie()
        from_cookie = cookies[self.cookie].value if self.cookie in cookies else ""
        if headers.get("host", "") not in self.hosts:
            await _deny(send, "this page answers only at its own address")
            return
        if not self._is_token(headers.get("x-token") or from_cookie or given_url):
            await _deny(send, "no valid token: open the URL `ftbuild review` printed")
            return
        if scope["method"] == "POST" and not self._is_token(headers.get("x-token", "")):
            await _deny(send, "a change needs the X-Token header")
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"content-security-policy", _CSP.encode()), (b"x-content-type-options", b"nosniff"),
                         (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store"),
                         (b"x-frame-options", b"DENY")]
                if given_url:  # the first load: keep the token in a cookie, so later loads need no URL token
                    extra.append((b"set-cookie", f"{self.cookie}={self.token}; Path=/; HttpOnly; "
                                                 "SameSite=Strict".encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _deny(send: Send, why: str) -> None:
    body = json.dumps({"error": why}).encode()
    await send({"type": "http.response.start", "status": 403, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def make_app(session: ReviewSession, *, token: str, hosts: set[str], cookie: str) -> ASGIApp:
    """The review app for one session: the page, its JSON API and its static files.

    Args:
        session: the build and decisions being reviewed.
        token: the run's secret; every request must carry it.
        hosts: the Host header values the page answers to (``127.0.0.1:8000``, ``localhost:8000``).
        cookie: the name of the cookie that keeps the token.
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    def _bad(why: str, status: int = 400) -> Response:
        return JSONResponse({"error": why}, status_code=status)

    async def _json_body(request: Request) -> dict[str, Any] | Response:
        body = await request.body()
        if len(body) > _MAX_BODY:
            return _bad(f"the request body is {len(body):,} bytes; a decision is under {_MAX_BODY:,}", 413)
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return _bad("the body is not JSON")
        return data if isinstance(data, dict) else _bad("the body must be a JSON object")

    templates = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True)

    async def index(request: Request) -> Response:
        html = templates.get_template("index.html").render(title=session.title, token=token, static_url="/static")
        return HTMLResponse(html)

    async def state(request: Request) -> Response:
        return JSONResponse(session.state())

    async def queue(request: Request) -> Response:
        key = request.path_params["key"]
        if key not in QUEUES:
            return _bad(f"no queue {key!r}", 404)
        try:
            offset = max(0, int(request.query_params.get("offset", 0)))
            limit = min(_MAX_PAGE, max(1, int(request.query_params.get("limit", 50))))
        except ValueError:
            return _bad("offset and limit are integers")
        total, rows = session.page(key, offset, limit, request.query_params.get("q", "")[:200])
        return JSONResponse({"key": key, "total": total, "offset": offset, "rows": rows})

    async def decide(request: Request) -> Response:
        data = await _json_body(request)
        if isinstance(data, Response):
            return data
        queue, row_id, label = data.get("queue"), data.get("id"), data.get("label")
        # Several labels per row: a row's label is a list of names (the session checks each).
        shape = (list, str) if session.many else (str,)
        if queue not in ("ask", "clusters", "rows") or not isinstance(row_id, str) or not (
                label is None or isinstance(label, shape)):
            return _bad("expected {queue: ask|clusters|rows, id: str, label: str|null}" if not session.many else
                        "expected {queue: ask|clusters|rows, id: str, label: [str]|null}")
        try:
            note = session.decide(queue, row_id, label)
        except KeyError:
            return _bad(f"no item {row_id!r} in {queue}", 404)
        except ValueError as exc:
            return _bad(str(exc))
        done, count = session.progress(queue)
        # What was recorded: one label with its spaces folded, or several in the recipe's order.
        decision = label and (" ".join(label.split()) if isinstance(label, str) else session.decision(
            queue, {"id": row_id}))
        return JSONResponse({"ok": True, "id": row_id, "decision": decision,
                             "done": done, "count": count, "note": note})

    async def undo(request: Request) -> Response:
        taken = session.undo()
        if taken is None:
            return JSONResponse({"ok": True, "queue": None, "id": None, "decision": None, "done": 0, "count": 0})
        queue_key, row_id, now = taken
        done, count = session.progress(queue_key)
        return JSONResponse({"ok": True, "queue": queue_key, "id": row_id, "decision": now, "done": done, "count": count})

    async def rebuild(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(session.rebuild.status())
        if not session.start_rebuild():
            return _bad("a build is running already", 409)
        return JSONResponse({"ok": True})

    routes = [
        Route("/", index),
        Route("/api/state", state),
        Route("/api/queue/{key}", queue),
        Route("/api/decide", decide, methods=["POST"]),
        Route("/api/undo", undo, methods=["POST"]),
        Route("/api/rebuild", rebuild, methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
    ]
    return _Guard(Starlette(routes=routes), token=token, hosts=hosts, cookie=cookie)
