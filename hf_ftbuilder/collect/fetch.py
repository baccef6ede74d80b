"""Polite HTTP fetching: robots.txt, per-host delays, retries, size and time limits, a cache.

:class:`HttpFetcher` is the real fetcher the web sources use by default; anything with the
same ``fetch``/``fetch_many`` methods (:class:`Fetcher`) can stand in for it. A failed page is
never an exception: it comes back as a :class:`FetchResult` whose ``reason`` names what went
wrong (``robots_disallowed``, ``http_404``, ``timeout``, ``too_large``, ``not_html``,
``redirect_loop``, ``too_many_redirects``, ``connection_error``, ``robots_unavailable``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import urllib3
from urllib3.exceptions import HTTPError, ProtocolError, TimeoutError as Urllib3Timeout

from ..config import Fetch
from .urls import is_html, normalize_url

if TYPE_CHECKING:
    from .fetch_cache import FetchCache

__all__ = ["FetchResult", "Fetcher", "HttpFetcher", "Kind"]

logger = logging.getLogger(__name__)

Kind = Literal["html", "sitemap", "robots"]
_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 64 * 1024
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


def _crawl_delay(robots_txt: str, agent: str) -> float | None:
    """Crawl-delay for ``agent`` (its own group first, then ``*``); fractions accepted."""
    agent = agent.split("/")[0].lower()
    delays: dict[str, float] = {}
    group: list[str] = []
    in_rules = False
    for raw in robots_txt.splitlines():
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        key = key.lower()
        if key == "user-agent":
            if in_rules:
                group, in_rules = [], False
            group.append(value.lower())
            continue
        in_rules = True
        if key == "crawl-delay":
            try:
                delay = float(value)
            except ValueError:
                continue
            for ua in group:
                delays.setdefault(ua, delay)
    for ua, delay in delays.items():
        if ua != "*" and ua in agent:
            return delay
    return delays.get("*")


class _Robots:
    """A host's robots.txt: who may fetch what, and how slowly."""

    def __init__(self, text: str | None, agent: str, *, allow_all: bool = False, deny_all: bool = False) -> None:
        self.agent = agent
        self.allow_all = allow_all
        self.deny_all = deny_all
        self.parser = RobotFileParser()
        self.parser.parse((text or "").splitlines())
        self.delay = _crawl_delay(text, agent) if text else None

    def allowed(self, url: str) -> bool:
        if self.allow_all:
            return True
        return not self.deny_all and self.parser.can_fetch(self.agent, url)


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
                self._robots[host] = self._load_robots(host + "/robots.txt")
        return self._robots[host]

    def _load_robots(self, url: str) -> _Robots:
        result = self.fetch(url, kind="robots")
        agent = self.cfg.user_agent
        if result.status is not None and 200 <= result.status < 300 and result.body is not None:
            return _Robots(result.body.decode("utf-8", errors="replace"), agent)
        if result.status is not None and 400 <= result.status < 500 and result.status != 429:
            return _Robots(None, agent, allow_all=True)  # RFC 9309: no robots.txt, no rules
        logger.warning("robots.txt at %s unavailable (%s): not fetching from that host", url, result.reason)
        return _Robots(None, agent, deny_all=True)  # RFC 9309: unreachable means disallow all

    # -- one request ------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        with self._lock:
            jitter = self._rng.uniform(0.5, 1.0)
        return min(self.cfg.max_backoff, self.cfg.backoff * (2**attempt)) * jitter

    def _request(self, url: str) -> urllib3.BaseHTTPResponse | str:
        """GET with retries on connection errors, 429 and 5xx; a reason string on failure."""
        cfg = self.cfg
        reason = "connection_error"
        for attempt in range(cfg.retries + 1):
            self._wait_turn(url)
            self.counts["requests"] += 1
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
                    return response
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

    def _read_body(self, response: urllib3.BaseHTTPResponse, started: float) -> bytes | str:
        """The body, or ``too_large`` / ``timeout`` / ``connection_error``; never more than max_bytes."""
        cfg = self.cfg
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > cfg.max_bytes:
            response.close()
            return "too_large"
        chunks, size = [], 0
        try:
            for chunk in response.stream(_CHUNK):
                size += len(chunk)
                if size > cfg.max_bytes:
                    response.close()
                    return "too_large"
                if time.monotonic() - started > cfg.timeout:
                    response.close()
                    return "timeout"
                chunks.append(chunk)
        except Urllib3Timeout:
            response.close()
            return "timeout"
        except (ProtocolError, HTTPError):
            response.close()
            return "connection_error"
        response.release_conn()
        return b"".join(chunks)

    def _fetch_uncached(self, url: str, kind: Kind) -> FetchResult:
        current, seen = url, {normalize_url(url)}
        for _hop in range(self.cfg.max_redirects + 1):
            if kind != "robots" and self.cfg.obey_robots:
                robots = self._robots_for(current)
                if not robots.allowed(current):
                    reason = "robots_unavailable" if robots.deny_all else "robots_disallowed"
                    return FetchResult(url, current, None, None, _now(), reason)
            started = time.monotonic()
            response = self._request(current)
            if isinstance(response, str):
                status = int(response[5:]) if response.startswith("http_") else None
                return FetchResult(url, current, status, None, _now(), response)
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
            body = self._read_body(response, started)
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

    # -- public -----------------------------------------------------------------------------

    def fetch(self, url: str, *, kind: Kind = "html") -> FetchResult:
        """Fetch one URL (from the cache when it holds it and ``refresh`` is off)."""
        if self.cache is not None and not self.refresh:
            cached = self.cache.get(url)
            if cached is not None:
                self.counts["from_cache"] += 1
                return cached
        result = self._fetch_uncached(url, kind)
        if self.cache is not None and result.cacheable:
            self.cache.put(result)
        return result

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
