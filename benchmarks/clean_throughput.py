"""Clean throughput: hf_ftbuilder's full clean + filter chain against datatrove and a plain loop.

All sides process the same documents in the same run, and only the processing is timed:

* **hf_ftbuilder**: ``hf_ftbuilder.clean.clean(ds, cfg)`` on a ``datasets.Dataset`` written once
  with ``arrow_cache.persist`` (memory-mapped, as the pipeline does), with ``datasets`` caching
  off and a fresh temporary folder, so no step is served from a cache. ``cfg`` is the full chain:
  the default normalisers (fix_unicode, html, NFC, control_chars, whitespace), PII redaction and
  boilerplate removal (defaults), ``gopher_quality``, ``gopher_repetition`` and ``c4`` enabled,
  and ``min_words: 5``.
* **datatrove** (when its virtual environment exists, see ``--peer-venv``; never the project's
  .venv): its own steps, piped one into the next as its executor does, in a subprocess of that
  venv's python, the corpus handed over as a JSONL file (reading it is not timed):
  ``FTFYFormatter`` (html unescape "auto", control characters, NFC), ``PIIFormatter`` (e-mails and
  public IPv4s), ``C4QualityFilter`` (no sentence minimum, no citation removal, as our config),
  ``GopherQualityFilter`` (``min_doc_words=5``, no maximum) and ``GopherRepetitionFilter``.
  datatrove has no whitespace collapser, no ``" #39;"`` repair, no tag stripper, no phone / card /
  IBAN redaction and no corpus-level boilerplate-line step, so it does less work than our chain;
  its English word splitting (Gopher rules) goes through a blank spaCy tokenizer, not str.split.
  Its fastText LanguageFilter is not used (needs a model download; our language filter is off).
* **plain loop**: the same rules as ours without ``datasets``: a Python for loop calling
  ``normalize_text`` and ``redact_text`` on each document, a two-pass boilerplate count
  (``line_hash`` per line of each multi-line document, a Counter, then removal of lines seen in
  ``min_docs`` documents), then ``filter_text``. It measures what the Dataset.map plumbing costs.

The corpus is real text only, built deterministically with ``random.Random(0)`` from the article
bodies of ``tests/data/web/ground-truth.json`` (30 pages) and, when ``../shared/data`` exists,
``../shared/data/html/scrapinghub/ground-truth.json`` (181 pages), split into sentences; the texts
of ``../shared/data/text/ag_news_test.csv`` (7,600 news snippets, which already carry ``" #39;"``
and ``&lt;`` artefacts); and the 5,574 SMS of ``dataset_scripts/data/sms_spam.csv``. 8% of the
documents are one SMS alone; the others have 1-5 paragraphs joined by blank lines, each paragraph
2-3 sentences or snippets of one source (article sentences 45%, AG News 35%, SMS 20%). Paragraphs
are assembled rather than sampled whole because at 100,000 documents each of the ~12,000 whole
paragraphs would stand in more than ``boilerplate.min_docs`` (10) documents, and boilerplate
removal would then strip real text. Planted noise gives each step work: a repeated cookie /
newsletter / share line (25% of documents, the boilerplate to find), HTML entities such as
``&amp;``, ``&#39;``, ``&quot;`` or a leftover ``<b>`` tag (15%), an e-mail address in a sentence
(8%), a phone number or an IP (3%), ``" #39;"`` for an apostrophe (5%), mojibake made by reading
UTF-8 as cp1252 (5%), a duplicated paragraph (5%) and doubled spaces (10%).

    .venv/bin/python -m benchmarks.clean_throughput [--docs 100000]
    .venv/bin/python -m benchmarks.clean_throughput --docs 5000          # quick check
    .venv/bin/python -m benchmarks.clean_throughput --install-peer       # create /tmp/dt-venv first
    .venv/bin/python -m benchmarks.clean_throughput --repeat 3           # fastest of 3 runs per side

Prints the corpus size, then a markdown table of MB/s (UTF-8 input text) and docs/s per side with
the throughput ratio ours / peer (above 1: hf_ftbuilder is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
DEFAULT_PEER_VENV = Path("/tmp/dt-venv")
# What datatrove's steps import: spaCy for English word splitting, ftfy, regex.
PEER_PACKAGES = ("datatrove", "spacy", "ftfy", "regex")

_BOILERPLATE = (
    "We use cookies to improve your experience. By continuing to browse you agree to our cookie policy.",
    "Subscribe to our newsletter to get the latest stories in your inbox.",
    "Share this article: Facebook Twitter LinkedIn Email",
    "Advertisement",
    "Sign up for our daily briefing",
)
_NAMES = ("anna", "ben", "chloe", "david", "elena", "farid", "grace", "hiro", "ines", "jonas")
_DOMAINS = ("example.com", "mail.example.org", "news-desk.example.net")
# After sentence-final punctuation, before a capital or an opening quote.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"\u201c\u2018])")
_PHONES = ("+44 20 7946 0958", "(555) 123-4567", "555-010-4477", "+1 202 555 0143")
_IPS = ("203.0.113.45", "198.51.100.7", "8.8.4.4")


# --- corpus ---------------------------------------------------------------------------------


def _sources() -> tuple[list[str], list[str], list[str], list[str]]:
    """Article sentences, AG News texts and SMS texts (real text), and the files they came from."""
    import csv

    used = []
    bodies = []
    for path in (REPO / "tests/data/web/ground-truth.json", SHARED / "html/scrapinghub/ground-truth.json"):
        if path.exists():
            bodies += [v["articleBody"] for v in json.loads(path.read_text(encoding="utf-8")).values()]
            used.append(str(path))
    seen: set[str] = set()
    sentences = []
    for body in bodies:
        for para in body.split("\n"):
            for sentence in _SENTENCE_BREAK.split(para.strip()):
                if sentence and sentence not in seen:
                    seen.add(sentence)
                    sentences.append(sentence)
    ag_news = []
    ag_path = SHARED / "text/ag_news_test.csv"
    if ag_path.exists():
        with ag_path.open(encoding="utf-8", newline="") as fh:
            ag_news = [row["text"] for row in csv.DictReader(fh) if row["text"].strip()]
        used.append(str(ag_path))
    sms_path = REPO / "dataset_scripts/data/sms_spam.csv"
    with sms_path.open(encoding="utf-8", newline="") as fh:
        sms = [row["text"] for row in csv.DictReader(fh) if row["text"].strip()]
    used.append(str(sms_path))
    return sentences, ag_news, sms, used


def _entities(rng: random.Random, text: str) -> str:
    choice = rng.random()
    if choice < 0.4 and " and " in text:
        return text.replace(" and ", " &amp; ", 1)
    if choice < 0.7 and "'" in text:
        return text.replace("'", "&#39;")
    if choice < 0.85:
        return f"&quot;{text}&quot;"
    words = text.split(" ")
    i = rng.randrange(len(words))
    words[i] = f"<b>{words[i]}</b>"
    return " ".join(words)


def _mojibake(text: str) -> str:
    try:
        return text.encode("utf-8").decode("cp1252")
    except UnicodeDecodeError:  # a byte cp1252 leaves undefined: keep the paragraph as it is
        return text


def build_corpus(n_docs: int) -> tuple[list[str], list[str]]:
    """``n_docs`` documents of real text with planted noise, and the source files used."""
    sentences, ag_news, sms, used = _sources()
    pools = [(sentences, 0.45), (ag_news, 0.35), (sms, 0.20)]
    pools = [(pool, weight) for pool, weight in pools if pool]
    weights = [w for _, w in pools]
    rng = random.Random(0)
    docs = []
    for _ in range(n_docs):
        if rng.random() < 0.08:  # a lone SMS: a one-line document, short, left to min_words
            docs.append(rng.choice(sms))
            continue
        paras = []
        for _ in range(rng.randint(1, 5)):
            pool = rng.choices(pools, weights)[0][0]
            paras.append(" ".join(rng.choice(pool) for _ in range(rng.randint(2, 3))))
        if rng.random() < 0.15:
            i = rng.randrange(len(paras))
            paras[i] = _entities(rng, paras[i])
        if rng.random() < 0.05:
            i = rng.randrange(len(paras))
            paras[i] = paras[i].replace("'", " #39;")
        if rng.random() < 0.05:
            i = rng.randrange(len(paras))
            paras[i] = _mojibake(paras[i])
        if rng.random() < 0.08:
            name, other = rng.choice(_NAMES), rng.choice(_NAMES)
            paras[-1] += f" For more information, write to {name}.{other}@{rng.choice(_DOMAINS)}."
        if rng.random() < 0.03:
            if rng.random() < 0.5:
                paras[-1] += f" Call us on {rng.choice(_PHONES)} for details."
            else:
                paras[-1] += f" The request came from {rng.choice(_IPS)} last night."
        if rng.random() < 0.05:
            paras.append(rng.choice(paras))
        if rng.random() < 0.10:
            i = rng.randrange(len(paras))
            paras[i] = paras[i].replace(" ", "  ") + "  "
        if rng.random() < 0.25:
            line = rng.choice(_BOILERPLATE)
            if rng.random() < 0.5:
                paras.insert(0, line)
            else:
                paras.append(line)
        docs.append("\n\n".join(paras))
    return docs, used


# --- hf_ftbuilder ---------------------------------------------------------------------------


def _full_chain():
    from hf_ftbuilder.config import Clean

    return Clean(
        min_words=5,
        gopher_quality={"enabled": True},
        gopher_repetition={"enabled": True},
        c4={"enabled": True},
    )


def run_ours(docs: list[str]) -> dict:
    """hf_ftbuilder.clean.clean on a persisted, memory-mapped Dataset; only the clean call is timed."""
    import datasets
    from datasets import Dataset

    from hf_ftbuilder.arrow_cache import persist
    from hf_ftbuilder.clean import clean

    datasets.disable_caching()
    datasets.disable_progress_bars()
    cfg = _full_chain()
    with tempfile.TemporaryDirectory(prefix="clean-bench-") as tmp:
        ds = Dataset.from_dict({"id": [f"doc-{i:06d}" for i in range(len(docs))], "text": docs})
        ds = persist(ds, Path(tmp) / "datasets", "bench")
        start = time.perf_counter()
        kept, stats = clean(ds, cfg)
        elapsed = time.perf_counter() - start
        return {"seconds": elapsed, "kept": kept.num_rows, "dropped": stats.dropped, "details": stats.details}


def run_plain_loop(docs: list[str]) -> dict:
    """The same rules in a per-document for loop, with a two-pass boilerplate count."""
    from collections import Counter

    from hf_ftbuilder.clean.boilerplate import line_hash
    from hf_ftbuilder.clean.filters import filter_text
    from hf_ftbuilder.clean.normalizers import normalize_text
    from hf_ftbuilder.clean.pii import redact_text

    cfg = _full_chain()
    settings = cfg.model_dump()
    min_docs = cfg.boilerplate.min_docs
    start = time.perf_counter()
    texts = []
    counts: Counter[int] = Counter()
    for doc in docs:
        text, _ = normalize_text(doc, settings)
        text, _ = redact_text(text, settings["pii"])
        texts.append(text)
        lines = [line for line in text.split("\n") if line.strip()]
        if len(lines) > 1:
            counts.update({line_hash(line) for line in lines})
    repeated = {h for h, n in counts.items() if n >= min_docs}
    kept = 0
    dropped: Counter[str] = Counter()
    for text in texts:
        lines = text.split("\n")
        if sum(1 for line in lines if line.strip()) > 1:
            stripped = [line for line in lines if not line.strip() or line_hash(line) not in repeated]
            if len(stripped) != len(lines):
                text = "\n".join(stripped).strip()
                while "\n\n\n" in text:
                    text = text.replace("\n\n\n", "\n\n")
                if not text:
                    dropped["boilerplate"] += 1
                    continue
        _, reason, _ = filter_text(text, settings)
        if reason is None:
            kept += 1
        else:
            dropped[reason] += 1
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "kept": kept, "dropped": dict(dropped.most_common())}


# --- datatrove (runs in its own venv) ---------------------------------------------------------


def _datatrove_worker(jsonl: str) -> None:
    """Run in the peer venv: read the JSONL corpus, time datatrove's steps, print JSON on stdout."""
    from collections import Counter, deque

    from datatrove.data import Document
    from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.formatters import FTFYFormatter, PIIFormatter

    with open(jsonl, encoding="utf-8") as fh:
        docs = [Document(text=row["text"], id=row["id"]) for row in map(json.loads, fh)]
    steps = [
        FTFYFormatter(normalization="NFC"),
        PIIFormatter(),
        C4QualityFilter(min_num_sentences=-1, remove_citations=False, max_word_length=-1),
        GopherQualityFilter(min_doc_words=5, max_doc_words=None),
        GopherRepetitionFilter(),
    ]
    # Warm the lazily loaded spaCy tokenizer outside the timing, as a long-running job would have.
    from datatrove.utils.text import split_into_words

    split_into_words("Warm up the tokenizer.")
    start = time.perf_counter()
    data = docs
    for step in steps:  # the way datatrove's executor pipes one step into the next
        data = step(data, 0, 1)
    kept = []
    deque((kept.append(d) for d in data), maxlen=0)
    elapsed = time.perf_counter() - start
    dropped: Counter[str] = Counter()
    for step in steps:
        for key, stat in step.stats.stats.items():
            if key.startswith("dropped_"):
                dropped[key[len("dropped_"):]] += stat.total
    import datatrove

    version = getattr(datatrove, "__version__", None)
    if version is None:
        from importlib.metadata import version as _version

        version = _version("datatrove")
    print(json.dumps({
        "seconds": elapsed,
        "kept": len(kept),
        "dropped": dict(dropped.most_common()),
        "version": version,
        "classes": [f"{type(s).__module__}.{type(s).__name__}" for s in steps],
    }))


