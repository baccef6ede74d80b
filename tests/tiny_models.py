"""Tiny, offline Hugging Face models for the tests.

Nothing here touches the Hub: each builder makes a vocabulary, a WordPiece tokenizer
(with the ``tokenizers`` library) and a very small BERT, and writes both with
``save_pretrained`` to a folder that ``transformers`` loads by path.

``build_tiny_nli(path, keywords, seed=0)``
    A ``BertForSequenceClassification`` NLI model (labels ``entailment`` / ``neutral`` /
    ``contradiction``) for ``pipeline("zero-shot-classification", model=str(path))``.
    It is *trained* for a few seconds on synthetic premise/hypothesis pairs so that, for a
    text that contains a keyword of class C, the pipeline ranks label C first.

``build_tiny_bert(path, seed=0)``
    A random ``BertModel`` (no classification head, no NLI label mapping): for tests that
    a non-NLI model is rejected, and that any embedding model path is accepted.

Why train instead of setting the weights by hand? The pipeline scores each candidate
label through the whole BERT stack (embeddings, attention, pooler, classifier) on the
pair ``[CLS] text [SEP] This example is <label>. [SEP]``. Wiring attention by hand so
that the ``[CLS]`` vector encodes "a word of the text belongs to the class named in the
hypothesis" is fiddly and depends on a given ``transformers`` version's internals; a
short training run on the real tokenizer's ids finds such weights and only relies on
the public API (``model(**batch).loss``). What keeps the training quick and safe:

* a few priors at initialisation (not hand-set weights): larger random weights than
  BERT's default (``initializer_range=0.2``, which escapes the initial plateau much
  sooner), each keyword's embedding starting close to its class name's embedding, and
  position embeddings frozen at zero, so each side of the pair is a bag of words (the
  segment embedding still tells text from hypothesis): a keyword counts wherever it is;
* fresh synthetic data at every step (no overfitting), no dropout, one CPU thread, and
  fixed seeds (``torch.manual_seed`` and ``random.Random``): a given ``(keywords, seed)``
  gives the same weights on a given machine, so the same predictions;
* a check before saving (below). Training stops as soon as the check passes; if it
  does not within the step budget, it restarts from a new initialisation (derived from
  ``seed``, so still deterministic) and, after ``_ATTEMPTS`` failed runs, raises
  :class:`TinyModelError`: a half-trained model is never saved.

The check, which is therefore what ``build_tiny_nli`` guarantees: for both hypothesis
templates in :data:`TEMPLATES` (``"This example is {}."``, the pipeline's default, and
``"This text is about {}."``), for every class C and any candidate labels drawn from the
class names that include C,

* single-label mode: the entailment logit of C's hypothesis beats every other class's by
  at least :data:`MARGIN`, so the pipeline's ``labels[0]`` is C;
* ``multi_label=True``: for C, entailment beats contradiction by at least
  :data:`MARGIN`, and for every other class contradiction beats entailment by as much,
  so C scores above 0.5 and the others below;

on each keyword (and class name) alone, with ``"the "`` before it, after six filler
words, in short sentences of filler and unknown words with one or two keywords of the
class, and on 120 held-out generated premises. Outside the guarantee: texts mixing
keywords of several classes, other templates, class names that are not in ``keywords``,
and texts much longer than the training ones (up to ``_MAX_FILLER`` + 2 words; longer
ones usually work but are not checked). The pipeline truncates texts to
:data:`MAX_LENGTH` tokens.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

__all__ = [
    "ID2LABEL",
    "MARGIN",
    "MAX_LENGTH",
    "TEMPLATES",
    "TinyModelError",
    "build_tiny_bert",
    "build_tiny_nli",
]

#: The NLI label mapping; the zero-shot pipeline looks for a label starting with "entail".
ID2LABEL = {0: "entailment", 1: "neutral", 2: "contradiction"}
ENTAILMENT, NEUTRAL, CONTRADICTION = 0, 1, 2

#: The hypothesis templates the NLI model is trained and checked on; the first one is the
#: zero-shot pipeline's default.
TEMPLATES = ("This example is {}.", "This text is about {}.")

#: Minimum logit gap required by the pre-save check (see the module docstring).
MARGIN = 1.0

#: The tokenizer's ``model_max_length`` and the size of the models' position table.
MAX_LENGTH = 128

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

#: Neutral words for the synthetic texts (any that is also a keyword or class name is
#: dropped). Frequent news words, so that hand-written test sentences mostly stay in
#: the vocabulary; other words become ``[UNK]``, which the model also learns to ignore.
FILLER_WORDS = tuple(
    dict.fromkeys(
        "the a an of in on at to for with by from and or but as after before over under "
        "was were is are has had have will would new old big small first last late early "
        "today yesterday week year day time people report news said says it they we our "
        "their his her ended opened fell rose match game team show".split()
    )
)

#: Out-of-vocabulary words mixed into the synthetic texts (each becomes ``[UNK]``).
UNKNOWN_WORDS = tuple(f"qz{i}x" for i in range(12))

# Model size and training budget (a 4-class build takes about 100-150 steps).
_HIDDEN = 32
_LAYERS = 2
_HEADS = 4
_INIT_RANGE = 0.2
_KEYWORD_INIT_NOISE = 0.05
_LR = 3e-3
_PREMISES_PER_STEP = 12  # each paired with every class and template
_CHECK_EVERY = 25
_MAX_STEPS = 600  # per attempt
_ATTEMPTS = 3
_MAX_FILLER = 16
_UNKNOWN_RATE = 0.15
_NEUTRAL_RATE = 0.125


class TinyModelError(RuntimeError):
    """The tiny NLI model did not pass its pre-save check within the training budget."""


# --------------------------------------------------------------------------- tokenizer


def _words(text: str) -> list[str]:
    """The lowercased words of ``text``, split as the BERT normalizer and pre-tokenizer do."""
    normalized = normalizers.BertNormalizer(lowercase=True).normalize_str(text)
    return [word for word, _ in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(normalized)]


def _make_tokenizer(words: Iterable[str]) -> BertTokenizerFast:
    """A lowercasing WordPiece ``BertTokenizerFast`` whose vocabulary is the special tokens
    then ``words`` (deduplicated, in order); any other word becomes ``[UNK]``."""
    vocab: dict[str, int] = {}
    for token in (*SPECIAL_TOKENS, *words):
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    backend.decoder = decoders.WordPiece(prefix="##")
    # In transformers 5 BertTokenizerFast is an alias of BertTokenizer, a `tokenizers`-backed
    # class whose own __init__ builds a 5-token default vocab; `tokenizer_object=` replaces
    # it (and is also how the transformers 4 fast class takes a ready backend).
    return BertTokenizerFast(
        tokenizer_object=backend,
        do_lower_case=True,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=MAX_LENGTH,
    )


def _tiny_config(tokenizer: BertTokenizerFast, **extra) -> BertConfig:
    return BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=_HIDDEN,
        num_hidden_layers=_LAYERS,
        num_attention_heads=_HEADS,
        intermediate_size=2 * _HIDDEN,
        max_position_embeddings=MAX_LENGTH,
        type_vocab_size=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        initializer_range=_INIT_RANGE,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )


def _save(path: str | Path, model, tokenizer) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# --------------------------------------------------------------------------- synthetic task

# A premise: its text, its token ids (without special tokens) and its class (None: no keyword).
_Premise = tuple[str, list[int], "str | None"]


class _Task:
    """The synthetic NLI task for one ``keywords`` mapping, with its tokenizer.

    A premise is a shuffle of filler and unknown words with one or two keywords (or the
    name) of a class C, or with none (then its class is None). It is paired with the
    hypothesis ``template.format(L)`` for every class L and template: the target is
    entailment when L == C, contradiction otherwise, and neutral for premises without a
    keyword. Premises are built at the id level for speed; :meth:`check_ids` verifies
    that the ids are what the tokenizer gives for the text.
    """

    def __init__(self, keywords: Mapping[str, Sequence[str]]) -> None:
        if len(keywords) < 2:
            raise ValueError("build_tiny_nli needs at least two classes")
        self.labels = list(keywords)
        self.cues: dict[str, list[str]] = {}  # class -> normalized keywords and class name
        owner: dict[str, str] = {}
        for label, words in keywords.items():
            if isinstance(words, str) or not words:
                raise ValueError(f"class {label!r}: give a non-empty list of keywords")
            cues = []
            for cue in (*words, label):
                key = " ".join(_words(cue))
                if not key:
                    raise ValueError(f"class {label!r}: keyword {cue!r} has no word")
                if owner.setdefault(key, label) != label:
                    raise ValueError(f"keyword {cue!r} is in both {owner[key]!r} and {label!r}")
                if key not in cues:
                    cues.append(key)
            self.cues[label] = cues
        cue_words = [w for cues in self.cues.values() for cue in cues for w in cue.split()]
        self.fillers = [w for w in FILLER_WORDS if w not in set(cue_words)]
        template_words = [w for t in TEMPLATES for w in _words(t.format(""))]
        self.tokenizer = _make_tokenizer([*cue_words, *template_words, *ID2LABEL.values(), *self.fillers])

        tok = self.tokenizer
        self.cls, self.sep, self.pad, self.unk = tok.cls_token_id, tok.sep_token_id, tok.pad_token_id, tok.unk_token_id
        ids = self.ids
        self.dot = ids(".")
        self.cue_ids = {cue: ids(cue) for cues in self.cues.values() for cue in cues}
        self.filler_ids = {w: ids(w) for w in self.fillers}
        self.hypothesis_ids = {(t, label): ids(t.format(label)) for t in TEMPLATES for label in self.labels}

    def ids(self, text: str) -> list[int]:
        """The tokenizer's ids for ``text``, without special tokens."""
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    # ---- generation

    def premise(self, rng: random.Random, label: str | None, n_fillers: int | None = None) -> _Premise:
        if n_fillers is None:
            n_fillers = rng.randint(0, _MAX_FILLER)
        units = [
            (rng.choice(UNKNOWN_WORDS), [self.unk]) if rng.random() < _UNKNOWN_RATE else self._filler(rng)
            for _ in range(n_fillers)
        ]
        if label is not None:
            cues = self.cues[label]
            for cue in rng.sample(cues, k=min(len(cues), rng.choice((1, 1, 2)))):
                units.insert(rng.randint(0, len(units)), (cue, self.cue_ids[cue]))
        text = " ".join(word for word, _ in units)
        token_ids = [i for _, unit_ids in units for i in unit_ids]
        if units and rng.random() < 0.3:
            text, token_ids = text + ".", token_ids + self.dot
        return text, token_ids, label

    def _filler(self, rng: random.Random) -> tuple[str, list[int]]:
        word = rng.choice(self.fillers)
        return word, self.filler_ids[word]

    def sample(self, rng: random.Random, n: int) -> list[_Premise]:
        """``n`` random premises, about one in eight without a keyword."""
        return [
            self.premise(rng, None if rng.random() < _NEUTRAL_RATE else rng.choice(self.labels)) for _ in range(n)
        ]

    def check_premises(self) -> list[_Premise]:
        """The fixed premises that must all pass before the model is saved."""
        rng = random.Random(12345)
        out = []
        for label, cues in self.cues.items():
            for cue in cues:
                lead, lead_ids, _ = self.premise(rng, None, 6)
                lead, lead_ids = lead.rstrip("."), [i for i in lead_ids if i not in self.dot]
                out += [
                    (cue, self.cue_ids[cue], label),
                    (f"the {cue}", self.ids("the") + self.cue_ids[cue], label),
                    (f"{lead} {cue}.", lead_ids + self.cue_ids[cue] + self.dot, label),
                ]
            out += [self.premise(rng, label, rng.randint(3, 12)) for _ in range(4)]
        return out

    def check_ids(self, premises: Sequence[_Premise]) -> None:
        """Raise unless the generated ids are the tokenizer's ids for the texts."""
        texts = [text for text, _, _ in premises]
        for (text, token_ids, _), real in zip(premises, self.tokenizer(texts, add_special_tokens=False)["input_ids"]):
            if token_ids != real:
                raise TinyModelError(f"synthetic ids for {text!r} are {token_ids}, the tokenizer gives {real}")

    # ---- batches

    def batch(self, premises: Sequence[_Premise], templates: Sequence[str] = TEMPLATES) -> dict[str, torch.Tensor]:
        """Model inputs and targets for every (premise, template, class), in that order,
        laid out exactly as the tokenizer lays out a pair (``[CLS] A [SEP] B [SEP]``)."""
        rows, targets = [], []
        for _, token_ids, label in premises:
            first = [self.cls, *token_ids, self.sep]
            for template in templates:
                for candidate in self.labels:
                    rows.append((first, [*self.hypothesis_ids[template, candidate], self.sep]))
                    if label is None:
                        targets.append(NEUTRAL)
                    else:
                        targets.append(ENTAILMENT if candidate == label else CONTRADICTION)
        width = max(len(a) + len(b) for a, b in rows)
        input_ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        token_type_ids = torch.zeros_like(input_ids)
        attention_mask = torch.zeros_like(input_ids)
        for row, (first, second) in enumerate(rows):
            n, m = len(first), len(second)
            input_ids[row, : n + m] = torch.tensor(first + second)
            token_type_ids[row, n : n + m] = 1
            attention_mask[row, : n + m] = 1
        return {
            "input_ids": input_ids,
            "token_type_ids": token_type_ids,
            "attention_mask": attention_mask,
            "labels": torch.tensor(targets),
        }

    # ---- checking

    @torch.no_grad()
    def failures(self, model, premises: Sequence[_Premise]) -> list[str]:
        """The (premise, template) pairs failing the module's guarantee, scored on the
        tokenizer's own encoding of the texts (as the pipeline does)."""
        premises = [p for p in premises if p[2] is not None]
        was_training = model.training
        model.eval()
        failed = []
        for template in TEMPLATES:
            texts = [text for text, _, _ in premises for _ in self.labels]
            hypotheses = [template.format(label) for _ in premises for label in self.labels]
            enc = self.tokenizer(texts, hypotheses, padding=True, truncation="only_first", return_tensors="pt")
            logits = model(**enc).logits.view(len(premises), len(self.labels), -1)
            for (text, _, label), row in zip(premises, logits):
                gold = self.labels.index(label)
                entail, contra = row[:, ENTAILMENT], row[:, CONTRADICTION]
                others = [i for i in range(len(self.labels)) if i != gold]
                single_ok = bool((entail[gold] - entail[others]).min() >= MARGIN)
                gap = entail - contra
                multi_ok = bool(gap[gold] >= MARGIN) and bool((gap[others] <= -MARGIN).all())
                if not (single_ok and multi_ok):
                    failed.append(f"{text!r} with {template!r} (class {label!r})")
        model.train(was_training)
        return failed


