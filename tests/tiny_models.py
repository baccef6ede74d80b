"""Tiny, offline Hugging Face models for the tests.

Nothing here touches the Hub: each builder makes a vocabulary, a WordPiece tokenizer
(with the ``tokenizers`` library) and a very small BERT, and writes both with
``save_pretrained`` to a folder that ``transformers`` loads by path.

``build_tiny_nli(path, keywords, seed=0, *, multi=False)``
    A ``BertForSequenceClassification`` NLI model (labels ``entailment`` / ``neutral`` /
    ``contradiction``) for ``pipeline("zero-shot-classification", model=str(path))``.
    It is *trained* for a few seconds on synthetic premise/hypothesis pairs so that, for a
    text that contains a keyword of class C, the pipeline ranks label C first. With
    ``multi=True`` it also learns texts holding keywords of two classes, which
    ``multi_label=True`` then gives both labels.

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
  with ``multi``, also the first layer's attention keys starting equal to its queries;
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
class, and on 120 held-out generated premises.

With ``multi=True`` half the training premises hold one or two keywords of each of two
classes C and D, and premises without a keyword are trained as contradicting every
class rather than neutral (``multi_label`` weighs entailment against contradiction
only). The check adds: with C and D both in the place of C above (``multi_label=True``:
both above 0.5 by the margin, every other class below; single-label mode: ``labels[0]``
is C or D), on ``"the <c> and the <d>"`` for every keyword or name c of C and d of D,
on four generated sentences per pair of classes and on the held-out premises (which
then hold pairs too); and with ``multi_label=True`` every class below 0.5 by the margin
on twelve generated premises without a keyword and the held-out ones, so such a text
gets no label.

Outside the guarantee: texts mixing keywords of several classes (of more than two with
``multi``), other templates, class names that are not in ``keywords``, and texts much
longer than the training ones (up to ``_MAX_FILLER`` words and the keywords; longer ones
usually work but are not checked). The pipeline truncates texts to :data:`MAX_LENGTH` tokens.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

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
_PAIR_RATE = 0.5  # with multi=True: premises holding keywords of two classes
_MULTI_CHECK_SEED = 54321


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

# A premise: its text, its token ids (without special tokens) and the classes whose keywords
# it holds (one, two with ``multi``, or none).
_Premise = tuple[str, list[int], tuple[str, ...]]


class _Task:
    """The synthetic NLI task for one ``keywords`` mapping, with its tokenizer.

    A premise is a shuffle of filler and unknown words with one or two keywords (or the
    name) of a class C, or with none. With ``multi``, some premises hold one or two
    keywords of each of two classes. It is paired with the hypothesis
    ``template.format(L)`` for every class L and template: the target is entailment when
    the premise holds a keyword of L, contradiction when it holds only other classes'
    keywords, and neutral for premises without a keyword (contradiction with ``multi``,
    whose models are for ``multi_label``). Premises are built at the id
    level for speed; :meth:`check_ids` verifies that the ids are what the tokenizer gives
    for the text.
    """

    def __init__(self, keywords: Mapping[str, Sequence[str]], *, multi: bool = False) -> None:
        if len(keywords) < 2:
            raise ValueError("build_tiny_nli needs at least two classes")
        self.multi = multi
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
        self.name_ids = {label: ids(label) for label in self.labels}

    def ids(self, text: str) -> list[int]:
        """The tokenizer's ids for ``text``, without special tokens."""
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    # ---- generation

    def premise(self, rng: random.Random, classes: tuple[str, ...], n_fillers: int | None = None) -> _Premise:
        if n_fillers is None:
            n_fillers = rng.randint(0, _MAX_FILLER)
        units = [
            (rng.choice(UNKNOWN_WORDS), [self.unk]) if rng.random() < _UNKNOWN_RATE else self._filler(rng)
            for _ in range(n_fillers)
        ]
        for label in classes:
            cues = self.cues[label]
            for cue in rng.sample(cues, k=min(len(cues), rng.choice((1, 1, 2)))):
                units.insert(rng.randint(0, len(units)), (cue, self.cue_ids[cue]))
        text = " ".join(word for word, _ in units)
        token_ids = [i for _, unit_ids in units for i in unit_ids]
        if units and rng.random() < 0.3:
            text, token_ids = text + ".", token_ids + self.dot
        return text, token_ids, classes

    def _filler(self, rng: random.Random) -> tuple[str, list[int]]:
        word = rng.choice(self.fillers)
        return word, self.filler_ids[word]

    def sample(self, rng: random.Random, n: int) -> list[_Premise]:
        """``n`` random premises, about one in eight without a keyword; with ``multi``, half
        hold keywords of two classes (and one in eight of the rest none)."""
        out = []
        for _ in range(n):
            # The draws without ``multi`` are the ones the module always made: same seed, same model.
            if self.multi and rng.random() < _PAIR_RATE:
                out.append(self.premise(rng, tuple(rng.sample(self.labels, 2))))
            elif rng.random() < _NEUTRAL_RATE:
                out.append(self.premise(rng, ()))
            else:
                out.append(self.premise(rng, (rng.choice(self.labels),)))
        return out

    def check_premises(self) -> list[_Premise]:
        """The fixed premises that must all pass before the model is saved."""
        rng = random.Random(12345)
        out = []
        for label, cues in self.cues.items():
            for cue in cues:
                lead, lead_ids, _ = self.premise(rng, (), 6)
                lead, lead_ids = lead.rstrip("."), [i for i in lead_ids if i not in self.dot]
                out += [
                    (cue, self.cue_ids[cue], (label,)),
                    (f"the {cue}", self.ids("the") + self.cue_ids[cue], (label,)),
                    (f"{lead} {cue}.", lead_ids + self.cue_ids[cue] + self.dot, (label,)),
                ]
            out += [self.premise(rng, (label,), rng.randint(3, 12)) for _ in range(4)]
        if self.multi:
            out += self._multi_check_premises()
        return out

    def _multi_check_premises(self) -> list[_Premise]:
        """Every keyword (or name) of a class with every one of another, generated pairs,
        and generated premises without a keyword."""
        rng = random.Random(_MULTI_CHECK_SEED)
        the, and_ = self.ids("the"), self.ids("and")
        out = []
        for a, b in itertools.combinations(self.labels, 2):
            out += [
                (f"the {cue_a} and the {cue_b}", the + self.cue_ids[cue_a] + and_ + the + self.cue_ids[cue_b], (a, b))
                for cue_a in self.cues[a]
                for cue_b in self.cues[b]
            ]
            out += [self.premise(rng, (a, b), rng.randint(3, 12)) for _ in range(4)]
        out += [self.premise(rng, (), rng.randint(1, _MAX_FILLER)) for _ in range(12)]
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
        for _, token_ids, classes in premises:
            first = [self.cls, *token_ids, self.sep]
            for template in templates:
                for candidate in self.labels:
                    rows.append((first, [*self.hypothesis_ids[template, candidate], self.sep]))
                    if not classes:
                        targets.append(CONTRADICTION if self.multi else NEUTRAL)
                    else:
                        targets.append(ENTAILMENT if candidate in classes else CONTRADICTION)
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

    def checks(self, premises: Sequence[_Premise]) -> _Checks:
        """The premises to check (without ``multi``, only those with a keyword), encoded
        once for every check of a build: by the tokenizer itself (as the pipeline encodes
        them), with every class per template.

        The last call leaves its padding and truncation settings in the tokenizer, which
        ``save_pretrained`` writes to ``tokenizer.json``: nothing may call the tokenizer
        after this one, so that the saved files stay as they were when every check
        encoded its premises afresh (same seed, same bytes).
        """
        premises = [p for p in premises if p[2] or self.multi]
        texts = [text for text, _, _ in premises for _ in self.labels]
        encodings = [
            self.tokenizer(texts, [template.format(label) for _ in premises for label in self.labels],
                           padding=True, truncation="only_first", return_tensors="pt")
            for template in TEMPLATES
        ]
        gold = torch.tensor([[label in classes for label in self.labels] for _, _, classes in premises])
        return _Checks(premises, encodings, gold)

    @torch.no_grad()
    def failures(self, model, checks: _Checks) -> list[str]:
        """The (premise, template) pairs failing the module's guarantee."""
        was_training = model.training
        model.eval()
        gold = checks.gold
        failed = []
        for template, enc in zip(TEMPLATES, checks.encodings):
            logits = model(**enc).logits.view(len(checks.premises), len(self.labels), -1)
            entail, contra = logits[..., ENTAILMENT], logits[..., CONTRADICTION]
            # Single-label mode: the premise's weakest class beats every other by MARGIN
            # (a premise that holds every class, or none, has nothing to rank).
            weakest = entail.masked_fill(~gold, torch.inf).amin(dim=1, keepdim=True)
            single_ok = (weakest - entail).masked_fill(gold, torch.inf).amin(dim=1) >= MARGIN
            # multi_label: each class of the premise above 0.5 by MARGIN, every other below.
            gap = entail - contra
            multi_ok = torch.where(gold, gap >= MARGIN, gap <= -MARGIN).all(dim=1)
            for (text, _, classes), ok in zip(checks.premises, (single_ok & multi_ok).tolist()):
                if not ok:
                    held = f"class {' + '.join(map(repr, classes))}" if classes else "no keyword"
                    failed.append(f"{text!r} with {template!r} ({held})")
        model.train(was_training)
        return failed