def install_peer(venv: Path) -> None:
    """Create the benchmark-only venv for datatrove (PyPI only)."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "--quiet", *PEER_PACKAGES], check=True)


def run_datatrove(docs: list[str], venv: Path) -> dict | str:
    """datatrove's steps in a subprocess of the peer venv; returns its result or why it did not run."""
    python = venv / "bin/python"
    if not python.exists():
        return f"no peer venv at {venv} (run with --install-peer)"
    with tempfile.TemporaryDirectory(prefix="clean-bench-dt-") as tmp:
        jsonl = Path(tmp) / "corpus.jsonl"
        with jsonl.open("w", encoding="utf-8") as fh:
            for i, text in enumerate(docs):
                fh.write(json.dumps({"id": f"doc-{i:06d}", "text": text}) + "\n")
        env = {**os.environ, "PYTHONPATH": "", "LOGURU_LEVEL": "WARNING"}
        proc = subprocess.run(
            [str(python), str(Path(__file__).resolve()), "--datatrove-worker", str(jsonl)],
            capture_output=True, text=True, env=env, cwd=tmp,
        )
    if proc.returncode != 0:
        return "datatrove failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- report ---------------------------------------------------------------------------------


def _best(run, repeat: int, *args):
    """The fastest of ``repeat`` runs (a string, why the side did not run, is returned at once)."""
    best = None
    for _ in range(max(1, repeat)):
        result = run(*args)
        if isinstance(result, str):
            return result
        if best is None or result["seconds"] < best["seconds"]:
            best = result
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000, help="documents in the corpus (quick check: 5000)")
    parser.add_argument("--peer-venv", type=Path, default=DEFAULT_PEER_VENV, help="venv with datatrove installed")
    parser.add_argument("--install-peer", action="store_true", help="create --peer-venv with datatrove first")
    parser.add_argument("--repeat", type=int, default=1, help="time each side this many times, keep the fastest")
    parser.add_argument("--skip-datatrove", action="store_true")
    parser.add_argument("--skip-plain", action="store_true")
    parser.add_argument("--datatrove-worker", metavar="JSONL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.datatrove_worker:
        _datatrove_worker(args.datatrove_worker)
        return
    if args.install_peer and not (args.peer_venv / "bin/python").exists():
        install_peer(args.peer_venv)

    docs, used = build_corpus(args.docs)
    megabytes = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    print(f"corpus: {len(docs):,} documents, {megabytes:.1f} MB of UTF-8 text "
          f"(mean {megabytes * 1e6 / len(docs):,.0f} bytes a document), built with random.Random(0) from:")
    for path in used:
        print(f"  {path}")
    if not (SHARED / "text/ag_news_test.csv").exists():
        print("  (../shared/data not found: article and SMS text only)")
    print(flush=True)

    ours = _best(run_ours, args.repeat, docs)
    print(f"hf_ftbuilder clean: {ours['seconds']:.1f} s, kept {ours['kept']:,}; dropped {ours['dropped']}", flush=True)
    print(f"  work done: {ours['details']}", flush=True)
    peers: list[tuple[str, dict]] = []
    if not args.skip_datatrove:
        result = _best(run_datatrove, args.repeat, docs, args.peer_venv)
        if isinstance(result, str):
            print(f"datatrove: not measured: {result}; the peer is the plain loop", flush=True)
        else:
            print(f"datatrove {result['version']}: {result['seconds']:.1f} s, kept {result['kept']:,}; "
                  f"dropped {result['dropped']}", flush=True)
            print(f"  steps: {', '.join(result['classes'])}", flush=True)
            peers.append((f"datatrove {result['version']} (fewer steps, see docstring)", result))
    if not args.skip_plain:
        plain = _best(run_plain_loop, args.repeat, docs)
        print(f"plain loop: {plain['seconds']:.1f} s, kept {plain['kept']:,}; dropped {plain['dropped']}", flush=True)
        peers.append(("plain per-document loop, same rules", plain))

    def rates(result: dict) -> tuple[float, float]:
        return megabytes / result["seconds"], len(docs) / result["seconds"]

    ours_mb, ours_docs = rates(ours)
    timing = "one timed run a side" if args.repeat <= 1 else f"fastest of {args.repeat} timed runs a side"
    print(f"\n{len(docs):,} documents, {megabytes:.1f} MB, {timing}; "
          "ratio = hf_ftbuilder throughput / peer throughput\n")
    print("| chain | seconds | MB/s | docs/s | kept | ratio (ours / peer) |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| hf_ftbuilder clean (full chain) | {ours['seconds']:.1f} | {ours_mb:.2f} | {ours_docs:,.0f} "
          f"| {ours['kept']:,} | - |")
    for name, result in peers:
        mb, per_s = rates(result)
        print(f"| {name} | {result['seconds']:.1f} | {mb:.2f} | {per_s:,.0f} | {result['kept']:,} "
              f"| {ours_mb / mb:.2f} |")


if __name__ == "__main__":
    main()
