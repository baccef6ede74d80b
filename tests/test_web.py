"""Web sources against a real HTTP server on 127.0.0.1 (tests/web_server.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from datasets import load_dataset

import hf_ftbuilder
from hf_ftbuilder.collect.fetch import FetchResult, _crawl_delay, _retry_after
from hf_ftbuilder.collect.fetch_cache import FetchCache
from hf_ftbuilder.collect.urls import decode_html, extract_links, normalize_url

from .web_server import serve

FAST = {"delay": 0.0, "concurrency": 4, "connect_timeout": 0.5, "timeout": 0.5, "retries": 2,
        "backoff": 0.01, "max_backoff": 1.0, "max_bytes": 2_000_000}


def _recipe(tmp_path: Path, sources: list[dict], fetch: dict | None = None, name: str = "web") -> Path:
    path = tmp_path / f"{name}.yaml"
    recipe = {"name": name, "sources": sources, "fetch": {**FAST, **(fetch or {})}, "cache_dir": f"cache-{name}"}
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
    assert _crawl_delay(robots, "hf_ftbuilder/0.1") == 0.25
    assert _crawl_delay(robots, "other-bot/1.0") == 9.0
    assert _crawl_delay("User-agent: *\nDisallow: /\n", "x") is None


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
    with serve(crawl_delay=0.3) as site:
        urls = [site.page_url(p) for p in site.page_ids[:3]]
        hf_ftbuilder.crawl(_recipe(tmp_path, [{"type": "urls", "urls": urls}]), progress=False)
        starts = sorted(hit.start for hit in site.log)[1:]  # the pages, after robots.txt
        assert min(b - a for a, b in zip(starts, starts[1:])) >= 0.27


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
    from hf_ftbuilder.collect import collect
    from hf_ftbuilder.config import load_config

    recipe = load_config(_recipe(tmp_path, sources, name=name))
    return collect(recipe.sources, recipe.base_dir, fetch=recipe.fetch, cache_dir=recipe.resolved_cache_dir(),
                   progress=False)


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
