"""Label-noise detection with planted label flips: hf_ftbuilder's confident learning against cleanlab.

**Corpora**: ``../shared/data/text/ag_news_test.csv``, 7,600 rows (``text`` as it is in the file,
title and description; ``label``: World, Sports, Business, Sci/Tech, 1,900 each), and
``sms_spam.csv``, 5,574 messages (ham 4,827, spam 747). 10% of the rows, drawn by
``numpy.random.default_rng(seed)`` without replacement, get a different label, chosen uniformly
among the others (SMS: the other one). The set of flipped rows is the truth. Rows whose original
label is itself wrong or arguable, which every detector also flags, count as false positives: on
unflipped AG News the pipeline estimates about 4.6% noise (``--unflipped`` measures it), so
precision stays well below 1 there.

**Probabilities**, stratified 5-fold out of fold, the folds seeded:

* cleanlab's (the usual recipe, fixed here so that it does not move with the project):
  :func:`reference_out_of_fold`, TF-IDF over word 1-2-grams + logistic regression at C=10, the
  project's baseline before it went to C=3 (hashed counts, TF-IDF fitted per fold, saga).
* the project's: ``hf_ftbuilder.quality.baseline.out_of_fold``, the probabilities the report's
  noise estimate reads: the word model at C=3 (it trusts a noisy label less), averaged with a
  character 3-5-gram model on the same folds when the set holds at most
  ``report.label_noise_characters`` characters (both sets here: 1.8 M and 0.45 M).

**Detectors**:

* ``hf_ftbuilder``: ``confident_learning(proba, noisy_labels)["flagged"]`` (rows); its estimated
  noise rate is ``noise_rate``.
* ``cleanlab`` (2.9.0, in the benchmark-only venv ``/tmp/bench-cleanlab``, made by
  ``--install-peers``): ``cleanlab.filter.find_label_issues(labels, pred_probs)`` at default
  settings on the reference probabilities (``filter_by="prune_by_noise_rate"``; ``n_jobs``
  defaults to every core, 2 here); its estimated noise rate is the off-diagonal mass of
  ``cleanlab.count.estimate_joint(labels, pred_probs)``. It runs in a worker process of this same
  file (``--worker cleanlab in.npz out.npz``) with that venv's Python.

**Metrics**: precision, recall and F1 of the flagged rows against the flipped set; the estimated
noise rate against the true 0.10; each detector's wall time (the best of 3 calls, in process, not
counting imports; cleanlab's includes the process pool its default ``n_jobs`` starts) and each
side's out-of-fold time, where nearly all of the time goes.

    .venv/bin/python -m benchmarks.label_noise --install-peers     # create /tmp/bench-cleanlab first
    .venv/bin/python -m benchmarks.label_noise [--seeds 42,0,1] [--sets ag_news,sms] [--unflipped]

``measure()`` is reused by ``tests/shared/test_shared_data.py`` (``make check-shared``) without the
peer. This file is also the peer's worker, so it imports only the standard library and numpy at
module level.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared" / "data"
NAMES = ["World", "Sports", "Business", "Sci/Tech"]
#: The corpora: file, label names.
SETS = {"ag_news": ("ag_news_test.csv", NAMES), "sms": ("sms_spam.csv", ["ham", "spam"])}
FLIP_RATE, FOLDS, SEED, REPEATS = 0.10, 5, 42, 3
CLEANLAB_VENV = Path("/tmp/bench-cleanlab")
CLEANLAB_PACKAGES = ("cleanlab==2.9.0", "numpy")
INSTALL_HINT = f"{sys.executable} -m benchmarks.label_noise --install-peers"


# --- corpus -----------------------------------------------------------------------------------


def load(shared_data: Path, name: str = "ag_news") -> tuple[list[str], np.ndarray]:
    """Texts and label indices (into the set's names) of one corpus."""
    file, names = SETS[name]
    with open(shared_data / "text" / file, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], np.array([names.index(r["label"]) for r in rows])


def reference_out_of_fold(texts: list[str], labels: np.ndarray, n_classes: int, *, folds: int,
                          seed: int) -> np.ndarray:
    """The reference's out-of-fold probabilities: word 1-2-gram TF-IDF (fitted per fold on the
    terms its training rows hold) + logistic regression at C=10, saga."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    from hf_ftbuilder.quality.baseline import _counts

    counts = _counts(texts)
    proba = np.zeros((len(labels), n_classes))
    for fit_idx, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels):
        seen = np.flatnonzero(counts[fit_idx].getnnz(axis=0))
        tfidf = TfidfTransformer(sublinear_tf=True).fit(counts[fit_idx][:, seen])
        model = LogisticRegression(C=10.0, solver="saga", tol=1e-2, max_iter=200, random_state=seed)
        model.fit(tfidf.transform(counts[fit_idx][:, seen]), labels[fit_idx])
        proba[np.ix_(held, model.classes_)] = model.predict_proba(tfidf.transform(counts[held][:, seen]))
    return proba


def flip(labels: np.ndarray, rate: float, seed: int, n_classes: int = len(NAMES)) -> tuple[np.ndarray, np.ndarray]:
    """Noisy labels and the sorted indices of the flipped rows; each gets one of the other classes, uniformly."""
    rng = np.random.default_rng(seed)
    flipped = np.sort(rng.choice(len(labels), size=round(rate * len(labels)), replace=False))
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, n_classes, size=len(flipped))) % n_classes
    return noisy, flipped


def scores(flagged: np.ndarray, flipped: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of the flagged rows against the flipped set."""
    hits = len(np.intersect1d(flagged, flipped))
    precision = hits / len(flagged) if len(flagged) else 0.0
    recall = hits / len(flipped) if len(flipped) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {"flagged": int(len(flagged)), "precision": round(precision, 4), "recall": round(recall, 4),
            "f1": round(f1, 4)}


def _best_of(fn, repeats: int = REPEATS):
    """The result of ``fn()`` (checked to be the same every time) and the best wall time."""
    best, first = float("inf"), None
    for i in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
        if i == 0:
            first = result
        elif not np.array_equal(np.asarray(first[0]), np.asarray(result[0])):
            raise RuntimeError("detector gave different rows on a repeated call")
    return first, best


# --- detectors --------------------------------------------------------------------------------


def run_ours(proba: np.ndarray, labels: np.ndarray) -> dict:
    from hf_ftbuilder.quality.baseline import confident_learning

    def call():
        result = confident_learning(proba, labels)
        return np.array(sorted(r for r, _, _ in result["flagged"]), dtype=int), result["noise_rate"]

    (flagged, noise_rate), seconds = _best_of(call)
    return {"rows": flagged, "noise_rate": float(noise_rate), "seconds": seconds}


def _worker_cleanlab(data: str, out: str) -> None:
    """Runs in /tmp/bench-cleanlab: find_label_issues at default settings on the stored probabilities."""
    import cleanlab
    from cleanlab.count import estimate_joint
    from cleanlab.filter import find_label_issues

    arrays = np.load(data)
    proba, labels = arrays["proba"], arrays["labels"]

    def call():
        return np.flatnonzero(find_label_issues(labels, proba)), None

    (rows, _), seconds = _best_of(call)
    noise_rate = 1.0 - float(np.trace(estimate_joint(labels, proba)))
    np.savez(out, rows=rows, noise_rate=noise_rate, seconds=seconds, version=cleanlab.__version__,
             cores=os.cpu_count())


def run_cleanlab(proba: np.ndarray, labels: np.ndarray) -> dict | str:
    """cleanlab's figures from a worker in its venv, or why it was skipped."""
    python = CLEANLAB_VENV / "bin" / "python"
    if not python.exists():
        return f"skipped: no venv at {CLEANLAB_VENV}; create it with `{INSTALL_HINT}`"
    with tempfile.TemporaryDirectory(prefix="label-noise-") as tmp:
        data, out = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(data, proba=proba, labels=labels)
        env = {**os.environ, "PYTHONPATH": ""}
        start = time.perf_counter()
        proc = subprocess.run([str(python), str(Path(__file__).resolve()), "--worker", "cleanlab", str(data), str(out)],
                              capture_output=True, text=True, env=env, cwd=tmp)
        wall = time.perf_counter() - start
        if proc.returncode != 0 or not out.exists():
            tail = " | ".join((proc.stderr.strip().splitlines() or ["?"])[-3:])
            return f"failed (exit {proc.returncode}): {tail}"
        result = np.load(out)
        return {"rows": result["rows"].astype(int), "noise_rate": float(result["noise_rate"]),
                "seconds": float(result["seconds"]), "process_seconds": wall, "version": str(result["version"])}


def install_peers() -> None:
    """Create /tmp/bench-cleanlab (PyPI only); never touches the project's .venv."""
    if (CLEANLAB_VENV / "bin" / "python").exists():
        print(f"{CLEANLAB_VENV} exists; not reinstalled", flush=True)
        return
    subprocess.run([sys.executable, "-m", "venv", str(CLEANLAB_VENV)], check=True)
    subprocess.run([str(CLEANLAB_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *CLEANLAB_PACKAGES],
                   check=True)


# --- measurement ------------------------------------------------------------------------------


def _characters(texts: list[str]) -> bool:
    """Whether the report's noise estimate would add the character model on these rows."""
    from hf_ftbuilder.config import Report

    return sum(map(len, texts)) <= Report().label_noise_characters


def measure(shared_data: Path, *, seed: int = SEED, cleanlab: bool = True, corpus: str = "ag_news") -> dict:
    """Flip, compute both sides' OOF probabilities once, run the project's detector on its own and
    cleanlab's (when asked and installed) on the reference.

    Returns ``set``, ``rows``, ``flipped``, ``seed``, ``true_noise_rate``, ``oof_seconds`` and
    ``oof_accuracy`` (argmax of the project's probabilities against the original labels),
    ``reference_oof_seconds``, ``hf_ftbuilder`` (``flagged``, ``precision``, ``recall``, ``f1``,
    ``noise_rate``, ``seconds``) and, with ``cleanlab=True``, ``cleanlab``: the same keys, or a
    string saying why it was skipped.
    """
    from hf_ftbuilder.quality.baseline import out_of_fold

    texts, gold = load(shared_data, corpus)
    n_classes = len(SETS[corpus][1])
    noisy, flipped = flip(gold, FLIP_RATE, seed, n_classes)
    start = time.perf_counter()
    characters = _characters(texts)
    proba = out_of_fold(texts, noisy, n_classes, folds=FOLDS, seed=seed, characters=characters)
    oof_seconds = time.perf_counter() - start
    figures: dict = {
        "set": corpus, "rows": len(gold), "flipped": len(flipped), "seed": seed,
        "models": ["words", "characters"] if characters else ["words"],
        "true_noise_rate": round(len(flipped) / len(gold), 4),
        "oof_seconds": round(oof_seconds, 2),
        "oof_accuracy": round(float((proba.argmax(axis=1) == gold).mean()), 4),
    }
    detectors = {"hf_ftbuilder": run_ours(proba, noisy)}
    if cleanlab:
        start = time.perf_counter()
        reference = reference_out_of_fold(texts, noisy, n_classes, folds=FOLDS, seed=seed)
        figures["reference_oof_seconds"] = round(time.perf_counter() - start, 2)
        detectors["cleanlab"] = run_cleanlab(reference, noisy)
    for name, result in detectors.items():
        if isinstance(result, str):
            figures[name] = result
            continue
        figures[name] = {**scores(result["rows"], flipped), "noise_rate": round(result["noise_rate"], 4),
                         "seconds": round(result["seconds"], 4),
                         **{k: result[k] for k in ("process_seconds", "version") if k in result}}
        figures[name]["_rows"] = result["rows"]
    if cleanlab and isinstance(figures.get("cleanlab"), dict):
        ours, theirs = set(figures["hf_ftbuilder"]["_rows"].tolist()), set(figures["cleanlab"]["_rows"].tolist())
        figures["agreement"] = {"both": len(ours & theirs), "only_hf_ftbuilder": len(ours - theirs),
                                "only_cleanlab": len(theirs - ours)}
    for name in detectors:
        if isinstance(figures[name], dict):
            figures[name].pop("_rows")
    return figures


def measure_unflipped(shared_data: Path, *, seed: int = SEED) -> dict:
    """The project's detector on the original labels: how much AG News disputes by itself."""
    from hf_ftbuilder.quality.baseline import confident_learning, out_of_fold

    texts, gold = load(shared_data)
    proba = out_of_fold(texts, gold, len(NAMES), folds=FOLDS, seed=seed, characters=_characters(texts))
    result = confident_learning(proba, gold)
    return {"flagged": len(result["flagged"]), "noise_rate": result["noise_rate"]}


# --- report -----------------------------------------------------------------------------------


def report(figures: dict) -> None:
    print(f"{figures['set']}, {figures['rows']:,} rows, {figures['flipped']} labels flipped (seed {figures['seed']}); "
          f"out-of-fold probabilities, {FOLDS} folds: the project's {figures['oof_seconds']:.1f} s (accuracy against "
          f"the original labels {figures['oof_accuracy']:.4f}), the reference's "
          f"{figures.get('reference_oof_seconds', float('nan')):.1f} s\n")
    print(f"| tool | flagged | precision | recall | F1 | estimated noise rate (true {figures['true_noise_rate']:.2f}) "
          f"| detector wall time |\n|---|---:|---:|---:|---:|---:|---:|")
    skipped = []
    for name in ("hf_ftbuilder", "cleanlab"):
        s = figures.get(name)
        if s is None:
            continue
        if isinstance(s, str):
            skipped.append(f"{name} {s}")
            continue
        label = f"{name} {s['version']}" if "version" in s else name
        timing = f"{s['seconds'] * 1000:.1f} ms"
        if "process_seconds" in s:
            timing += f" ({s['process_seconds']:.1f} s with its process)"
        print(f"| {label} | {s['flagged']} | {s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f} "
              f"| {s['noise_rate']:.4f} | {timing} |")
    for line in skipped:
        print(f"\n{line}")
    if "agreement" in figures:
        a = figures["agreement"]
        print(f"\nflagged by both: {a['both']}; only hf_ftbuilder: {a['only_hf_ftbuilder']}; "
              f"only cleanlab: {a['only_cleanlab']}")
        ours, theirs = figures["hf_ftbuilder"]["f1"], figures["cleanlab"]["f1"]
        print(f"F1 hf_ftbuilder - cleanlab: {ours - theirs:+.4f} ({'met' if ours >= theirs + 0.02 else 'NOT met'}: "
              f"at least 2 points above cleanlab's)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        _, name, data, out = argv
        if name != "cleanlab":
            raise SystemExit(f"unknown worker {name}")
        _worker_cleanlab(data, out)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--seeds", default=str(SEED), help="comma-separated seeds (flips, folds and model); "
                        "one table each")
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    parser.add_argument("--install-peers", action="store_true", help=f"create {CLEANLAB_VENV} first")
    parser.add_argument("--unflipped", action="store_true",
                        help="also run the project's detector on the original labels (one more OOF pass)")
    args = parser.parse_args(argv)
    if args.install_peers:
        install_peers()
    seeds = [int(s) for s in args.seeds.split(",") if s]
    for corpus in args.sets.split(","):
        runs = []
        for seed in seeds:
            runs.append(measure(args.shared, seed=seed, corpus=corpus))
            report(runs[-1])
            print()
        if len(runs) > 1:
            print(f"{corpus}, mean over seeds {seeds}:")
            for name in ("hf_ftbuilder", "cleanlab"):
                got = [r[name] for r in runs if isinstance(r.get(name), dict)]
                if got:
                    print(f"  {name}: " + ", ".join(f"{key} {np.mean([g[key] for g in got]):.4f}"
                                                     for key in ("precision", "recall", "f1", "noise_rate")))
            print()
    if args.unflipped:
        base = measure_unflipped(args.shared, seed=seeds[0])
        print(f"\nunflipped AG News (seed {seeds[0]}): hf_ftbuilder flags {base['flagged']} rows, estimated noise "
              f"rate {base['noise_rate']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