class _Checks(NamedTuple):
    """What :meth:`_Task.failures` scores: the premises, their encoding per template, and
    which classes each holds (premises x classes)."""

    premises: list[_Premise]
    encodings: list[Mapping[str, torch.Tensor]]
    gold: torch.Tensor


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
            name = task.name_ids[label][0]
            for i in sorted({i for cue in cues for i in task.cue_ids[cue]} - set(task.name_ids[label])):
                words[i] = words[name] + _KEYWORD_INIT_NOISE * torch.randn_like(words[name])
        embeddings.position_embeddings.weight.zero_()
        if task.multi:
            # The first layer's keys start equal to its queries, so each token starts out
            # attending more to tokens like itself: a hypothesis's class name to the premise's
            # keywords of that class (whose embeddings start near the name's), whatever other
            # classes' keywords are around. The check then passed after 158 steps on average
            # instead of 205 (4 classes, seeds 0-9), 162 instead of 331 (6 classes, seeds 0-3).
            # Not done without ``multi``: those models must not change.
            attention = model.bert.encoder.layer[0].attention.self
            attention.key.weight.copy_(attention.query.weight)
    embeddings.position_embeddings.weight.requires_grad_(False)
    return model


def _train(task: _Task, seed: int, checks: _Checks) -> tuple[BertForSequenceClassification | None, list[str]]:
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


