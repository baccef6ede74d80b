"""Polite HTTP fetching: robots.txt, per-host delays, retries, size and time limits, a cache.

:class:`HttpFetcher` is the real fetcher the web sources use by default; anything with the
same methods (:class:`Fetcher`) can stand in for it. A failed page is never an exception: it
comes back as a :class:`FetchResult` whose ``reason`` names what went wrong
(``robots_disallowed``, ``http_404``, ``timeout``, ``too_large``, ``not_html``, ``redirect_loop``,
``too_many_redirects``, ``connection_error``, ``robots_unavailable``, ``bad_sitemap``).

robots.txt is read as RFC 9309 says, with protego: ``*`` and ``$`` patterns, the longest match
wins and Allow wins a tie. The group is the one named exactly by the product token of
``fetch.user_agent`` (case-insensitive), else ``*``; protego alone would also take a group named
by a prefix of the token (``User-agent: hf`` for ``hf_ftbuilder``), so the group is chosen here.

``fetch.timeout`` is a deadline for a whole response, body included: the body is read with
``read1`` (whatever has arrived, at most 64 KiB) and the socket may wait no longer than the time
left, so a server that drips a byte every half second ends at the deadline, not 64 KiB later.
Sitemaps are bounded by ``max_sitemap_bytes`` rather than ``max_bytes``, gzip included: they are
decompressed in steps of bounded output, so a gzip bomb costs at most that many bytes of memory.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import urljoin, urlsplit

import urllib3
from protego import Protego
from urllib3.exceptions import HTTPError, ProtocolError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from ..config import Fetch
from .urls import is_html, normalize_url

if TYPE_CHECKING:
    from .fetch_cache import FetchCache

__all__ = ["FetchResult", "Fetcher", "HttpFetcher", "Kind"]

logger = logging.getLogger(__name__)

Kind = Literal["html", "sitemap", "robots"]
_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_GUNZIP_STEP = 1 << 20
# protego's spellings of the field (user-agent, useragent, user agent), colon optional as there.
_USER_AGENT_LINE = re.compile(r"^[ \t]*user[- ]?agent[ \t]*:?[ \t]*([^\s#]+)", re.I | re.M)
# Failures worth another try on a later run; everything else is a final answer and is cached.
_TRANSIENT = ("timeout", "connection_error", "robots_unavailable")


@dataclass
class FetchResult:
    """One fetched URL.

    Attributes:
        url: the URL asked for.
        final_url: where redirects led (``url`` when there were none).
        status: the final HTTP status, None when no response came.
        content_type: the response's Content-Type header.
        fetched_at: when the response came, ISO 8601 UTC.
        reason: None for a usable page, else why it is not one.
        body: the response body (None for most failures).
        from_cache: whether it came from the fetch cache.
    """

    url: str
    final_url: str
    status: int | None
    content_type: str | None
    fetched_at: str
    reason: str | None = None
    body: bytes | None = None
    from_cache: bool = False

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def cacheable(self) -> bool:
        if self.reason in _TRANSIENT:
            return False
        return not (self.status is not None and (self.status == 429 or self.status == 408 or self.status >= 500))


class Fetcher(Protocol):
    """What the web sources need from a fetcher."""

    def fetch(self, url: str, *, kind: Kind = "html") -> FetchResult: ...

    def fetch_many(self, urls: list[str], *, kind: Kind = "html", desc: str = "fetch") -> list[FetchResult]: ...

    def robots_sitemaps(self, url: str) -> list[str]: ...


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number (fractions accepted) or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _gunzip(data: bytes, limit: int) -> bytes | None:
    """``data`` gunzipped (members one after another, as gzip allows); None past ``limit`` bytes.

    Each step yields at most 1 MiB (``max_length``), so a bomb (1 GB of zeros in 1 MB) is
    refused after ``limit`` bytes instead of being inflated whole; one big step would also cost
    twice its size while zlib assembles it. Raises ``zlib.error`` for corrupt data and
    ``EOFError`` for a stream cut short.
    """
    out: list[bytes] = []
    size = 0
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while not inflater.eof:
            piece = inflater.decompress(data, min(_GUNZIP_STEP, limit - size + 1))
            size += len(piece)
            if size > limit:
                return None
            out.append(piece)
            data = inflater.unconsumed_tail
            if not piece and not data:
                raise EOFError("gzip stream ends before its end marker")
        data = inflater.unused_data
        if not data.startswith(_GZIP_MAGIC):  # no further member (some tools pad the file with zeros)
            return b"".join(out)


def _product_token(user_agent: str) -> str:
    """``hf_ftbuilder`` of ``hf_ftbuilder/0.1 (+https://...)``, lower-cased: RFC 9309 ignores case."""
    match = re.match(r"[^/\s]+", user_agent.strip())
    return match.group(0).lower() if match else "*"


class _Robots:
    """A host's robots.txt: who may fetch what, how slowly, and which sitemaps it lists.

    Args:
        text: the robots.txt body (None: no rules).
        agent: ``fetch.user_agent``.
        base: ``scheme://host`` the robots.txt came from; relative ``Sitemap:`` values resolve against it.
        allow_all: no robots.txt (4xx): everything may be fetched.
        deny_all: robots.txt unreachable (5xx, no answer): nothing may be fetched.
    """

    def __init__(
        self, text: str | None, agent: str, *, base: str = "", allow_all: bool = False, deny_all: bool = False
    ) -> None:
        self.allow_all = allow_all
        self.deny_all = deny_all
        text = text or ""
        self.parser = Protego.parse(text)
        token = _product_token(agent)
        named = {value.lower() for value in _USER_AGENT_LINE.findall(text)}
        # Asked with "*", protego can only pick the "*" group; asked with the token, it picks the
        # group named exactly so, which is the longest name it can find inside the token.
        self.group = token if token in named else "*"
        self.delay: float | None = self.parser.crawl_delay(self.group)
        self.sitemaps: list[str] = []
        for value in self.parser.sitemaps:
            url = urljoin(base + "/", value)
            if urlsplit(url).scheme in ("http", "https") and url not in self.sitemaps:
                self.sitemaps.append(url)

    def allowed(self, url: str) -> bool:
        """Whether robots.txt lets this crawler fetch ``url``."""
        if self.allow_all:
            return True
        return not self.deny_all and self.parser.can_fetch(url, self.group)


class HttpFetcher:
    """Fetches pages politely, with a shared connection pool and an optional on-disk cache.

    Args:
        cfg: the recipe's ``fetch`` section.
        cache: where responses are kept between runs (None: no cache).
        refresh: fetch again even what the cache holds (and update the cache).
        progress: show a progress bar in :meth:`fetch_many`.
    """

    def __init__(
        self, cfg: Fetch, *, cache: FetchCache | None = None, refresh: bool = False, progress: bool = True
    ) -> None:
        self.cfg = cfg
        self.cache = cache
        self.refresh = refresh
        self.progress = progress
        self.counts: Counter[str] = Counter()
        self._pool = urllib3.PoolManager(
            num_pools=64, maxsize=cfg.concurrency, block=False, headers={"User-Agent": cfg.user_agent}
        )
        self._lock = threading.Lock()
        self._next_start: dict[str, float] = {}
        self._robots: dict[str, _Robots] = {}
        self._robots_locks: dict[str, threading.Lock] = {}
        self._rng = random.Random(0)

    # -- politeness -------------------------------------------------------------------------

    def _wait_turn(self, url: str) -> None:
        """Sleep until this host may be asked again; every request to a host goes through here."""
        parts = urlsplit(url)
        host = f"{parts.scheme}://{parts.netloc.lower()}"
        robots = self._robots.get(host)
        delay = max(self.cfg.delay, robots.delay or 0.0) if robots else self.cfg.delay
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start.get(host, now))
            self._next_start[host] = start + delay
        if start > now:
            time.sleep(start - now)

    def _robots_for(self, url: str) -> _Robots:
        parts = urlsplit(url)
        host = f"{parts.scheme}://{parts.netloc.lower()}"
        with self._lock:
            lock = self._robots_locks.setdefault(host, threading.Lock())
        with lock:  # one fetch of robots.txt per host, however many workers ask at once
            if host not in self._robots:
                self._robots[host] = self._load_robots(host)
        return self._robots[host]

    def _load_robots(self, host: str) -> _Robots:
        url = host + "/robots.txt"
        result = self.fetch(url, kind="robots")
        agent = self.cfg.user_agent
        if result.status is not None and 200 <= result.status < 300 and result.body is not None:
            return _Robots(result.body.decode("utf-8", errors="replace"), agent, base=host)
        if result.status is not None and 400 <= result.status < 500 and result.status != 429:
            return _Robots(None, agent, allow_all=True)  # RFC 9309: no robots.txt, no rules
        logger.warning("robots.txt at %s unavailable (%s): not fetching from that host", url, result.reason)
        return _Robots(None, agent, deny_all=True)  # RFC 9309: unreachable means disallow all

    # -- one request ------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        with self._lock:
            jitter = self._rng.uniform(0.5, 1.0)
        return min(self.cfg.max_backoff, self.cfg.backoff * (2**attempt)) * jitter

    def _request(self, url: str) -> tuple[urllib3.BaseHTTPResponse, float] | str:
        """GET with retries on connection errors, 429 and 5xx: the response and its deadline, or a reason.

        The deadline (``fetch.timeout`` after the request goes out) covers the answering attempt
        only, never the wait for this host's turn or the backoff between attempts.
        """
        cfg = self.cfg
        reason = "connection_error"
        for attempt in range(cfg.retries + 1):
            self._wait_turn(url)
            self.counts["requests"] += 1
            deadline = time.monotonic() + cfg.timeout
            try:
                response = self._pool.request(
                    "GET",
                    url,
                    preload_content=False,
                    redirect=False,
                    retries=False,
                    timeout=urllib3.Timeout(connect=cfg.connect_timeout, read=cfg.timeout),
                )
            except Urllib3Timeout:
                return "timeout"
            except HTTPError as exc:
                logger.debug("%s: %s", url, exc)
                reason = "connection_error"
                wait = self._backoff(attempt)
            else:
                if response.status != 429 and response.status < 500:
                    return response, deadline
                reason = f"http_{response.status}"
                wait = _retry_after(response.headers.get("Retry-After"))
                wait = self._backoff(attempt) if wait is None else wait
                # Closed, not released: an unread error body would corrupt the next request on
                # the same keep-alive connection.
                response.close()
                if wait > cfg.max_backoff:
                    return reason
            if attempt < cfg.retries:
                time.sleep(wait)
        return reason

    def _read_body(self, response: urllib3.BaseHTTPResponse, deadline: float, limit: int) -> bytes | str:
        """The body, or ``too_large`` / ``timeout`` / ``connection_error``; never more than ``limit`` bytes.

        ``read1`` returns as soon as anything has arrived and the socket may block no longer than
        the time left, so ``deadline`` holds however slowly the body drips.
        """
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > limit:
            response.close()
            return "too_large"
        sock = getattr(response.connection, "sock", None)
        chunks, size = [], 0
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    response.close()
                    return "timeout"
                if sock is not None:  # urllib3 sets it afresh when it reuses the connection
                    sock.settimeout(left)
                chunk = response.read1(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    response.close()
                    return "too_large"
                chunks.append(chunk)
        except Urllib3Timeout:
            response.close()
            return "timeout"
        except (ProtocolError, HTTPError, OSError):
            response.close()
            return "connection_error"
        response.release_conn()
        return b"".join(chunks)

    def _fetch_uncached(self, url: str, kind: Kind) -> FetchResult:
        current, seen = url, {normalize_url(url)}
        limit = self.cfg.max_sitemap_bytes if kind == "sitemap" else self.cfg.max_bytes
        for _hop in range(self.cfg.max_redirects + 1):
            if kind != "robots" and self.cfg.obey_robots:
                robots = self._robots_for(current)
                if not robots.allowed(current):
                    reason = "robots_unavailable" if robots.deny_all else "robots_disallowed"
                    return FetchResult(url, current, None, None, _now(), reason)
            answer = self._request(current)
            if isinstance(answer, str):
                status = int(answer[5:]) if answer.startswith("http_") else None
                return FetchResult(url, current, status, None, _now(), answer)
            response, deadline = answer
            status, content_type = response.status, response.headers.get("Content-Type")
            location = response.headers.get("Location")
            if status in _REDIRECTS and location:
                response.close()
                target = urljoin(current, location)
                if normalize_url(target) in seen:
                    return FetchResult(url, target, status, None, _now(), "redirect_loop")
                seen.add(normalize_url(target))
                current = target
                continue
            if kind == "html" and 200 <= status < 300 and content_type and not is_html(content_type, b""):
                response.close()
                return FetchResult(url, current, status, content_type, _now(), "not_html")
            body = self._read_body(response, deadline, limit)
            if isinstance(body, str):
                return FetchResult(url, current, status, content_type, _now(), body)
            if not 200 <= status < 300:
                reason = f"http_{status}"
            elif kind == "html" and not is_html(content_type, body):
                reason = "not_html"
            else:
                reason = None
            keep = body if reason is None or kind == "robots" else None
            return FetchResult(url, current, status, content_type, _now(), reason, keep)
        return FetchResult(url, current, None, None, _now(), "too_many_redirects")

    def _gunzipped(self, result: FetchResult) -> FetchResult:
        """A gzipped sitemap (``.xml.gz``, told by its magic bytes) decompressed within ``max_sitemap_bytes``.

        The cache keeps the body as it came; a ``.xml.gz`` that a server already decoded (sent
        with Content-Encoding) has no magic bytes and is passed on as it is.
        """
        if not result.ok or result.body is None or not result.body.startswith(_GZIP_MAGIC):
            return result
        try:
            body = _gunzip(result.body, self.cfg.max_sitemap_bytes)
        except (zlib.error, EOFError) as exc:
            logger.warning("sitemap %s: gzip data does not decompress (%s)", result.url, exc)
            return replace(result, reason="bad_sitemap", body=None)
        if body is None:
            return replace(result, reason="too_large", body=None)
        return replace(result, body=body)

    # -- public -----------------------------------------------------------------------------

    def fetch(self, url: str, *, kind: Kind = "html") -> FetchResult:
        """Fetch one URL (from the cache when it holds it and ``refresh`` is off).

        Args:
            url: the URL.
            kind: ``html`` (only HTML pages are usable), ``sitemap`` (bounded by
                ``max_sitemap_bytes`` and gunzipped) or ``robots``.

        Returns:
            The result; ``reason`` says why it is not usable, if it is not.
        """
        result = None
        if self.cache is not None and not self.refresh:
            result = self.cache.get(url)
            if result is not None:
                self.counts["from_cache"] += 1
        if result is None:
            result = self._fetch_uncached(url, kind)
            if self.cache is not None and result.cacheable:
                self.cache.put(result)
        return self._gunzipped(result) if kind == "sitemap" else result

    def robots_sitemaps(self, url: str) -> list[str]:
        """The ``Sitemap:`` URLs of the robots.txt of ``url``'s host, in their order.

        robots.txt is fetched once per host, the same fetch that decides what may be crawled; a
        host without one (or whose robots.txt is unreachable) lists none.
        """
        return list(self._robots_for(url).sitemaps)

    def fetch_many(self, urls: list[str], *, kind: Kind = "html", desc: str = "fetch") -> list[FetchResult]:
        """Fetch URLs concurrently (``fetch.concurrency``); results come back in the order asked."""
        from tqdm.auto import tqdm

        results: list[FetchResult | None] = [None] * len(urls)
        tally: Counter[str] = Counter()
        bar = tqdm(total=len(urls), desc=desc, unit="page", disable=not self.progress, leave=False)
        pool = ThreadPoolExecutor(max_workers=self.cfg.concurrency, thread_name_prefix="ftbuild-fetch")
        try:
            futures = {pool.submit(self.fetch, url, kind=kind): i for i, url in enumerate(urls)}
            for future in as_completed(futures):
                result = future.result()
                results[futures[future]] = result
                tally["ok" if result.ok else "failed"] += 1
                bar.update(1)
                bar.set_postfix(ok=tally["ok"], failed=tally["failed"], queued=len(urls) - bar.n, refresh=False)
        finally:
            # Ctrl-C: drop what has not started; finished pages are already in the cache.
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        return [r for r in results if r is not None]
