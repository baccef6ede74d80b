"""Extraction quality on the 181 scrapinghub pages, served on 127.0.0.1 and crawled by hf_ftbuilder.

Word-level precision, recall and F1 (lower-cased ``\\w+`` tokens, multiset overlap, mean over
pages) of the text hf_ftbuilder keeps after its extract and clean stages, against the benchmark's
``articleBody``, side by side with ``trafilatura.extract`` called directly with the same options on
the same HTML bytes. The comparison that shows whether cleaning hurts counts PII without
replacing it; the default redaction is shown too (it replaces ground-truth e-mails and phones). Needs ../shared/data. Run: ``.venv/bin/python -m benchmarks.extraction_quality``.
"""

from __future__ import annotations

import collections
import gzip
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared" / "data"


def word_scores(got: str, want: str) -> tuple[float, float, float]:
    """Precision, recall and F1 of the multiset of lower-cased ``\\w+`` tokens."""
    g = collections.Counter(re.findall(r"\w+", got.lower()))
    w = collections.Counter(re.findall(r"\w+", want.lower()))
    overlap = sum((g & w).values())
    precision = overlap / sum(g.values()) if g else 0.0
    recall = overlap / sum(w.values()) if w else 0.0
    f1 = 2 * precision * recall / (precision + recall) if overlap else 0.0
    return precision, recall, f1


def _mean(rows: list[tuple[float, float, float]]) -> dict[str, float]:
    return {name: statistics.mean(r[i] for r in rows) for i, name in enumerate(("precision", "recall", "f1"))}


def measure(shared_data: Path) -> dict[str, object]:
    """Crawl the pages with hf_ftbuilder (until clean) and extract them directly; mean scores of both."""
    import trafilatura

    import hf_ftbuilder
    from hf_ftbuilder.config import Extract
    from tests.web_server import serve

    root = shared_data / "html" / "scrapinghub"
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    options = Extract()
    variants = {"hf_ftbuilder": {"pii": {"action": "keep"}}, "hf_ftbuilder, PII redacted": {}}
    texts: dict[str, dict[str, str]] = {}
    with serve(pages_dir=root / "html") as site, tempfile.TemporaryDirectory() as tmp:
        for name, clean in variants.items():
            recipe = {
                "name": "scrapinghub",
                "sources": [{"type": "urls", "urls": [site.page_url(p) for p in site.page_ids]}],
                "fetch": {"delay": 0, "concurrency": 4, "timeout": 30},
                "extract": options.model_dump(),
                "clean": clean,
                "cache_dir": str(Path(tmp) / "cache"),
            }
            path = Path(tmp) / "recipe.yaml"
            path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
            out = Path(tmp) / f"out-{len(texts)}"
            rows = hf_ftbuilder.build(path, output_dir=out, until="clean", progress=False).dataset["train"]
            texts[name] = {u.rsplit("/", 1)[1].removesuffix(".html"): t for u, t in zip(rows["url"], rows["text"])}
        page_ids = site.page_ids
    scores: dict[str, list[tuple[float, float, float]]] = {name: [] for name in (*variants, "trafilatura.extract")}
    for page_id in page_ids:
        want = truth[page_id]["articleBody"]
        html = gzip.decompress((root / "html" / f"{page_id}.html.gz").read_bytes())
        plain = trafilatura.extract(
            html,
            include_comments=options.include_comments,
            include_tables=options.include_tables,
            favor_precision=options.favor_precision,
        )
        scores["trafilatura.extract"].append(word_scores(plain or "", want))
        for name in variants:
            scores[name].append(word_scores(texts[name].get(page_id, ""), want))
    return {"pages": len(page_ids), "kept": len(texts["hf_ftbuilder"]), **{k: _mean(v) for k, v in scores.items()}}


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SHARED
    figures = measure(shared)
    print(f"{figures['pages']} scrapinghub pages served on 127.0.0.1, {figures['kept']} kept by hf_ftbuilder\n")
    print("| extractor | precision | recall | F1 |")
    print("|---|---:|---:|---:|")
    labels = {
        "hf_ftbuilder": "hf_ftbuilder: crawl, extract, clean (PII counted, kept)",
        "hf_ftbuilder, PII redacted": "hf_ftbuilder with the default PII redaction",
        "trafilatura.extract": "trafilatura.extract on the same HTML",
    }
    for name, label in labels.items():
        s = figures[name]
        print(f"| {label} | {s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f} |")


if __name__ == "__main__":
    main()