def build_tiny_nli(path: str | Path, keywords: Mapping[str, Sequence[str]], seed: int = 0, *,
                   multi: bool = False) -> Path:
    """Train and save a tiny zero-shot (NLI) ``BertForSequenceClassification`` in ``path``.

    ``keywords`` maps each class name (the candidate label the tests will pass, e.g.
    ``"sports"``) to words or short phrases that mark a text as that class (``["football",
    "goal"]``); the class name itself also counts as a keyword. No keyword may belong to
    two classes. The folder gets ``config.json`` (``id2label`` = entailment / neutral /
    contradiction), ``model.safetensors`` and the tokenizer (``tokenizer.json``,
    ``tokenizer_config.json``, ``model_max_length`` = :data:`MAX_LENGTH`), and loads with
    ``pipeline("zero-shot-classification", model=str(path))`` or the ``Auto*`` classes.

    ``multi=True`` also trains and checks texts that hold keywords of two classes, for
    ``multi_label=True`` (``labels_per_row: many``) to give both labels; without it the
    files are the same as before the option existed.

    What the model guarantees, and why it is trained rather than hand-set, is in the
    module docstring. Deterministic for a given ``(keywords, seed, multi)`` on a given
    machine; about 3-6 s on one CPU thread for 4 classes of 2 keywords (more classes take
    longer), and with ``multi`` about a third longer (more steps, and more premises to check).
    Uses one torch thread while training (restored afterwards).

    Returns ``path`` as a :class:`~pathlib.Path`. Raises ``ValueError`` for bad
    ``keywords`` and :class:`TinyModelError` if no training run passes the check.
    """
    task = _Task(keywords, multi=multi)
    held_out = task.sample(random.Random(f"held-out-{seed}"), 120)
    premises = task.check_premises() + held_out
    task.check_ids(premises)
    checks = task.checks(premises)

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
