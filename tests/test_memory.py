"""The build's memory figures and the release of memory between stages (Linux)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from hf_ftbuilder.memory import StagePeak, peak_rss_mb, release, release_mapped_pages

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")


def _resident_mb(kind: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(kind + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(kind)


def test_stage_peak_is_the_stages_own_peak() -> None:
    with StagePeak() as big:
        block = np.ones(300 * 2**20, dtype=np.uint8)  # 300 MB, touched
        del block
    with StagePeak() as small:
        block = np.ones(20 * 2**20, dtype=np.uint8)
        del block
    assert big.mb == peak_rss_mb()  # it set the process's high-water mark
    assert big.mb - small.mb > 250  # the later stage is measured on its own, not as the peak so far


def test_read_pages_of_mapped_arrow_files_leave_the_resident_set_and_stay_readable(tmp_path: Path) -> None:
    path = tmp_path / "big.arrow"
    table = pa.table({"x": np.arange(40_000_000, dtype=np.int64)})  # 320 MB
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    del table
    release()
    mapped = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    before = _resident_mb("RssFile")
    total = pa.compute.sum(mapped["x"]).as_py()  # reads every page
    assert _resident_mb("RssFile") - before > 250
    release_mapped_pages()
    assert _resident_mb("RssFile") - before < 50
    assert pa.compute.sum(mapped["x"]).as_py() == total == 40_000_000 * (40_000_000 - 1) // 2  # mapped again
