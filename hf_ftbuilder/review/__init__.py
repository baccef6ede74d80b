"""``ftbuild review``: a local page over a recipe's latest build where a person decides.

The page has a queue per kind of decision: KMeans clusters to name, rows to label (low-confidence,
tied, not yet annotated, and the rows the label-noise estimate flags), and, to read, the removed
near-duplicates and the leaked validation/test rows. Each decision is written at once to the
decision files beside the recipe (:mod:`hf_ftbuilder.decisions`), which the next build reads; the
page's Rebuild runs that build in a separate process.

It is a Starlette app served by uvicorn on 127.0.0.1 (:mod:`.app` says how it guards itself), with
a server-side template and plain JavaScript shipped in the wheel: no build step, no CDN, offline.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import secrets
import socket
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path

from ..errors import ReviewError
from ..extras import require
from .app import make_app
from .session import ReviewSession

__all__ = ["ReviewSession", "bind", "review"]

logger = logging.getLogger(__name__)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free one).

    Raises:
        ReviewError: the port is taken, or the address is not this machine's.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ReviewError(f"review: port {port} on {host} is in use; choose another with --port "
                              "(or --port 0 for any free one)") from None
        raise ReviewError(f"review: cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(128)
    return sock


def review(
    recipe: str | Path,
    *,
    output_dir: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    allow_remote: bool = False,
    annotator: str | None = None,
    open_browser: bool = True,
    on_ready: Callable[[str, ReviewSession], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve the review page over the recipe's latest build until interrupted (or ``stop`` is set).

    Args:
        recipe: the recipe's path.
        output_dir: the build folder (default: the recipe's ``output.dir`` or ``build/<name>``).
        host: the address to listen on; anything but loopback needs ``allow_remote``.
        port: the port (0: any free one).
        allow_remote: allow a non-loopback ``host`` (the token still guards every request).
        annotator: who decides (default: the OS user).
        open_browser: open the page in the default browser.
        on_ready: called with the page's URL (token included) and the session once it listens.
        stop: an event that ends the serving when set (tests, notebooks).

    Raises:
        ReviewError: no build, not a build, a non-loopback host without ``allow_remote``, the port taken.
        MissingDependencyError: the ``review`` extra is not installed.
    """
    require("review", "ftbuild review")
    import uvicorn  # the review extra, checked just above

    if not _loopback(host) and not allow_remote:
        raise ReviewError(f"review: --host {host} is not a loopback address; the page would be open to the "
                          "network: add --allow-remote if that is what you want")
    session = ReviewSession(recipe, output_dir=output_dir, annotator=annotator)
    sock = bind(host, port)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    hosts = {f"{shown}:{port}"} | ({f"localhost:{port}", f"127.0.0.1:{port}"} if _loopback(host) else set())
    token = secrets.token_urlsafe(24)
    app = make_app(session, token=token, hosts=hosts, cookie=f"ftbuild_review_{port}")
    url = f"http://{shown}:{port}/?token={token}"
    if not _loopback(host):
        logger.warning("review: serving on %s, reachable from the network; anyone with the URL can decide", host)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    if stop is not None:
        threading.Thread(target=lambda: (stop.wait(), setattr(server, "should_exit", True)), daemon=True).start()
    if on_ready is not None:
        on_ready(url, session)
    for note in session.notes():
        logger.warning("review: %s", note)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
