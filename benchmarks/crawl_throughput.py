"""Crawl throughput: hf_ftbuilder's fetcher with politeness off against a plain sequential loop.

Both fetch the same pages from a server on 127.0.0.1 in the same run (the 30 fixture pages,
repeated with distinct query strings to make ``--pages`` URLs): hf_ftbuilder's HttpFetcher with
``delay: 0`` (robots.txt still fetched and obeyed, no cache) and a ``requests.Session`` loop that
fetches one URL after the other. Run once with no added latency and once with ``--latency``
seconds per response, as a distant server would add. Prints pages per second and the ratio.

    .venv/bin/python -m benchmarks.crawl_throughput [--pages 300] [--latency 0.02] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import time

import requests

from hf_ftbuilder.collect.fetch import HttpFetcher
from hf_ftbuilder.config import Fetch
from tests.web_server import serve


def _urls(site, n: int) -> list[str]:
    return [f"{site.page_url(site.page_ids[i % len(site.page_ids)])}?n={i}" for i in range(n)]


def _ours(urls: list[str], concurrency: int) -> float:
    fetcher = HttpFetcher(Fetch(delay=0, concurrency=concurrency), progress=False)
    start = time.perf_counter()
    results = fetcher.fetch_many(urls)
    elapsed = time.perf_counter() - start
    assert all(r.ok for r in results), [r.reason for r in results if not r.ok][:3]
    return len(urls) / elapsed


def _plain(urls: list[str]) -> float:
    session = requests.Session()
    start = time.perf_counter()
    for url in urls:
        response = session.get(url, timeout=30)
        response.raise_for_status()
        _ = response.content
    return len(urls) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    print(f"{args.pages} pages from 127.0.0.1 (30 distinct fixture pages, 15-57 KB each); "
          f"hf_ftbuilder concurrency {args.concurrency}, politeness delay 0\n")
    print("| server latency | hf_ftbuilder pages/s | sequential requests pages/s | ratio |")
    print("|---|---:|---:|---:|")
    for latency in (0.0, args.latency):
        with serve(latency=latency) as site:
            urls = _urls(site, args.pages)
            plain = _plain(urls)
        with serve(latency=latency) as site:
            urls = _urls(site, args.pages)
            ours = _ours(urls, args.concurrency)
        print(f"| {latency * 1000:.0f} ms | {ours:.1f} | {plain:.1f} | {ours / plain:.2f} |")


if __name__ == "__main__":
    main()
