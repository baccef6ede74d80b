"""The on-disk fetch cache: URL -> status, content type, body and fetch time.

One file per URL under ``<cache_dir>/fetch/``, named by the sha256 of the URL. A file is a
JSON header line followed by the body bytes, written to a temporary file and moved into place
with ``os.replace``, so a crawl killed at any moment leaves either a whole entry or none. An
entry whose body is shorter than its header says (a disk that lost data) counts as missing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..atomic_file import write_atomic
from .fetch import FetchResult

__all__ = ["FetchCache"]


class FetchCache:
    """A folder of fetched responses, keyed by requested URL.

    Args:
        root: the cache folder (``<cache_dir>/fetch``); created on first write.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, url: str) -> Path:
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()
        return self.root / key[:2] / f"{key}.entry"

    def get(self, url: str) -> FetchResult | None:
        """The cached response for ``url``, or None."""
        try:
            data = self._path(url).read_bytes()
        except FileNotFoundError:
            return None
        header_line, _, body = data.partition(b"\n")
        try:
            header = json.loads(header_line)
        except json.JSONDecodeError:
            return None
        if header.get("url") != url or header.get("body_length", -1) != (len(body) if header["has_body"] else 0):
            return None
        header.pop("body_length")
        has_body = header.pop("has_body")
        return FetchResult(**header, body=body if has_body else None, from_cache=True)

    def put(self, result: FetchResult) -> None:
        """Store ``result`` atomically (write a temporary file, then rename it over the entry)."""
        path = self._path(result.url)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "url": result.url,
            "final_url": result.final_url,
            "status": result.status,
            "content_type": result.content_type,
            "fetched_at": result.fetched_at,
            "reason": result.reason,
            "has_body": result.body is not None,
            "body_length": len(result.body) if result.body is not None else 0,
        }
        write_atomic(path, json.dumps(header, ensure_ascii=True).encode("ascii") + b"\n" + (result.body or b""))

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.entry")) if self.root.exists() else 0
