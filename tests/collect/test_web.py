"""Web sources against a real HTTP server on 127.0.0.1 (tests/web_server.py)."""

from __future__ import annotations

import gzip
import os
import re
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

import hf_ftbuilder
from hf_ftbuilder.collect import collect
from hf_ftbuilder.collect.fetch import FetchResult, HttpFetcher, Kind, _retry_after, _Robots
from hf_ftbuilder.collect.fetch_cache import FetchCache
from hf_ftbuilder.collect.urls import decode_html, extract_links, normalize_url
from hf_ftbuilder.collect.web import _parse_sitemap, sitemap
from hf_ftbuilder.config import Fetch, SitemapSource, load_config
from hf_ftbuilder.context import StageContext

from ..conftest import LIGHT_REPORT
from ..web_server import serve

FAST = {"delay": 0.0, "concurrency": 4, "connect_timeout": 0.5, "timeout": 0.5, "retries": 2,
        "backoff": 0.01, "max_backoff": 1.0, "max_bytes": 2_000_000}


def _recipe(tmp_path: Path, sources: list[dict], fetch: dict | None = None, name: str = "web") -> Path:
    path = tmp_path / f"{name}.yaml"
    recipe = {"name": name, "sources": sources, "fetch": {**FAST, **(fetch or {})}, "cache_dir": f"cache-{name}",
              "report": LIGHT_REPORT}
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def _page_hits(site) -> list[str]:
    return [p for p in site.paths() if p.startswith("/pages/")]


# -- pure pieces ---------------------------------------------------------------------------


