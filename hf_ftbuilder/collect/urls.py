"""URL normalisation, link extraction and the HTML decoding rules of the web sources."""

from __future__ import annotations

import codecs
import re
from urllib.parse import urljoin, urlsplit, urlunsplit

__all__ = ["decode_html", "extract_links", "host_of", "is_html", "normalize_url"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
# Labels that browsers decode as windows-1252 (WHATWG Encoding Standard).
_BROWSER_FALLBACKS = {
    "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258", "cp874",
    "koi8-r", "koi8-u", "shift_jis", "cp932", "euc_jp", "iso2022_jp", "euc_kr", "cp949", "gbk", "gb2312",
    "gb18030", "big5", "big5hkscs",
}
_AS_CP1252 = {"iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii", "iso8859-1", "l1", "cp819"}


def normalize_url(url: str) -> str:
    """Lower-case scheme and host, drop the default port and the fragment, give an empty path ``/``."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def host_of(url: str) -> str:
    """``host[:port]`` of a URL, lower-cased."""
    return urlsplit(url).netloc.lower()


def is_html(content_type: str | None, body_start: bytes) -> bool:
    """Whether a response is an HTML page, by its Content-Type or, without one, by its first bytes."""
    if content_type:
        mime = content_type.split(";")[0].strip().lower()
        return mime in ("text/html", "application/xhtml+xml")
    head = body_start[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def _charset_param(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", content_type, re.I)
    return match.group(1) if match else None


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    if label in _AS_CP1252:
        return "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Decode a page: BOM, then the Content-Type charset, then ``<meta charset>``, then detection.

    Detection tries UTF-8 first (a strict decode rarely succeeds by accident), then
    charset-normalizer, then windows-1252, the web's fallback for undeclared Western pages.
    """
    for bom, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return body.decode(codec, errors="replace").lstrip("\ufeff")
    declared = _codec(_charset_param(content_type))
    if declared is None:
        match = _META_CHARSET.search(body[:4096])
        declared = _codec(match.group(1).decode("ascii", "ignore")) if match else None
    if declared:
        return body.decode(declared, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    # The detector ranks near-ties arbitrarily on short Western text (cp775, cp1250 and cp1252 all
    # "fit"): when windows-1252 fits at all, take it, as browsers do for undeclared Western pages;
    # otherwise its best guess among the encodings browsers fall back to (no DOS or Mac pages).
    fits = [c for match in from_bytes(body[:200_000]) if (c := _codec(match.encoding)) in _BROWSER_FALLBACKS]
    codec = "cp1252" if "cp1252" in fits or not fits else fits[0]
    return body.decode(codec, errors="replace")


def extract_links(html: str, base_url: str) -> list[str]:
    """Absolute http(s) link targets of a page, in document order, without fragments."""
    import lxml.html
    from lxml import etree

    try:
        doc = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return []
    base = doc.xpath("string(//base/@href)") or base_url
    links = []
    for href in doc.xpath("//a/@href"):
        href = str(href).strip()
        if not href or href.startswith(("#", "mailto:", "javascript:", "tel:", "data:")):
            continue
        absolute = urljoin(urljoin(base_url, base), href)
        if urlsplit(absolute).scheme in ("http", "https"):
            links.append(normalize_url(absolute))
    return links
