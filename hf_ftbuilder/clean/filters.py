"""Row filters: length, language, Gopher quality and repetition, and C4 line rules.

:func:`filter_batch` gives each row the reason of the first rule it fails (None keeps it). The
C4 rules first remove offending lines, then judge what is left. Thresholds come from the
recipe; the defaults are those of the Gopher (Rae et al., 2021) and C4 (Raffel et al., 2020)
papers, which were tuned on English web pages: both rule sets are off by default because short
fine-tuning texts (an SMS, a headline) fail them.
"""

from __future__ import annotations

import re
from collections import Counter

from .. import schema
from ..config import C4Lines, Clean, GopherQuality, GopherRepetition

__all__ = ["filter_batch", "filter_text"]

_WORD = re.compile(r"\S+")
_BULLETS = ("•", "●", "○", "▪", "▫", "‣", "⁃", "◦", "-", "*", "–", "—", "·")
_STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
_TERMINAL = ('.', '!', '?', '"', "'", "”", "’", "…", ")", "»")
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
_SENTENCE_END = re.compile(r"[.!?…]+(?:\s|$)")


def _language(text: str) -> tuple[str, float]:
    import numpy as np
    import py3langid

    ranked = py3langid.rank(text[:5000])  # (language, log-probability), best first
    scores = np.array([s for _, s in ranked])
    probs = np.exp(scores - scores.max())
    return ranked[0][0], float(probs[0] / probs.sum())


def _dup_share(items: list[str]) -> tuple[float, float]:
    """Share of items, and of their characters, that repeat an earlier item."""
    seen: set[str] = set()
    dup_items = dup_chars = 0
    for item in items:
        if item in seen:
            dup_items += 1
            dup_chars += len(item)
        seen.add(item)
    total_chars = sum(len(i) for i in items) or 1
    return dup_items / max(1, len(items)), dup_chars / total_chars


def _gopher_quality(text: str, words: list[str], cfg: GopherQuality) -> str | None:
    n = len(words)
    if n == 0:
        return "gopher_no_words"
    mean_len = sum(len(w) for w in words) / n
    if not cfg.min_mean_word_length <= mean_len <= cfg.max_mean_word_length:
        return "gopher_mean_word_length"
    symbols = text.count("#") + text.count("...") + text.count("…")
    if symbols / n > cfg.max_symbol_word_ratio:
        return "gopher_symbol_ratio"
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if lines and sum(line.startswith(_BULLETS) for line in lines) / len(lines) > cfg.max_bullet_lines:
        return "gopher_bullet_lines"
    if lines and sum(line.endswith(("...", "…")) for line in lines) / len(lines) > cfg.max_ellipsis_lines:
        return "gopher_ellipsis_lines"
    if sum(any(c.isalpha() for c in w) for w in words) / n < cfg.min_alpha_words:
        return "gopher_alpha_words"
    if len(_STOP_WORDS.intersection(w.lower().strip(".,;:!?\"'()") for w in words)) < cfg.min_stop_words:
        return "gopher_stop_words"
    return None


