"""Word-level augmentation: new texts that keep their source's label.

Four edits, each touching ``rate`` of a text's words (at least one): ``synonym`` replaces words by a
synonym from the lexicon, ``insert`` puts a synonym of one of the text's words at a random place,
``swap`` exchanges two words, ``delete`` drops words. One edit is picked per new text (the others
are tried in turn when it cannot change the text). The lexicon ships with the project
(``synonyms.tsv``: PyPI has no WordNet data); ``balance.augment.lexicon`` adds a user's own.
"""

from __future__ import annotations

import random
from importlib import resources
from pathlib import Path

from ..errors import SourceError

__all__ = ["Augmenter", "load_lexicon"]

_PUNCT = ".,;:!?\"'()[]"


def load_lexicon(extra: Path | None = None) -> dict[str, list[str]]:
    """The shipped synonyms, plus those of ``extra`` (``word<TAB>syn,syn`` lines, ``#`` comments)."""
    texts = [resources.files("hf_ftbuilder.split").joinpath("synonyms.tsv").read_text(encoding="utf-8")]
    if extra is not None:
        if not extra.is_file():
            raise SourceError(f"balance.augment.lexicon: {extra}: file not found")
        texts.append(extra.read_text(encoding="utf-8"))
    lexicon: dict[str, list[str]] = {}
    for text in texts:
        for line in text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            word, _, synonyms = line.partition("\t")
            options = [s.strip() for s in synonyms.split(",") if s.strip()]
            if options:
                entry = lexicon.setdefault(word.strip().lower(), [])
                entry.extend(o for o in options if o not in entry)
    return lexicon


def _core(word: str) -> tuple[str, str, str]:
    """Leading punctuation, the word, trailing punctuation."""
    stripped = word.strip(_PUNCT)
    if not stripped:
        return word, "", ""
    start = word.index(stripped)
    return word[:start], stripped, word[start + len(stripped) :]


def _cased(synonym: str, like: str) -> str:
    return synonym[:1].upper() + synonym[1:] if like[:1].isupper() else synonym


class Augmenter:
    """Seeded word-level edits of a text."""

    def __init__(self, operations: list[str], rate: float, lexicon: dict[str, list[str]]) -> None:
        self.operations, self.rate, self.lexicon = list(operations), rate, lexicon

    def _count(self, words: list[str]) -> int:
        return max(1, round(self.rate * len(words)))

    def _synonym(self, words: list[str], rng: random.Random) -> list[str]:
        spots = [i for i, w in enumerate(words) if _core(w)[1].lower() in self.lexicon]
        out = list(words)
        for i in rng.sample(spots, min(len(spots), self._count(words))):
            pre, core, post = _core(words[i])
            out[i] = pre + _cased(rng.choice(self.lexicon[core.lower()]), core) + post
        return out

    def _insert(self, words: list[str], rng: random.Random) -> list[str]:
        spots = [_core(w)[1].lower() for w in words if _core(w)[1].lower() in self.lexicon]
        out = list(words)
        for _ in range(self._count(words) if spots else 0):
            out.insert(rng.randrange(len(out) + 1), rng.choice(self.lexicon[rng.choice(spots)]))
        return out

    def _swap(self, words: list[str], rng: random.Random) -> list[str]:
        out = list(words)
        for _ in range(self._count(words) if len(words) > 1 else 0):
            i, j = rng.sample(range(len(out)), 2)
            out[i], out[j] = out[j], out[i]
        return out

    def _delete(self, words: list[str], rng: random.Random) -> list[str]:
        if len(words) < 2:
            return list(words)
        drop = set(rng.sample(range(len(words)), min(len(words) - 1, self._count(words))))
        return [w for i, w in enumerate(words) if i not in drop]

    def __call__(self, text: str, rng: random.Random) -> str | None:
        """A changed copy of ``text``, or None when no configured edit can change it."""
        words = text.split()
        order = list(self.operations)
        rng.shuffle(order)
        for op in order:
            new = " ".join(getattr(self, f"_{op}")(words, rng))
            if new != " ".join(words) and new.strip():
                return new
        return None