def test_normalize_url() -> None:
    assert normalize_url("HTTP://Example.COM:80/a?b=1#frag") == "http://example.com/a?b=1"
    assert normalize_url("https://example.com:443") == "https://example.com/"
    assert normalize_url("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080/x"


def test_extract_links_resolves_and_filters() -> None:
    html = ('<html><head><base href="/docs/"></head><body><a href="a.html#x">a</a><a href="mailto:x@y">m</a>'
            '<a href="https://other.org/p">o</a><a href="javascript:void(0)">j</a><a href="#top">t</a></body></html>')
    assert extract_links(html, "http://site.test/index.html") == [
        "http://site.test/docs/a.html", "https://other.org/p"]


def test_decode_html_order_of_evidence() -> None:
    page = "<html><body>café €5</body></html>"
    assert decode_html(page.encode("cp1252"), "text/html; charset=windows-1252") == page
    assert decode_html(page.encode("cp1252"), "text/html; charset=ISO-8859-1") == page  # decoded as cp1252
    meta = '<html><head><meta charset="koi8-r"></head><body>привет</body></html>'
    assert decode_html(meta.encode("koi8-r"), "text/html") == meta
    assert decode_html(page.encode("utf-8"), None) == page
    assert decode_html(page.encode("cp1252"), "text/html") == page  # undeclared and not utf-8
    assert decode_html(b"\xef\xbb\xbf" + page.encode("utf-8"), "text/html; charset=latin-1") == page  # BOM wins


def test_retry_after_and_crawl_delay_parsing() -> None:
    assert _retry_after("2") == 2.0
    assert _retry_after("0.3") == 0.3
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    assert _retry_after("soon") is None
    robots = "User-agent: other\nCrawl-delay: 9\n\nUser-agent: *\nDisallow: /x\nCrawl-delay: 0.25\n"
    assert _Robots(robots, "hf_ftbuilder/0.1").delay == 0.25
    assert _Robots(robots, "Other/1.0 (+https://other.test)").delay == 9.0  # product token, any case
    assert _Robots(robots, "other-bot/1.0").delay == 0.25  # "other" names another product
    assert _Robots("User-agent: *\nDisallow: /\n", "x").delay is None


def test_fetch_cache_round_trip_and_torn_entry(tmp_path: Path) -> None:
    cache = FetchCache(tmp_path / "fetch")
    result = FetchResult("http://a.test/", "http://a.test/b", 200, "text/html", "2024-01-01T00:00:00Z", None, b"<p>x</p>")
    cache.put(result)
    again = cache.get("http://a.test/")
    assert again == FetchResult(**{**result.__dict__, "from_cache": True})
    assert cache.get("http://a.test/other") is None
    (entry,) = (tmp_path / "fetch").glob("*/*.entry")
    entry.write_bytes(entry.read_bytes()[:-2])  # a body cut short is not trusted
    assert cache.get("http://a.test/") is None
    assert not list((tmp_path / "fetch").glob("*/.tmp-*"))


# -- against the server --------------------------------------------------------------------


def test_every_fault_is_counted_and_the_crawl_finishes(tmp_path: Path) -> None:
    with serve() as site:
        good = site.page_url(site.page_ids[1])
        routes = ["/missing", "/flaky", "/busy", "/never", "/loop-a", "/redirect", "/huge", "/huge-chunked",
                  "/doc.pdf", "/plain.txt", "/cp1252", "/reset", "/drip", "/private/secret"]
        urls = [good] + [site.url + r for r in routes]
        path = _recipe(tmp_path, [{"type": "urls", "urls": urls}])
        result = hf_ftbuilder.build(path, output_dir=tmp_path / "out", until="extract", progress=False)
        assert site.hits("/private/secret") == 0
        assert site.hits("/robots.txt") == 1
        assert site.hits("/flaky") == 3 and site.hits("/busy") == 2
        assert site.hits("/reset") == 3  # first try and two retries
        assert site.hits("/missing") == 1  # a 404 is final: no retry

    collect = result.stages[0]
    assert collect.dropped == {
        "timeout": 2, "not_html": 2, "too_large": 2, "connection_error": 1, "http_404": 1,
        "redirect_loop": 1, "robots_disallowed": 1,
    }
    reasons = dict(zip(collect.dropped_rows["url"], collect.dropped_rows["drop_reason"]))
    assert reasons == {
        site.url + "/missing": "http_404", site.url + "/never": "timeout", site.url + "/loop-a": "redirect_loop",
        site.url + "/huge": "too_large", site.url + "/huge-chunked": "too_large", site.url + "/doc.pdf": "not_html",
        site.url + "/plain.txt": "not_html", site.url + "/reset": "connection_error", site.url + "/drip": "timeout",
        site.url + "/private/secret": "robots_disallowed",
    }
    train = result.dataset["train"]
    assert train["url"] == [good, site.url + "/flaky", site.url + "/busy", site.page_url(site.page_ids[0]),
                            site.url + "/cp1252"]
    assert train["http_status"] == [200] * 5
    assert train["source"] == [f"urls:{site.url.removeprefix('http://')}"] * 5
    assert all(t and len(t.split()) > 20 for t in train["text"])
    cp1252 = train["text"][4]
    assert "café" in cp1252 and "naïve" in cp1252 and "€5" in cp1252 and "“like this”" in cp1252
    assert all(f.endswith("Z") for f in train["fetched_at"])
    card = (tmp_path / "out" / "README.md").read_text()
    row = next(line for line in card.splitlines() if line.startswith("| collect |"))
    assert re.sub(r" \(e\.g\. `[0-9a-f]{16}`\)", "", row) == (
        "| collect | 15 | 5 | not_html: 2, timeout: 2, too_large: 2, connection_error: 1, http_404: 1, "
        "redirect_loop: 1, robots_disallowed: 1 |")
    assert f"(`{site.url}/missing`)" in card  # examples of failed pages show their URL


def test_politeness_is_measured_at_the_server(tmp_path: Path) -> None:
    with serve() as site:
        urls = [site.page_url(p) for p in site.page_ids[:8]]
        path = _recipe(tmp_path, [{"type": "urls", "urls": urls}], fetch={"delay": 0.2, "concurrency": 4})
        hf_ftbuilder.crawl(path, progress=False)
        starts = sorted(hit.start for hit in site.log)
        assert site.paths()[0] == "/robots.txt" and site.hits("/robots.txt") == 1
        assert len(starts) == 9
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert min(gaps) >= 0.18, gaps
        assert {hit.user_agent for hit in site.log} == {hf_ftbuilder.config.Fetch().user_agent}


def test_robots_crawl_delay_slows_the_host(tmp_path: Path) -> None:
    with serve(crawl_delay=0.25) as site:  # fractional, as protego reads it
        urls = [site.page_url(p) for p in site.page_ids[:4]]
        hf_ftbuilder.crawl(_recipe(tmp_path, [{"type": "urls", "urls": urls}]), progress=False)
        starts = sorted(hit.start for hit in site.log)[1:]  # the pages, after robots.txt
        assert len(starts) == 4
        assert min(b - a for a, b in zip(starts, starts[1:])) >= 0.9 * 0.25


def test_crawl_follows_links_breadth_first_within_limits(tmp_path: Path) -> None:
    with serve() as site:
        src = {"type": "crawl", "seeds": [site.url + "/crawl/a"], "max_depth": 3, "exclude": ["skip-me", "utm="]}
        result = hf_ftbuilder.build(_recipe(tmp_path, [src]), output_dir=tmp_path / "out", until="extract",
                                    progress=False)
        assert site.hits("/private/secret") == 0 and site.hits("/crawl/skip-me") == 0
        assert site.hits("/crawl/a?utm=1") == 0
    pages = result.dataset["train"]["url"]
    assert pages == [site.url + p for p in ("/crawl/a", "/crawl/b", "/crawl/c", "/crawl/d", "/crawl/e")]
    assert result.stages[0].dropped == {"robots_disallowed": 1}


def test_crawl_depth_and_page_limits(tmp_path: Path) -> None:
    with serve() as site:
        shallow = {"type": "crawl", "seeds": [site.url + "/crawl/a"], "max_depth": 1}
        ds, stats = _collected(tmp_path, [shallow], "shallow")
        assert ds["url"] == [site.url + p for p in ("/crawl/a", "/crawl/b", "/crawl/c")]
        capped = {"type": "crawl", "seeds": [site.url + "/crawl/a"], "max_depth": 5, "max_pages": 2}
        ds, stats = _collected(tmp_path, [capped], "capped")
        assert ds["url"] == [site.url + p for p in ("/crawl/a", "/crawl/b")]
        only_d = {"type": "crawl", "seeds": [site.url + "/crawl/a"], "max_depth": 3, "include": ["/crawl/(a|b|d)$"]}
        ds, _ = _collected(tmp_path, [only_d], "only_d")
        assert ds["url"] == [site.url + p for p in ("/crawl/a", "/crawl/b", "/crawl/d")]


def _collected(tmp_path: Path, sources: list[dict], name: str):
    recipe = load_config(_recipe(tmp_path, sources, name=name))
    context = StageContext(base_dir=recipe.base_dir, cache_dir=recipe.resolved_cache_dir(), progress=False)
    return collect(recipe.sources, context=context, fetch=recipe.fetch)


def test_sitemap_index_pages_and_lastmod(tmp_path: Path) -> None:
    with serve() as site:
        ds, stats = _collected(tmp_path, [{"type": "sitemap", "url": site.url + "/sitemap.xml"}], "sm")
        assert ds["url"] == [site.page_url(p) for p in site.page_ids]
        assert ds["lastmod"] == [f"2024-01-{d:02d}" for d in range(1, 31)]
        assert [site.hits(p) for p in ("/sitemap.xml", "/sitemap-1.xml", "/sitemap-2.xml", "/robots.txt")] == [1] * 4
        ds, _ = _collected(tmp_path, [{"type": "sitemap", "url": site.url + "/sitemap.xml", "max_pages": 4}], "sm4")
        assert ds["url"] == [site.page_url(p) for p in site.page_ids[:4]]


def test_cache_serves_a_rerun_and_refresh_fetches_again(tmp_path: Path) -> None:
    with serve() as site:
        urls = [site.page_url(p) for p in site.page_ids[:5]] + [site.url + "/missing", site.url + "/never"]
        path = _recipe(tmp_path, [{"type": "urls", "urls": urls}])
        first = hf_ftbuilder.build(path, output_dir=tmp_path / "a", until="extract", progress=False)
        assert len(_page_hits(site)) == 5
        second = hf_ftbuilder.build(path, output_dir=tmp_path / "b", until="extract", progress=False)
        # Pages and the 404 come from the cache; only the timeout (transient) is tried again.
        assert len(_page_hits(site)) == 5 and site.hits("/missing") == 1 and site.hits("/never") == 2
        assert first.stages[0].details["fetch"]["requests"] == 8
        assert second.stages[0].details["fetch"] == {"from_cache": 7, "requests": 1}
        for name in ("train-00000-of-00001.parquet",):
            assert (tmp_path / "a" / "data" / name).read_bytes() == (tmp_path / "b" / "data" / name).read_bytes()
        hf_ftbuilder.build(path, output_dir=tmp_path / "c", until="extract", refresh=True, progress=False)
        assert len(_page_hits(site)) == 10
    assert (tmp_path / "cache-web" / "fetch").is_dir()
    assert not any((tmp_path / d / "fetch").exists() for d in ("a", "b", "c"))  # never in the output folder


def test_resume_after_kill_fetches_only_what_is_missing(tmp_path: Path) -> None:
    with serve() as site:
        urls = [site.page_url(p) for p in site.page_ids]
        path = _recipe(tmp_path, [{"type": "urls", "urls": urls}], fetch={"delay": 0.05, "concurrency": 1})
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "hf_ftbuilder", "crawl", str(path), "-q"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(_page_hits(site)) < 15 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first_run = _page_hits(site)
        assert 15 <= len(first_run) < 30
        cache = FetchCache(tmp_path / "cache-web" / "fetch")
        cached = {u for u in urls if cache.get(u) is not None}
        assert len(cache) == len(cached) + 1  # the pages and robots.txt, no torn entry
        n_before = len(site.log)
        hf_ftbuilder.build(path, output_dir=tmp_path / "resumed", until="extract", progress=False)
        second_run = [h.path for h in site.log[n_before:]]
        assert sorted(second_run) == sorted(u.removeprefix(site.url) for u in urls if u not in cached)

        whole = _recipe(tmp_path, [{"type": "urls", "urls": urls}], name="whole")
        hf_ftbuilder.build(whole, output_dir=tmp_path / "whole", until="extract", progress=False)
    resumed = pq.read_table(tmp_path / "resumed" / "data" / "train-00000-of-00001.parquet").drop(["fetched_at"])
    uninterrupted = pq.read_table(tmp_path / "whole" / "data" / "train-00000-of-00001.parquet").drop(["fetched_at"])
    assert resumed.num_rows == 30
    assert resumed.to_pylist() == uninterrupted.to_pylist()


def test_crawl_command_reports(tmp_path: Path, capsys) -> None:
    from hf_ftbuilder.cli import main

    with serve() as site:
        urls = [site.page_url(p) for p in site.page_ids[:3]] + [site.url + "/missing"]
        path = _recipe(tmp_path, [{"type": "urls", "urls": urls}])
        assert main(["crawl", str(path), "-q"]) == 0
        assert main(["crawl", str(path), "-q"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "collected 3 of 4 pages; failed: http_404=1; requests=5, from_cache=0",
        "collected 3 of 4 pages; failed: http_404=1; requests=0, from_cache=4",
    ]


def test_url_file_with_comments_and_a_bad_line(tmp_path: Path) -> None:
    from hf_ftbuilder.errors import SourceError

    (tmp_path / "urls.txt").write_text("# seeds\nhttp://127.0.0.1:9/a  # trailing comment\n\nftp://nope\n")
    with pytest.raises(SourceError, match=r"urls\.txt:4: not an http\(s\) URL: 'ftp://nope'"):
        _collected(tmp_path, [{"type": "urls", "path": "urls.txt"}], "bad")


# -- robots.txt, RFC 9309 (through protego) ------------------------------------------------

_RFC_5_1 = """User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot
"""
_RFC_5_2 = "User-Agent: foobot\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n"


def _rules(*lines: str) -> str:
    return "User-agent: *\n" + "".join(line + "\n" for line in lines)


@pytest.mark.parametrize(
    ("robots", "agent", "path", "allowed"),
    [
        # RFC 9309 5.1: groups by product token (case-insensitive), two agents sharing a group,
        # an empty group (everything allowed), and "*" for anyone else.
        (_RFC_5_1, "FooBot/1.0", "/example/page.html", True),
        (_RFC_5_1, "FooBot/1.0", "/example/allowed.gif", True),
        (_RFC_5_1, "FooBot/1.0", "/example/other.html", False),
        (_RFC_5_1, "foobot", "/", False),
        (_RFC_5_1, "foobot", "/robots.txt", True),  # 2.2.2: /robots.txt is implicitly allowed
        (_RFC_5_1, "barbot/2", "/example/page.html", False),
        (_RFC_5_1, "BazBot", "/example/page.html", False),
        (_RFC_5_1, "bazbot", "/example/other.html", True),
        (_RFC_5_1, "quxbot", "/example/page.html", True),
        (_RFC_5_1, "quxbot", "/a.gif", True),
        (_RFC_5_1, "hf_ftbuilder/0.1", "/a.gif", False),
        (_RFC_5_1, "hf_ftbuilder/0.1", "/a.gif?size=2", True),  # $ anchors at the very end
        (_RFC_5_1, "hf_ftbuilder/0.1", "/example/x", False),
        (_RFC_5_1, "hf_ftbuilder/0.1", "/publications/x", True),
        # RFC 9309 5.2: the longest match wins.
        (_RFC_5_2, "foobot", "/example/page/", True),
        (_RFC_5_2, "foobot", "/example/page/disallowed.gif", False),
        (_RFC_5_2, "foobot", "/example/page/other.gif", True),
        # /path is a prefix of everything that starts so; /path/ only of what is inside it.
        (_rules("Disallow: /fish"), "x", "/fish", False),
        (_rules("Disallow: /fish"), "x", "/fish.html", False),
        (_rules("Disallow: /fish"), "x", "/fishheads/yummy.html", False),
        (_rules("Disallow: /fish"), "x", "/Fish.asp", True),  # case-sensitive paths
        (_rules("Disallow: /fish"), "x", "/catfish", True),
        (_rules("Disallow: /fish/"), "x", "/fish/salmon.htm", False),
        (_rules("Disallow: /fish/"), "x", "/fish/?id=1", False),
        (_rules("Disallow: /fish/"), "x", "/fish", True),
        (_rules("Disallow: /fish/"), "x", "/fish.html", True),
        # * and $ (2.2.3).
        (_rules("Disallow: /fish*.php"), "x", "/fishheads/catfish.php?x=1", False),
        (_rules("Disallow: /this/*/exactly$"), "x", "/this/a/b/exactly", False),
        (_rules("Disallow: /this/*/exactly$"), "x", "/this/a/exactly/not", True),
        (_rules("Disallow: /*.pdf$"), "x", "/docs/a.pdf", False),
        (_rules("Disallow: /*.pdf$"), "x", "/docs/a.pdf?x=1", True),
        (_rules("Disallow: /*.pdf$"), "x", "/docs/a.pdf/", True),
        # Allow inside a disallowed folder, longest first.
        (_rules("Disallow: /private", "Allow: /private/press"), "x", "/private/press/1", True),
        (_rules("Disallow: /private", "Allow: /private/press"), "x", "/private/x", False),
        (_rules("Disallow: /private", "Allow: /private/press"), "x", "/private", False),
        (_rules("Allow: /p", "Disallow: /"), "x", "/page", True),
        (_rules("Allow: /$", "Disallow: /"), "x", "/", True),
        (_rules("Allow: /$", "Disallow: /"), "x", "/page", False),
        # Equal length: Allow wins (2.2.2), whichever line comes first.
        (_rules("Disallow: /folder", "Allow: /folder"), "x", "/folder/page", True),
        (_rules("Allow: /folder", "Disallow: /folder"), "x", "/folder/page", True),
        (_rules("Allow: /page", "Disallow: /*.ph"), "x", "/page.php", True),
        (_rules("Allow: /page", "Disallow: /*.htm"), "x", "/page.htm", False),  # the longer pattern
        # Percent-encoding (2.2.2, table 1; 2.2.3): both sides compared in one normal form.
        (_rules("Disallow: /foo/bar?baz=quz"), "x", "/foo/bar?baz=quz", False),
        (_rules("Disallow: /foo/bar?baz=https://foo.bar"), "x", "/foo/bar?baz=https://foo.bar", False),
        (_rules("Disallow: /foo/bar/\u30c4"), "x", "/foo/bar/%E3%83%84", False),
        (_rules("Disallow: /foo/bar/%E3%83%84"), "x", "/foo/bar/\u30c4", False),
        (_rules("Disallow: /foo/bar/%E3%83%84"), "x", "/foo/bar/%e3%83%84", False),
        (_rules("Disallow: /foo/bar/%62%61%7A"), "x", "/foo/bar/baz", False),
        (_rules("Disallow: /path/file-with-a-%2A.html"), "x", "/path/file-with-a-*.html", False),
        (_rules("Disallow: /path/file-with-a-%2A.html"), "x", "/path/file-with-a-b.html", True),
        (_rules("Disallow: /path/foo-%24"), "x", "/path/foo-$", False),
        (_rules("Disallow: /path/foo-%24"), "x", "/path/foo-", True),
        # The group is named by the whole product token: "hf" is another crawler, not a prefix match.
        ("User-agent: hf\nDisallow: /\n\nUser-agent: *\nDisallow: /x\n", "hf_ftbuilder/0.1", "/page", True),
        ("User-agent: hf\nDisallow: /\n\nUser-agent: *\nDisallow: /x\n", "hf_ftbuilder/0.1", "/x", False),
        ("User-agent: HF_FTBuilder\nDisallow: /a\n\nUser-agent: *\nDisallow: /\n", "hf_ftbuilder/0.1", "/b", True),
        ("User-agent: HF_FTBuilder\nDisallow: /a\n\nUser-agent: *\nDisallow: /\n", "hf_ftbuilder/0.1", "/a", False),
        ("User-agent: other\nDisallow: /\n", "hf_ftbuilder/0.1", "/a", True),  # no group applies: no rules
    ],
)
def test_robots_matching_follows_rfc_9309(robots: str, agent: str, path: str, allowed: bool) -> None:
    assert _Robots(robots, agent).allowed("http://example.com" + path) is allowed


def test_robots_sitemap_lines_and_fallbacks() -> None:
    text = ("Sitemap: https://a.test/news.xml\nUser-agent: *\nDisallow: /x\n"
            "sitemap: /relative.xml.gz\nSitemap: https://a.test/news.xml\nSitemap: ftp://a.test/no.xml\n")
    robots = _Robots(text, "hf_ftbuilder/0.1", base="https://a.test")
    assert robots.sitemaps == ["https://a.test/news.xml", "https://a.test/relative.xml.gz"]
    assert _Robots(None, "x", allow_all=True).allowed("https://a.test/x")  # 4xx: no robots.txt
    assert not _Robots(None, "x", deny_all=True).allowed("https://a.test/")  # 5xx or no answer


def test_robots_rules_are_obeyed_at_the_server() -> None:
    robots = "User-agent: *\nDisallow: /*.pdf$\nDisallow: /crawl/\nAllow: /crawl/a\n\nUser-agent: hf\nDisallow: /\n"
    with serve(robots=robots) as site:
        fetcher = HttpFetcher(Fetch(**FAST), progress=False)
        urls = [site.url + p for p in ("/doc.pdf", "/doc.pdf?x=1", "/crawl/a", "/crawl/b")]
        reasons = [r.reason for r in fetcher.fetch_many(urls)]
        assert reasons == ["robots_disallowed", "not_html", None, "robots_disallowed"]
        assert site.hits("/doc.pdf") == 0 and site.hits("/crawl/b") == 0
        assert site.hits("/doc.pdf?x=1") == 1 and site.hits("/robots.txt") == 1


# -- sitemaps (sitemaps.org) ---------------------------------------------------------------


class _PagesNotFetched:
    """HttpFetcher for the sitemaps; the pages they list are only recorded (50,000 fetches take minutes)."""

    def __init__(self, real: HttpFetcher) -> None:
        self.real = real
        self.pages: list[str] = []

    def fetch(self, url: str, *, kind: Kind = "html") -> FetchResult:
        return self.real.fetch(url, kind=kind)

    def fetch_many(self, urls: list[str], *, kind: Kind = "html", desc: str = "fetch") -> list[FetchResult]:
        self.pages.extend(urls)
        return [FetchResult(u, u, 200, "text/html", "2024-01-01T00:00:00Z", None, b"<html></html>") for u in urls]

    def robots_sitemaps(self, url: str) -> list[str]:
        return self.real.robots_sitemaps(url)


def _urlset(urls: list[str]) -> bytes:
    entries = "".join(f"<url><loc>{u}</loc><lastmod>2024-05-01</lastmod></url>\n" for u in urls)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</urlset>\n').encode()


def _sitemap_index(urls: list[str]) -> bytes:
    entries = "".join(f"<sitemap><loc>{u}</loc></sitemap>\n" for u in urls)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</sitemapindex>\n').encode()


def _gzip_bomb() -> bytes:
    """1 GiB of zeros as one gzip member of about 1 MB (zlib, level 9).

    Compressing 1 GiB takes seconds; after a full flush the deflate state starts afresh, so every
    further 1 MiB block of zeros compresses to the same bytes and is repeated instead.
    """
    block = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate; the gzip frame is added below
    first = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    same = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    last = deflate.compress(block) + deflate.flush()
    crc = 0
    for _ in range(1024):
        crc = zlib.crc32(block, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # gzip, deflate, no name, no mtime, unix
    return header + first + same * 1022 + last + struct.pack("<II", crc, 1 << 30)  # CRC-32, size mod 2**32


@pytest.mark.parametrize("gzipped", [False, True], ids=["xml", "xml.gz"])
def test_sitemap_of_50000_urls_is_read_in_full(gzipped: bool, tmp_path: Path) -> None:
    with serve() as site:
        urls = [f"{site.url}/archive/2024/05/article-{i:05d}/index.html" for i in range(50_000)]
        body = _urlset(urls)
        assert len(body) > Fetch().max_bytes  # about 6 MB: max_sitemap_bytes applies, not max_bytes
        path = "/big.xml.gz" if gzipped else "/big.xml"
        site.files[path] = (gzip.compress(body, 6) if gzipped else body, "application/xml")
        src = SitemapSource(type="sitemap", url=site.url + path)
        cache = FetchCache(tmp_path / "fetch")
        fetcher = _PagesNotFetched(HttpFetcher(Fetch(**FAST), cache=cache, progress=False))
        pages = sitemap(src, fetcher)
        assert fetcher.pages == urls
        assert len(pages) == 50_000 and {p.lastmod for p in pages} == {"2024-05-01"}
        again = _PagesNotFetched(HttpFetcher(Fetch(**FAST), cache=cache, progress=False))
        sitemap(src, again)  # the sitemap comes from the fetch cache, as it was sent
        assert again.pages == urls and again.real.counts == {"from_cache": 1}
        assert site.hits(path) == 1 and site.hits("/robots.txt") == 1


def test_sitemap_over_50000_urls_keeps_the_first_50000(caplog: pytest.LogCaptureFixture) -> None:
    with serve() as site:
        urls = [f"{site.url}/pages/p{i:05d}.html" for i in range(50_003)]
        site.files["/over.xml"] = (_urlset(urls), "application/xml")
        fetcher = _PagesNotFetched(HttpFetcher(Fetch(**FAST), progress=False))
        with caplog.at_level("WARNING", logger="hf_ftbuilder.collect.web"):
            sitemap(SitemapSource(type="sitemap", url=site.url + "/over.xml"), fetcher)
        assert fetcher.pages == urls[:50_000]
        assert [r.getMessage() for r in caplog.records] == [
            f"sitemap {site.url}/over.xml lists more than 50000 URLs (the sitemaps.org limit): keeping the first 50000"]


def test_gzip_bomb_sitemap_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    bomb = _gzip_bomb()
    assert len(bomb) < 1_100_000
    assert zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(bomb, 4 << 20) == bytes(4 << 20)  # zeros indeed
    with serve() as site:
        site.files["/bomb.xml.gz"] = (bomb, "application/gzip")
        site.files["/index.xml"] = (_sitemap_index([site.url + "/sitemap-1.xml", site.url + "/bomb.xml.gz"]),
                                    "application/xml")
        tracemalloc.start()
        try:
            ds, stats = _collected(tmp_path, [{"type": "sitemap", "url": site.url + "/index.xml"}], "bomb")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert stats.dropped == {"too_large": 1}
    assert stats.dropped_rows["url"] == [site.url + "/bomb.xml.gz"]
    assert ds["url"] == [site.page_url(p) for p in site.page_ids[:15]]  # the other sitemap's pages
    # Inflated whole it is 1 GiB; refused once past max_sitemap_bytes (50 MiB) of output.
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_text_sitemap(tmp_path: Path) -> None:
    with serve() as site:
        pages = [site.page_url(p) for p in site.page_ids[:3]]
        text = f"\ufeff{pages[0]}\n\n   {pages[1]}  \r\nftp://example.com/file\nnot a url\n{pages[2]}\n{pages[0]}\n"
        site.files["/sitemap.txt"] = (text.encode("utf-8"), "text/plain; charset=utf-8")
        ds, stats = _collected(tmp_path, [{"type": "sitemap", "url": site.url + "/sitemap.txt"}], "txt")
        assert ds["url"] == pages
        assert ds["lastmod"] == [None] * 3
        assert stats.dropped == {}


def test_broken_sitemaps_are_dropped_as_bad_sitemap(tmp_path: Path) -> None:
    with serve() as site:
        good = _urlset([site.page_url(site.page_ids[0])])
        site.files["/cut.xml.gz"] = (gzip.compress(good)[:-12], "application/gzip")  # no end marker
        site.files["/latin1.txt"] = (f"{site.url}/caf\u00e9\n".encode("latin-1"), "text/plain")  # not UTF-8
        site.files["/broken.xml"] = (good[:-20], "application/xml")
        broken = [site.url + p for p in ("/cut.xml.gz", "/latin1.txt", "/broken.xml")]
        site.files["/index.xml"] = (_sitemap_index([*broken, site.url + "/sitemap-1.xml"]), "application/xml")
        ds, stats = _collected(tmp_path, [{"type": "sitemap", "url": site.url + "/index.xml"}], "broken")
    assert stats.dropped == {"bad_sitemap": 3}
    assert stats.dropped_rows["url"] == broken
    assert ds["url"] == [site.page_url(p) for p in site.page_ids[:15]]


def test_sitemap_of_a_site_root_comes_from_robots_txt(tmp_path: Path) -> None:
    with serve() as site:
        # Listed out of order on purpose, one twice, one relative: they are read as listed, once each.
        robots = (f"User-agent: *\nDisallow: /private/\nSitemap: {site.url}/sitemap-2.xml\n"
                  f"Sitemap: /sitemap-1.xml\nSitemap: {site.url}/sitemap-2.xml\n")
        site.files["/robots.txt"] = (robots.encode(), "text/plain")
        ds, _ = _collected(tmp_path, [{"type": "sitemap", "url": site.url + "/"}], "root")
        assert ds["url"] == [site.page_url(p) for p in site.page_ids[15:] + site.page_ids[:15]]
        assert site.hits("/robots.txt") == 1 and site.hits("/sitemap.xml") == 0
        assert site.hits("/sitemap-1.xml") == 1 and site.hits("/sitemap-2.xml") == 1


def test_sitemap_of_a_site_root_falls_back_to_sitemap_xml(tmp_path: Path) -> None:
    with serve() as site:  # the default robots.txt has no Sitemap line
        ds, _ = _collected(tmp_path, [{"type": "sitemap", "url": site.url}], "fallback")
        assert ds["url"] == [site.page_url(p) for p in site.page_ids]
        assert site.paths()[:2] == ["/robots.txt", "/sitemap.xml"]


def test_sitemap_xml_entities_are_not_resolved() -> None:
    body = (b'<?xml version="1.0"?>\n<!DOCTYPE urlset [<!ENTITY leak SYSTEM "file:///etc/hostname">'
            b'<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
            b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            b"<url><loc>http://x.test/&leak;</loc></url><url><loc>http://x.test/&b;</loc></url></urlset>")
    assert _parse_sitemap(body, "http://x.test/s.xml") == ("urlset", [("http://x.test/", None)] * 2)


# -- the timeout is a deadline -------------------------------------------------------------


@pytest.mark.parametrize("route", ["/drip-bytes", "/drip-chunk"])
def test_a_dripping_server_times_out_at_the_deadline(route: str) -> None:
    with serve() as site:  # one byte every 0.5 s, 240 bytes: two minutes if only the reads were timed
        fetcher = HttpFetcher(Fetch(**{**FAST, "timeout": 1.5}), progress=False)
        fetcher.fetch(site.url + "/robots.txt", kind="robots")
        started = time.monotonic()
        result = fetcher.fetch(site.url + route)
        elapsed = time.monotonic() - started
    assert result.reason == "timeout"
    assert elapsed < 10, elapsed  # a hang guard only: the deadline itself is 1.5 s
