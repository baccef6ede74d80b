from __future__ import annotations

import io
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from hf_ftbuilder.collect import collect, row_id
from hf_ftbuilder.config import parse_config
from hf_ftbuilder.context import StageContext
from hf_ftbuilder.errors import SourceError

ARTICLE = """<html lang="en"><head><title>{title}</title></head><body><article><h1>{title}</h1>
<p>{body} The committee met on Tuesday to discuss the plan, which has been debated for months.</p>
<p>Residents said they welcomed the decision but wanted more detail about the timetable.</p>
</article></body></html>"""


def _write_warc(path: Path) -> list[int]:
    """HTML pages, an image, a 404 page and a request record; returns the HTML records' offsets."""
    offsets = []
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)

        def response(url: str, status: str, content_type: str, body: bytes) -> int:
            headers = StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers,
                                               warc_headers_dict={"WARC-Date": "2024-03-01T10:00:00Z"})
            offset = fh.tell()
            writer.write_record(record)
            return offset

        offsets.append(response("https://news.example/a", "200 OK", "text/html; charset=utf-8",
                                ARTICLE.format(title="Bridge plan approved", body="The bridge will be rebuilt.").encode()))
        writer.write_record(writer.create_warc_record("https://news.example/a", "request",
                                                      payload=io.BytesIO(b"GET /a HTTP/1.1\r\n\r\n")))
        response("https://news.example/logo.png", "200 OK", "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
        offsets.append(response("https://news.example/b", "200 OK", "text/html",
                                ARTICLE.format(title="Café reopens", body="The café on Main Street reopened.").encode("cp1252")))
        response("https://news.example/gone", "404 Not Found", "text/html", b"<html><body>Not found</body></html>")
    return offsets


def test_warc_yields_exactly_the_html_pages(tmp_path: Path) -> None:
    offsets = _write_warc(tmp_path / "crawl.warc.gz")
    sources = parse_config({"name": "w", "sources": [{"type": "warc", "path": "*.warc.gz"}]}).sources
    ds, stats = collect(sources, context=StageContext(base_dir=tmp_path))
    assert ds["url"] == ["https://news.example/a", "https://news.example/b"]
    assert ds["id"] == [row_id(f"crawl.warc.gz:{o}") for o in offsets]
    assert ds["fetched_at"] == ["2024-03-01T10:00:00Z"] * 2
    assert ds["http_status"] == [200, 200]
    assert ds["source"] == ["warc:crawl.warc.gz"] * 2
    assert "café on Main Street" in ds["html"][1]  # windows-1252 page without a charset, decoded
    assert stats.dropped == {"http_404": 1, "not_html": 1}
    assert stats.dropped_rows["url"] == ["https://news.example/logo.png", "https://news.example/gone"]


def test_not_a_warc_file(tmp_path: Path) -> None:
    (tmp_path / "bad.warc").write_text("<html>a saved page, not a WARC file</html>\n")
    sources = parse_config({"name": "w", "sources": [{"type": "warc", "path": "bad.warc"}]}).sources
    with pytest.raises(SourceError, match=r"bad\.warc: not a WARC file"):
        collect(sources, context=StageContext(base_dir=tmp_path))
