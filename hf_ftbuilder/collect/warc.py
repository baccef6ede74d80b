"""The ``warc`` source: HTML response records of local WARC files."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceError
from .urls import is_html

__all__ = ["WarcRecord", "read_warc"]


@dataclass
class WarcRecord:
    """One response record: where it is in the file, what it answered, and the body."""

    offset: int
    url: str
    date: str | None
    status: int | None
    content_type: str | None
    body: bytes
    reason: str | None  # None for an HTML page with a 2xx status


def read_warc(path: Path) -> Iterator[WarcRecord]:
    """Yield the response records of a .warc or .warc.gz file (other record types are skipped).

    Raises:
        SourceError: the file is missing or is not a WARC file.
    """
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found") from None
    with fh:
        # warcio guesses the format from the first line and reads some non-WARC text as an
        # empty archive: check the magic first.
        head = fh.read(2)
        fh.seek(0)
        try:
            start = gzip.open(fh).read(16) if head == b"\x1f\x8b" else fh.read(16)
        except (OSError, EOFError) as exc:
            raise SourceError(f"{path}: not a WARC file ({exc})") from None
        fh.seek(0)
        if not start.startswith((b"WARC/", b"filedesc://")):
            raise SourceError(f"{path}: not a WARC file (it starts with {start[:12]!r})")
        records = ArchiveIterator(fh)
        try:
            for record in records:
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                status_text = record.http_headers.get_statuscode()
                status = int(status_text) if status_text and status_text.isdigit() else None
                content_type = record.http_headers.get_header("Content-Type")
                body = record.content_stream().read()
                offset = records.get_record_offset()  # reads to the record's end: only after the body
                if not is_html(content_type, body[:1024]):
                    reason = "not_html"
                elif status is None or not 200 <= status < 300:
                    reason = f"http_{status}"
                else:
                    reason = None
                yield WarcRecord(
                    offset=offset,
                    url=record.rec_headers.get_header("WARC-Target-URI") or "",
                    date=record.rec_headers.get_header("WARC-Date"),
                    status=status,
                    content_type=content_type,
                    body=body if reason is None else b"",
                    reason=reason,
                )
        except ArchiveLoadFailed as exc:
            raise SourceError(f"{path}: not a WARC file ({str(exc).splitlines()[0]})") from None