# --------------------------------------------------------------------------- builders


def _new_nli_model(task: _Task) -> BertForSequenceClassification:
    config = _tiny_config(
        task.tokenizer,
        num_labels=len(ID2LABEL),
        id2label=dict(ID2LABEL),
        label2id={label: i for i, label in ID2LABEL.items()},
    )
    model = BertForSequenceClassification(config)
    embeddings = model.bert.embeddings
    with torch.no_grad():
        words = embeddings.word_embeddings.weight
        for label, cues in task.cues.items():
            name = task.ids(label)[0]
            for i in sorted({i for cue in cues for i in task.cue_ids[cue]} - set(task.ids(label))):
                words[i] = words[name] + _KEYWORD_INIT_NOISE * torch.randn_like(words[name])
        embeddings.position_embeddings.weight.zero_()
    embeddings.position_embeddings.weight.requires_grad_(False)
    return model


def _train(task: _Task, seed: int, checks: list[_Premise]) -> tuple[BertForSequenceClassification | None, list[str]]:
    """One training run; returns the model (None if it never passed) and the last failures."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = _new_nli_model(task)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=_LR, weight_decay=0.0)
    failed: list[str] = []
    for step in range(1, _MAX_STEPS + 1):
        loss = model(**task.batch(task.sample(rng, _PREMISES_PER_STEP))).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % _CHECK_EVERY == 0:
            failed = task.failures(model, checks)
            if not failed:
                model.eval()
                return model, []
    return None, failed


def build_tiny_nli(path: str | Path, keywords: Mapping[str, Sequence[str]], seed: int = 0) -> Path:
    """Train and save a tiny zero-shot (NLI) ``BertForSequenceClassification`` in ``path``.

    ``keywords`` maps each class name (the candidate label the tests will pass, e.g.
    ``"sports"``) to words or short phrases that mark a text as that class (``["football",
    "goal"]``); the class name itself also counts as a keyword. No keyword may belong to
    two classes. The folder gets ``config.json`` (``id2label`` = entailment / neutral /
    contradiction), ``model.safetensors`` and the tokenizer (``tokenizer.json``,
    ``tokenizer_config.json``, ``model_max_length`` = :data:`MAX_LENGTH`), and loads with
    ``pipeline("zero-shot-classification", model=str(path))`` or the ``Auto*`` classes.

    What the model guarantees, and why it is trained rather than hand-set, is in the
    module docstring. Deterministic for a given ``(keywords, seed)`` on a given machine;
    about 3-6 s on one CPU thread for 4 classes of 2 keywords (more classes take longer).
    Uses one torch thread while training (restored afterwards).

    Returns ``path`` as a :class:`~pathlib.Path`. Raises ``ValueError`` for bad
    ``keywords`` and :class:`TinyModelError` if no training run passes the check.
    """
    task = _Task(keywords)
    held_out = task.sample(random.Random(f"held-out-{seed}"), 120)
    checks = task.check_premises() + held_out
    task.check_ids(checks)

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # reproducible sums, fast for a model this small, gentle on CI
    try:
        failed: list[str] = []
        for attempt in range(_ATTEMPTS):
            model, failed = _train(task, seed + 1000 * attempt, checks)
            if model is not None:
                return _save(path, model, task.tokenizer)
    finally:
        torch.set_num_threads(previous_threads)
    shown = "\n  ".join(failed[:10])
    raise TinyModelError(
        f"tiny NLI model (seed={seed}) failed its check after {_ATTEMPTS} runs of {_MAX_STEPS} steps, "
        f"{len(failed)} failure(s) in the last run, e.g.:\n  {shown}"
    )


def build_tiny_bert(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random ``BertModel`` and its tokenizer in ``path``; return it as a Path.

    Not a classifier: the config keeps transformers' default ``LABEL_0`` / ``LABEL_1``
    mapping (no entailment label) and the weights have no classification head. Loads
    with ``AutoModel`` / ``AutoTokenizer`` (e.g. for mean-pooled embeddings), with the
    same kind of tokenizer as :func:`build_tiny_nli` over filler and template words.

    Beware: ``pipeline("zero-shot-classification", model=...)`` does *not* refuse this
    model. transformers loads it into ``BertForSequenceClassification`` with a new random
    2-label head and only logs a warning that it failed to determine the entailment
    label id (then uses id -1), so code that needs an NLI model must check
    ``config.label2id`` itself.
    """
    words = [*FILLER_WORDS, *(w for t in TEMPLATES for w in _words(t.format(""))), "sports", "science"]
    tokenizer = _make_tokenizer(words)
    torch.manual_seed(seed)
    model = BertModel(_tiny_config(tokenizer))
    model.eval()
    return _save(path, model, tokenizer)