def _ngram_counts(words: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(zip(*(words[i:] for i in range(n))))


def _gopher_repetition(text: str, words: list[str], cfg: GopherRepetition) -> str | None:
    lines = [line for line in text.split("\n") if line.strip()]
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    line_share, line_chars = _dup_share(lines)
    if line_share > cfg.max_dup_line_frac or line_chars > cfg.max_dup_line_char_frac:
        return "repetition_lines"
    para_share, para_chars = _dup_share(paragraphs)
    if para_share > cfg.max_dup_para_frac or para_chars > cfg.max_dup_para_char_frac:
        return "repetition_paragraphs"
    total = sum(len(w) for w in words) or 1
    for n, limit in cfg.max_top_ngram_frac.items():
        counts = _ngram_counts(words, int(n))
        if counts:
            gram, count = counts.most_common(1)[0]
            if count > 1 and sum(len(w) for w in gram) * count / total > limit:
                return "repetition_top_ngram"
    for n, limit in cfg.max_dup_ngram_frac.items():
        n = int(n)
        counts = _ngram_counts(words, n)
        covered = [False] * len(words)
        for i, gram in enumerate(zip(*(words[j:] for j in range(n)))):
            if counts[gram] > 1:
                for j in range(i, i + n):
                    covered[j] = True
        if sum(len(w) for w, c in zip(words, covered) if c) / total > limit:
            return "repetition_dup_ngram"
    return None


def _c4(text: str, cfg: C4Lines) -> tuple[str, str | None, bool]:
    """Lines kept by the C4 rules, the reason to drop the document (if any), and whether lines went."""
    lowered = text.lower()
    if cfg.drop_lorem_ipsum and "lorem ipsum" in lowered:
        return text, "c4_lorem_ipsum", False
    if cfg.drop_curly_braces and "{" in text:
        return text, "c4_curly_braces", False
    kept = []
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped:
            kept.append(line)
            continue
        low = stripped.lower()
        if cfg.require_terminal_punctuation and not stripped.endswith(_TERMINAL):
            continue
        if len(stripped.split()) < cfg.min_line_words:
            continue
        if cfg.remove_javascript_lines and "javascript" in low:
            continue
        if cfg.remove_policy_lines and any(p in low for p in _POLICY):
            continue
        kept.append(line)
    new = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    if not new:
        return new, "c4_no_lines_left", new != text
    if cfg.min_sentences and len(_SENTENCE_END.findall(new)) < cfg.min_sentences:
        return new, "c4_too_few_sentences", new != text
    return new, None, new != text


def filter_text(text: str, cfg: Clean) -> tuple[str, str | None, bool]:
    """Judge one text by the filters of ``cfg`` (the recipe's ``clean`` section).

    Returns:
        The text (C4 may have removed lines), the reason to drop it or None, and whether C4
        removed lines.
    """
    if not text.strip():
        return text, "empty", False
    c4_touched = False
    if cfg.c4.enabled:
        text, reason, c4_touched = _c4(text, cfg.c4)
        if reason:
            return text, reason, c4_touched
    # Splitting a text into words is most of what these filters cost; with every word rule off
    # (the default) no rule reads them.
    words_read = cfg.min_words or cfg.max_words is not None or cfg.gopher_quality.enabled or cfg.gopher_repetition.enabled
    words = _WORD.findall(text) if words_read else []
    if len(words) < cfg.min_words:
        return text, "too_short", c4_touched
    if cfg.max_words is not None and len(words) > cfg.max_words:
        return text, "too_long", c4_touched
    if len(text) < cfg.min_chars:
        return text, "too_few_chars", c4_touched
    if cfg.max_chars is not None and len(text) > cfg.max_chars:
        return text, "too_many_chars", c4_touched
    if cfg.languages:
        lang, score = _language(text)
        if lang not in cfg.languages or score < cfg.language_min_score:
            return text, "language", c4_touched
    if cfg.gopher_quality.enabled:
        reason = _gopher_quality(text, words, cfg.gopher_quality)
        if reason:
            return text, reason, c4_touched
    if cfg.gopher_repetition.enabled:
        reason = _gopher_repetition(text, words, cfg.gopher_repetition)
        if reason:
            return text, reason, c4_touched
    return text, None, c4_touched


def filter_batch(batch: dict[str, list], *, cfg: Clean) -> dict[str, list]:
    """Give each row of a batch the reason of the first filter it fails (rows already dropped keep theirs)."""
    texts, touched, reasons = [], [], []
    for text, names, prior in zip(batch[schema.TEXT], batch[schema.TOUCHED], batch[schema.DROP_REASON]):
        if prior is None:
            text, prior, c4_touched = filter_text(text, cfg)
            if c4_touched:
                names = [*names, "c4_lines"]
        texts.append(text)
        touched.append(names)
        reasons.append(prior)
    return {schema.TEXT: texts, schema.TOUCHED: touched, schema.DROP_REASON: reasons}


