"""The web sources: ``urls``, ``sitemap`` and ``crawl``, fetched through a :class:`Fetcher`.

Each returns its pages in a fixed order (the list's order; the sitemaps' order; breadth first
for a crawl, links in document order), so a rerun from the cache gives the same rows.

Sitemaps follow sitemaps.org: XML urlsets and sitemap indexes (nested indexes followed depth
first), plain-text sitemaps (one URL a line, UTF-8), gzipped or not (the fetcher gunzips within
``fetch.max_sitemap_bytes``). One file lists at most 50,000 URLs; past that the first 50,000 are
kept, with a warning. A ``sitemap`` source whose URL is a site root reads the ``Sitemap:`` lines
of that host's robots.txt, and falls back to ``/sitemap.xml`` when there are none.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from lxml import etree

from ..config import CrawlSource, SitemapSource, UrlsSource
from ..errors import SourceError
from .fetch import Fetcher, FetchResult
from .urls import decode_html, extract_links, host_of, normalize_url

__all__ = ["WebPage", "crawl", "read_url_list", "sitemap", "urls"]

logger = logging.getLogger(__name__)

_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
_MAX_SITEMAP_URLS = 50_000  # sitemaps.org: what one sitemap file (or index) may list
_HTTP_URL = re.compile(r"^https?://[^\s/]+")


@dataclass
class WebPage:
    """A fetched page (or a failure) with what the sitemap said about it."""

    result: FetchResult
    lastmod: str | None = None
    depth: int | None = None


def read_url_list(path: Path) -> list[str]:
    """URLs of a file, one a line; blank lines and ``#`` comments are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not valid utf-8 ({exc.reason})") from None
    out = []
    for lineno, line in enumerate(lines, start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if not _HTTP_URL.match(line):
            raise SourceError(f"{path}:{lineno}: not an http(s) URL: {line!r}")
        out.append(line)
    return out


def _check_urls(values: list[str], where: str) -> list[str]:
    for value in values:
        if not _HTTP_URL.match(value):
            raise SourceError(f"{where}: not an http(s) URL: {value!r}")
    return values


def urls(src: UrlsSource, base_dir: Path, fetcher: Fetcher) -> list[WebPage]:
    """Fetch the listed URLs."""
    listed = read_url_list(base_dir / src.path) if src.path else _check_urls(list(src.urls or []), "urls")
    return [WebPage(r) for r in fetcher.fetch_many(listed, desc="urls")]


def _xml_sitemap(body: bytes) -> tuple[str, list[tuple[str, str | None]]]:
    """The root's name and the ``(loc, lastmod)`` entries of an XML sitemap, up to one past the limit.

    Parsed incrementally, each entry freed once read, so a 50 MB sitemap never becomes a whole tree;
    no entity is resolved and nothing is fetched from the network.
    """
    events = etree.iterparse(
        io.BytesIO(body), events=("start", "end"), resolve_entities=False, no_network=True, huge_tree=False
    )
    kind, wanted = "", ("", "")
    entries: list[tuple[str, str | None]] = []
    for event, node in events:
        if not kind:  # the first event opens the root
            kind = etree.QName(node).localname
            child = "sitemap" if kind == "sitemapindex" else "url"
            wanted = (f"{_SITEMAP_NS}{child}", child)
            continue
        if event != "end" or node.tag not in wanted:
            continue
        loc = node.findtext(f"{_SITEMAP_NS}loc") or node.findtext("loc")
        lastmod = node.findtext(f"{_SITEMAP_NS}lastmod") or node.findtext("lastmod")
        if loc and loc.strip():
            entries.append((loc.strip(), lastmod.strip() if lastmod else None))
        node.clear(keep_tail=True)
        while node.getprevious() is not None:
            del node.getparent()[0]
        if len(entries) > _MAX_SITEMAP_URLS:
            break
    return kind, entries


def _text_sitemap(body: bytes) -> list[tuple[str, str | None]]:
    """The URLs of a text sitemap: one a line, UTF-8; blank and non-http(s) lines are skipped."""
    lines = body.decode("utf-8-sig").splitlines()  # strict: sitemaps.org requires UTF-8
    return [(line, None) for raw in lines if _HTTP_URL.match(line := raw.strip())]


def _parse_sitemap(body: bytes, url: str) -> tuple[str, list[tuple[str, str | None]]]:
    """The kind (``sitemapindex``, ``urlset``, ``text``) and entries of a sitemap, at most 50,000.

    Raises:
        etree.XMLSyntaxError: XML that does not parse.
        UnicodeDecodeError: a text sitemap that is not UTF-8.
    """
    if body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":  # XML; a text sitemap starts with a URL
        kind, entries = _xml_sitemap(body)
    else:
        kind, entries = "text", _text_sitemap(body)
    if len(entries) > _MAX_SITEMAP_URLS:
        logger.warning("sitemap %s lists more than %d URLs (the sitemaps.org limit): keeping the first %d",
                       url, _MAX_SITEMAP_URLS, _MAX_SITEMAP_URLS)
        entries = entries[:_MAX_SITEMAP_URLS]
    return kind, entries


def _first_sitemaps(src: SitemapSource, fetcher: Fetcher) -> list[str]:
    """The source's URL; for a site root, the robots.txt ``Sitemap:`` lines or else ``/sitemap.xml``."""
    parts = urlsplit(src.url)
    if parts.path not in ("", "/"):
        return [src.url]
    listed = fetcher.robots_sitemaps(src.url)
    if listed:
        logger.info("sitemap: %d sitemaps listed in the robots.txt of %s", len(listed), parts.netloc)
        return listed
    logger.info("sitemap: no Sitemap line in the robots.txt of %s; trying /sitemap.xml", parts.netloc)
    return [urlunsplit((parts.scheme, parts.netloc, "/sitemap.xml", "", ""))]


def sitemap(src: SitemapSource, fetcher: Fetcher) -> list[WebPage]:
    """Fetch the pages the sitemaps list, with ``lastmod``.

    Args:
        src: the source; a site root as ``url`` means the sitemaps robots.txt lists (or ``/sitemap.xml``).
        fetcher: fetches the sitemaps (``kind="sitemap"``) and then the pages.

    Returns:
        Sitemaps that failed (as failed pages, with their reason), then the pages in sitemap order,
        each URL once, at most ``src.max_pages``.
    """
    pending, seen_maps = _first_sitemaps(src, fetcher), set()
    pages: list[tuple[str, str | None]] = []
    failures: list[WebPage] = []
    while pending:
        url = pending.pop(0)
        if normalize_url(url) in seen_maps:
            continue
        seen_maps.add(normalize_url(url))
        result = fetcher.fetch(url, kind="sitemap")
        if not result.ok or result.body is None:
            failures.append(WebPage(result))
            continue
        try:
            kind, entries = _parse_sitemap(result.body, url)
        except (etree.XMLSyntaxError, UnicodeDecodeError) as exc:
            logger.warning("sitemap %s does not parse (%s)", url, exc)
            failures.append(WebPage(FetchResult(url, result.final_url, result.status, result.content_type,
                                                result.fetched_at, "bad_sitemap")))
            continue
        if kind == "sitemapindex":
            pending[0:0] = [loc for loc, _ in entries]  # nested sitemaps first, in their order
        else:
            pages.extend(entries)
    seen, unique = set(), []
    for loc, lastmod in pages:
        if normalize_url(loc) not in seen:
            seen.add(normalize_url(loc))
            unique.append((loc, lastmod))
    if src.max_pages is not None:
        unique = unique[: src.max_pages]
    results = fetcher.fetch_many([loc for loc, _ in unique], desc="sitemap")
    return failures + [WebPage(r, lastmod=lastmod) for r, (_, lastmod) in zip(results, unique)]


def _host_allowed(host: str, domains: list[str]) -> bool:
    host = host.split(":")[0] if not any(":" in d for d in domains) else host
    return any(host == d or host.endswith("." + d) for d in domains)


def crawl(src: CrawlSource, fetcher: Fetcher) -> list[WebPage]:
    """Breadth-first crawl from the seeds, within ``allowed_domains`` and the URL patterns."""
    domains = [d.lower() for d in src.allowed_domains] if src.allowed_domains else sorted(
        {host_of(s) for s in _check_urls(src.seeds, "crawl.seeds")}
    )
    include = [re.compile(p) for p in src.include]
    exclude = [re.compile(p) for p in src.exclude]

    def wanted(url: str) -> bool:
        if not _host_allowed(host_of(url), domains):
            return False
        if include and not any(p.search(url) for p in include):
            return False
        return not any(p.search(url) for p in exclude)

    seen: set[str] = set()
    level = []
    for seed in src.seeds:
        norm = normalize_url(seed)
        if norm not in seen:
            seen.add(norm)
            level.append(norm)
    pages: list[WebPage] = []
    for depth in range(src.max_depth + 1):
        level = level[: src.max_pages - len(pages)]
        if not level:
            break
        results = fetcher.fetch_many(level, desc=f"crawl depth {depth}")
        pages.extend(WebPage(r, depth=depth) for r in results)
        if depth == src.max_depth:
            break
        following = []
        for result in results:
            seen.add(normalize_url(result.final_url))
            if not result.ok or result.body is None:
                continue
            for link in extract_links(decode_html(result.body, result.content_type), result.final_url):
                if link not in seen and wanted(link):
                    seen.add(link)
                    following.append(link)
        level = following
    return pages
