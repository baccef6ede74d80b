"""The recipe: one pydantic model per stage, loaded from YAML by :func:`load_config`.

Every model forbids unknown keys, so a typo such as ``treshold:`` fails with the key path
instead of being ignored. A stage receives only its own sub-config. Paths in ``sources`` are
resolved against the recipe's folder (``Recipe.base_dir``); ``output.dir`` against the working
directory.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from ._version import __version__
from .errors import ConfigError
from .hub_metadata import check_metadata, known_languages, known_licenses
from .readers import file_sha256

__all__ = [
    "LABEL_METHODS",
    "SOURCE_TYPES",
    "SPLIT_METHODS",
    "STAGES",
    "WEB_SOURCE_TYPES",
    "Augment",
    "Balance",
    "Boilerplate",
    "C4Lines",
    "Card",
    "Clean",
    "Collect",
    "ColumnLabel",
    "CrawlSource",
    "CsvSource",
    "Dedup",
    "EmbeddingLabel",
    "EmbeddingModel",
    "Execution",
    "Extract",
    "Fetch",
    "GopherQuality",
    "GopherRepetition",
    "GroupSplit",
    "HfSource",
    "HtmlDirSource",
    "JsonlSource",
    "KMeansLabel",
    "KMeansOptions",
    "Label",
    "Leakage",
    "ManualLabel",
    "NearDedup",
    "Output",
    "ParquetSource",
    "Pii",
    "RandomSplit",
    "Recipe",
    "Report",
    "SitemapSource",
    "Source",
    "SourceColumns",
    "Split",
    "StratifiedSplit",
    "TextDirSource",
    "TimeSplit",
    "UrlsSource",
    "WarcSource",
    "ZeroShotLabel",
    "ZeroShotModel",
    "annotation_files",
    "load_config",
]

#: The stages of a build, in order. ``--until`` takes one of these names.
STAGES = ("collect", "extract", "clean", "dedup", "label", "split", "balance", "report", "write")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def __getstate__(self) -> dict[Any, Any]:
        # A section goes to a map step as its config, and datasets fingerprints the step by
        # pickling it: pickled by value alone (as if every field had been written out), equal
        # sections give equal fingerprints whichever keys the recipe spelled out.
        state = super().__getstate__()
        state["__pydantic_fields_set__"] = set(type(self).model_fields)
        return state


# --- sources --------------------------------------------------------------------------------


class SourceColumns(_Section):
    """Which input columns hold the text and the metadata the project fills.

    A column named like a metadata column (``date``, ``url``, ``title``, ``author``, ``language``)
    fills it as it is; ``<name>_column`` maps a column of another name onto it (the file's own
    column of that name is then kept as ``source_<name>``).
    """

    text_column: str = "text"
    date_column: str | None = Field(None, description="the column that fills date (e.g. published)")
    url_column: str | None = Field(None, description="the column that fills url")
    title_column: str | None = Field(None, description="the column that fills title (e.g. headline)")
    author_column: str | None = Field(None, description="the column that fills author")
    language_column: str | None = Field(None, description="the column that fills language (e.g. lang)")

    def metadata_columns(self) -> dict[str, str]:
        """Project column -> input column, for the ``<name>_column`` keys that are set."""
        mapped = {"date": self.date_column, "url": self.url_column, "title": self.title_column,
                  "author": self.author_column, "language": self.language_column}
        return {name: column for name, column in mapped.items() if column is not None}

    @model_validator(mode="after")
    def _distinct_columns(self) -> SourceColumns:
        mapped = self.metadata_columns()
        used = [self.text_column, *mapped.values()]
        twice = sorted({c for c in used if used.count(c) > 1})
        if twice:
            raise ValueError(f"text_column and the <name>_column keys must name different columns; got {twice} twice")
        return self


class _FileSource(SourceColumns):
    path: str = Field(description="a file, or a glob such as raw/*.jsonl, relative to the recipe")


class JsonlSource(_FileSource):
    """JSON Lines: one JSON object a line."""

    type: Literal["jsonl"]


class CsvSource(_FileSource):
    """CSV with a header row; every value is read as a string."""

    type: Literal["csv"]
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8"


class ParquetSource(_FileSource):
    """Parquet files."""

    type: Literal["parquet"]


class TextDirSource(_Section):
    """A folder of text files, one file a row."""

    type: Literal["text_dir"]
    path: str
    pattern: str = "**/*.txt"
    encoding: str = "utf-8"


class HtmlDirSource(_Section):
    """A folder of saved HTML pages (.html, .htm, .html.gz), one page a row."""

    type: Literal["html_dir"]
    path: str
    patterns: list[str] = Field(default_factory=lambda: ["**/*.html", "**/*.htm", "**/*.html.gz"])


class HfSource(SourceColumns):
    """A dataset saved with ``save_to_disk``, a local folder of parquet/jsonl/csv files, or a Hub id."""

    type: Literal["hf"]
    path: str
    split: str = Field("train", description="the split to read, or all (every split, in order)")


class UrlsSource(_Section):
    """Web pages from a list of URLs: a file (one a line, ``#`` comments) or an inline list."""

    type: Literal["urls"]
    path: str | None = None
    urls: list[str] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> UrlsSource:
        if (self.path is None) == (self.urls is None):
            raise ValueError("give either path (a file of URLs) or urls (a list), not both or neither")
        return self


class SitemapSource(_Section):
    """Web pages listed in a sitemap or sitemap index (nested sitemaps are followed)."""

    type: Literal["sitemap"]
    url: str
    max_pages: int | None = Field(None, ge=1)


class CrawlSource(_Section):
    """Web pages reached from seed URLs by following links, breadth first."""

    type: Literal["crawl"]
    seeds: list[str] = Field(min_length=1)
    allowed_domains: list[str] | None = Field(None, description="hosts to stay on; default the seeds' hosts")
    include: list[str] = Field(default_factory=list, description="regexes; a URL must match one (when given)")
    exclude: list[str] = Field(default_factory=list, description="regexes; a URL that matches one is skipped")
    max_depth: int = Field(2, ge=0)
    max_pages: int = Field(100, ge=1)

    @model_validator(mode="after")
    def _patterns_compile(self) -> CrawlSource:
        for pattern in (*self.include, *self.exclude):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {pattern!r} ({exc})") from None
        return self


class WarcSource(_Section):
    """HTML response records of local WARC files (.warc, .warc.gz; a file or a glob)."""

    type: Literal["warc"]
    path: str


Source = Annotated[
    JsonlSource | CsvSource | ParquetSource | TextDirSource | HtmlDirSource | HfSource
    | UrlsSource | SitemapSource | CrawlSource | WarcSource,
    Field(discriminator="type"),
]
SOURCE_TYPES = ("jsonl", "csv", "parquet", "text_dir", "html_dir", "hf", "urls", "sitemap", "crawl", "warc")
WEB_SOURCE_TYPES = ("urls", "sitemap", "crawl")


class Fetch(_Section):
    """How web pages are fetched: politeness, limits and retries (for urls, sitemap and crawl)."""

    user_agent: str = f"hf_ftbuilder/{__version__} (+https://pypi.org/project/hf_ftbuilder/)"
    obey_robots: bool = True
    delay: float = Field(1.0, ge=0, description="seconds between two requests to one host")
    concurrency: int = Field(4, ge=1, description="requests in flight at once, over all hosts")
    connect_timeout: float = Field(10.0, gt=0)
    timeout: float = Field(30.0, gt=0, description="seconds for a whole response, body included")
    retries: int = Field(3, ge=0, description="retries after a connection error, 429 or 5xx")
    backoff: float = Field(0.5, ge=0, description="first retry wait in seconds; doubles each retry, with jitter")
    max_backoff: float = Field(60.0, ge=0, description="longest wait, Retry-After included")
    max_redirects: int = Field(5, ge=0)
    max_bytes: int = Field(5_000_000, ge=1, description="larger responses are dropped as too_large")
    max_sitemap_bytes: int = Field(
        52_428_800, ge=1, description="bound for one sitemap, after gunzip (sitemaps.org allows 50 MiB); past it: too_large"
    )


class Collect(_Section):
    """Limits of reading the sources."""

    max_row_chars: int = Field(
        5_000_000, ge=1,
        description="a row longer than this (a JSON line, a CSV record, a file, a text or a page) is dropped as "
        "too_long_row without being parsed; the CSV field limit follows it",
    )


# --- stages ---------------------------------------------------------------------------------


class Extract(_Section):
    """HTML to main text with trafilatura."""

    format: Literal["txt", "markdown"] = "txt"
    timeout: float = Field(30.0, gt=0, description="seconds one page may take; slower pages: extract_timeout")
    include_comments: bool = False
    include_tables: bool = True
    favor_precision: bool = False
    detect_language: bool = Field(
        True, description="when the page has no <html lang>, detect the language offline (py3langid)"
    )


class Pii(_Section):
    """Personal data: which kinds to find, and what to do with a row that has them."""

    email: bool = True
    phone: bool = True
    ip: bool = True
    card: bool = Field(True, description="payment card numbers that pass the Luhn check")
    iban: bool = Field(True, description="IBANs that pass the mod-97 check")
    action: Literal["redact", "drop", "keep"] = Field(
        "redact", description="redact: typed placeholders (<EMAIL>, ...); drop: remove the row (pii); keep: count only"
    )


class Boilerplate(_Section):
    """Lines repeated across documents (cookie notices, navigation), removed corpus-wide."""

    enabled: bool = True
    min_docs: int = Field(10, ge=2, description="a line in at least this many multi-line documents is boilerplate")


class GopherQuality(_Section):
    """Gopher quality rules (Rae et al. 2021); tuned on English web pages, so off by default."""

    enabled: bool = False
    min_mean_word_length: float = Field(3.0, ge=0)
    max_mean_word_length: float = Field(10.0, ge=0)
    max_symbol_word_ratio: float = Field(0.1, ge=0, description="'#' and ellipses per word")
    max_bullet_lines: float = Field(0.9, ge=0, le=1)
    max_ellipsis_lines: float = Field(0.3, ge=0, le=1)
    min_alpha_words: float = Field(0.8, ge=0, le=1, description="share of words with a letter")
    min_stop_words: int = Field(2, ge=0, description="distinct English stop words (the, be, to, of, and, that, have, with)")


class GopherRepetition(_Section):
    """Gopher repetition rules: repeated lines, paragraphs and n-grams; off by default."""

    enabled: bool = False
    max_dup_line_frac: float = Field(0.3, ge=0, le=1)
    max_dup_para_frac: float = Field(0.3, ge=0, le=1)
    max_dup_line_char_frac: float = Field(0.2, ge=0, le=1)
    max_dup_para_char_frac: float = Field(0.2, ge=0, le=1)
    max_top_ngram_frac: dict[int, float] = Field(default_factory=lambda: {2: 0.2, 3: 0.18, 4: 0.16})
    max_dup_ngram_frac: dict[int, float] = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    )


class C4Lines(_Section):
    """C4 line rules (Raffel et al. 2020): drop lines that are not prose, then judge the rest; off by default."""

    enabled: bool = False
    require_terminal_punctuation: bool = True
    min_line_words: int = Field(3, ge=0)
    remove_javascript_lines: bool = True
    remove_policy_lines: bool = Field(True, description="terms of use, privacy and cookie notices")
    drop_lorem_ipsum: bool = True
    drop_curly_braces: bool = True
    min_sentences: int = Field(0, ge=0, description="C4 used 5; 0 = off")


class Clean(_Section):
    """Normalisers (each switchable), PII redaction, boilerplate removal and filters."""

    fix_unicode: bool = Field(True, description="repair mojibake with ftfy")
    html: bool = Field(True, description="unescape entities (also ' #39;' dump artefacts) and remove leftover tags")
    unicode: Literal["NFC", "NFKC", "none"] = "NFC"
    control_chars: bool = Field(True, description="remove control and zero-width characters")
    normalize_urls: bool = Field(False, description="lower-case scheme and host, drop utm_* and click ids")
    normalize_emails: bool = Field(False, description="lower-case e-mail addresses")
    lowercase: bool = False
    strip_punctuation: bool = False
    whitespace: bool = Field(True, description="collapse runs of spaces and blank lines")
    pii: Pii = Field(default_factory=Pii)
    boilerplate: Boilerplate = Field(default_factory=Boilerplate)
    min_words: int = Field(0, ge=0, description="drop rows with fewer words (too_short); 0 = off")
    max_words: int | None = Field(None, ge=1, description="drop rows with more words (too_long)")
    min_chars: int = Field(0, ge=0, description="too_few_chars below this; 0 = off")
    max_chars: int | None = Field(None, ge=1, description="too_many_chars above this")
    languages: list[str] | None = Field(None, description="keep only these languages (py3langid codes); off by default")
    language_min_score: float = Field(0.5, ge=0, le=1)
    gopher_quality: GopherQuality = Field(default_factory=GopherQuality)
    gopher_repetition: GopherRepetition = Field(default_factory=GopherRepetition)
    c4: C4Lines = Field(default_factory=C4Lines)

    @model_validator(mode="after")
    def _ranges(self) -> Clean:
        if self.max_words is not None and self.max_words < self.min_words:
            raise ValueError(
                f"max_words must be at least min_words; got max_words={self.max_words}, "
                f"min_words={self.min_words}"
            )
        if self.max_chars is not None and self.max_chars < self.min_chars:
            raise ValueError(
                f"max_chars must be at least min_chars; got max_chars={self.max_chars}, min_chars={self.min_chars}"
            )
        return self


class NearDedup(_Section):
    """Near duplicates by MinHash LSH over word n-grams, verified by exact Jaccard."""

    enabled: bool = True
    threshold: float = Field(0.8, gt=0, le=1, description="Jaccard of word n-gram sets at which two rows are duplicates")
    num_perm: int = Field(128, ge=8, le=1024)
    ngram: int = Field(5, ge=1, le=10)
    bands: int | None = Field(None, ge=1, description="LSH bands; derived from threshold when not set")
    rows: int | None = Field(None, ge=1, description="rows per band; derived from threshold when not set")

    @model_validator(mode="after")
    def _banding(self) -> NearDedup:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both bands and rows, or neither (they are derived from threshold)")
        if self.bands is not None and self.rows is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands * rows must be at most num_perm; got {self.bands} * {self.rows} > {self.num_perm}")
        return self


class Dedup(_Section):
    """Exact and near duplicates, and contamination against reference sets."""

    exact: bool = True
    keep: Literal["first", "longest"] = "first"
    near: NearDedup = Field(default_factory=NearDedup)
    against: list[Source] = Field(
        default_factory=list,
        description="reference sets (any source type, or a built dataset folder as hf with split: all); "
        "rows that duplicate one of their rows are dropped as contaminated",
    )


class KMeansOptions(_Section):
    """How the clusters of ``label.method: kmeans`` are made and shown."""

    features: Literal["tfidf", "embedding"] = "tfidf"
    k: int | None = Field(None, ge=2, description="clusters; chosen by silhouette over k_range when not set")
    k_range: tuple[int, int] = Field((2, 12), description="smallest and largest k tried by silhouette")
    max_features: int = Field(20_000, ge=10, description="TF-IDF vocabulary size")
    examples: int = Field(5, ge=1, le=50, description="texts nearest each centroid shown in review/clusters.md")
    terms: int = Field(10, ge=1, le=50, description="distinguishing terms shown per cluster")

    @model_validator(mode="after")
    def _range(self) -> KMeansOptions:
        lo, hi = self.k_range
        if lo < 2 or hi < lo:
            raise ValueError(f"k_range must be [low, high] with 2 <= low <= high; got {list(self.k_range)}")
        return self


class _Names(_Section):
    labels: list[str] | None = Field(None, min_length=1, description="the ClassLabel names, in this order")
    labels_per_row: Literal["one", "many"] = Field(
        "one", description="one: a ClassLabel `label` per row; many: a list of them, `labels` (multi-label)"
    )
    label_delimiter: str | None = Field(
        None, min_length=1, description="labels_per_row: many: the separator of several labels in one string: a CSV "
        "label column's (e.g. ;), and annotations' labels field (default ;)",
    )

    @model_validator(mode="after")
    def _unique(self) -> _Names:
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            dupes = sorted({x for x in self.labels if self.labels.count(x) > 1})
            raise ValueError(f"labels must be unique; got {dupes} more than once")
        return self


class _ModelRun(_Section):
    """How a transformers model runs."""

    model: str | None = Field(None, description="a Hub id or a local folder")
    batch_size: int = Field(32, ge=1)
    max_length: int | None = Field(None, ge=8, description="token limit (texts are truncated); default the model's")
    device: str = Field("cpu", pattern=r"^(cpu|auto|cuda(:\d+)?|mps)$")


class _ByPeople(_Section):
    min_score: float | None = Field(
        None, ge=0, le=1, description="rows whose label_score is below go to review/low_confidence.parquet"
    )
    annotations: str | list[str] | None = Field(
        None, description="human labels beside the recipe: CSV/JSONL with id,label[,annotator,time] (what "
        "`ftbuild review` writes) or a Label Studio JSON export; a list of such files is read in order",
    )
    ask: int = Field(
        0, ge=0, le=100_000, description="choose this many rows for a person to label, those expected to help "
        "most (review/ask.parquet, the review page's first queue); 0: off",
    )

    def annotation_files(self) -> list[str]:
        """The human-label files, in the order they are read."""
        value = self.annotations
        return [] if value is None else [value] if isinstance(value, str) else list(value)


class ZeroShotModel(_ModelRun):
    """A zero-shot NLI pipeline: each label fills the hypothesis; the most entailed wins."""

    method: Literal["zero_shot"] = "zero_shot"
    model: str = Field(description="an NLI model's Hub id or local folder")
    hypothesis_template: str = Field("This example is {}.", description="the NLI hypothesis; {} is the label")
    multi_label: bool = Field(False, description="score each label on its own (entailment vs contradiction)")
    threshold: float = Field(
        0.5, gt=0, le=1, description="labels_per_row: many: a label is given when its entailment probability reaches it"
    )
    top_k: int | None = Field(None, ge=1, description="labels_per_row: many: at most this many labels per row")

    @field_validator("hypothesis_template")
    @classmethod
    def _placeholder(cls, value: str) -> str:
        if "{}" not in value:
            raise ValueError("must contain {} where the label goes")
        return value


class EmbeddingModel(_ModelRun):
    """Cosine similarity of sentence embeddings to each label's name, description and examples."""

    method: Literal["embedding"] = "embedding"
    model: str | None = Field(None, description="a Hub id or a local folder; default all-MiniLM-L6-v2")
    quantize: Literal["auto", "bf16", "int8"] | None = Field(
        "auto", description="narrower arithmetic than fp32: bf16 (the whole model) or int8 (its linear layers, CPU "
        "only); auto: bf16 on a CPU with AMX or AVX512-BF16, else int8 on a CPU, fp32 on a GPU; null: fp32"
    )
    descriptions: dict[str, str | list[str]] = Field(
        default_factory=dict, description="a sentence or keywords per label, embedded with the name"
    )
    examples: str | None = Field(
        None, description="a CSV/JSONL of labelled rows (text, label) beside the recipe; class prototypes"
    )
    temperature: float | None = Field(
        None, gt=0, description="softmax temperature over cosine similarities; fitted when not set"
    )
    refine: bool = Field(True, description="relabel with a classifier trained on the confident rows")

    @model_validator(mode="after")
    def _int8_on_cpu(self) -> EmbeddingModel:
        if self.quantize == "int8" and self.device not in ("cpu", "auto"):
            raise ValueError(f"quantize: int8 runs on the CPU only, not on device {self.device!r}; "
                             "leave quantize out (auto) or set it to null")
        return self


#: What separates several labels in an annotations ``labels`` field when ``label_delimiter`` is not set.
MANY_DELIMITER = ";"


def _labels_required(cfg: Any, method: str) -> None:
    if not cfg.labels:
        raise ValueError(f"method {method} needs labels: the ClassLabel names, e.g. labels: [spam, ham]")


def _one_or_many(cfg: Any, method: str) -> None:
    """What ``labels_per_row: many`` works with, and the keys that only it reads."""
    if cfg.labels_per_row == "one":
        only_many = [key for key, default in (("threshold", 0.5), ("top_k", None), ("label_delimiter", None))
                     if getattr(cfg, key, default) != default]
        if only_many:
            verb = "apply" if len(only_many) > 1 else "applies"
            raise ValueError(f"{' and '.join(only_many)} {verb} to several labels per row: set labels_per_row: many")
        return
    if method == "kmeans":
        raise ValueError("method kmeans gives one label per row (a row is in one cluster); "
                         "labels_per_row: many works with column, zero_shot, embedding and manual")
    if getattr(cfg, "ask", 0):
        raise ValueError("ask is not built for labels_per_row: many yet (it chooses rows for one label each)")
    delimiter = cfg.label_delimiter or (MANY_DELIMITER if method != "column" else None)
    clashing = [name for name in cfg.labels or [] if delimiter and delimiter in name]
    if clashing:
        raise ValueError(f"label {clashing[0]!r} holds the label delimiter {delimiter!r}, which separates several "
                         "labels: set label_delimiter to a character no label holds")


def _descriptions_known(cfg: EmbeddingLabel) -> None:
    unknown = sorted(set(cfg.descriptions) - set(cfg.labels or []))
    if unknown:
        raise ValueError(f"descriptions name labels that are not in labels: {unknown}")


class ColumnLabel(_Names):
    """Labels from a column of the input."""

    method: Literal["column"] = "column"
    column: str = Field("label", description="the column holding the labels")
    @model_validator(mode="after")
    def _delimiter(self) -> ColumnLabel:
        _one_or_many(self, "column")
        return self


class ZeroShotLabel(ZeroShotModel, _Names, _ByPeople):
    """Labels from a zero-shot NLI model (``transformers.pipeline("zero-shot-classification")``)."""

    @model_validator(mode="after")
    def _needs(self) -> ZeroShotLabel:
        _labels_required(self, "zero_shot")
        _one_or_many(self, "zero_shot")
        if self.labels_per_row == "many" and "multi_label" in self.model_fields_set and not self.multi_label:
            raise ValueError("multi_label: false makes the labels compete for one row; labels_per_row: many scores "
                             "each label on its own: leave multi_label out")
        return self


class EmbeddingLabel(EmbeddingModel, _Names, _ByPeople):
    """Labels from embedding similarity, refined by a classifier on the confident rows."""

    @model_validator(mode="after")
    def _needs(self) -> EmbeddingLabel:
        _labels_required(self, "embedding")
        _descriptions_known(self)
        _one_or_many(self, "embedding")
        return self


class KMeansLabel(_ModelRun, _Names, _ByPeople):
    """KMeans clusters that a person names once (``cluster_names``); later builds reuse the names."""

    method: Literal["kmeans"] = "kmeans"
    model: str | None = Field(None, description="features: embedding: a Hub id or a local folder; default all-MiniLM-L6-v2")
    quantize: Literal["bf16", "int8"] | None = Field(
        None, description="features: embedding: bf16 or int8 arithmetic (see method embedding); null: fp32, so that "
        "named clusters keep their vectors"
    )
    kmeans: KMeansOptions = Field(default_factory=KMeansOptions)
    cluster_names: str | None = Field(
        None, description="the mapping cluster id -> label name | drop, a YAML file beside the recipe"
    )
    refine: bool | None = Field(
        None, description="once the clusters are named, relabel with a classifier trained on each named "
        "cluster's most central rows and on people's labels (it fixes rows at cluster borders); "
        "default: on with features: embedding",
    )

    @model_validator(mode="after")
    def _one_label(self) -> KMeansLabel:
        _one_or_many(self, "kmeans")
        return self


def _suggest_shorthand(value: Any) -> Any:
    return {"method": value} if isinstance(value, str) else value


class ManualLabel(_Names, _ByPeople):
    """Labels that people give (annotations files, Label Studio, the review page)."""

    method: Literal["manual"] = "manual"
    suggest: Annotated[ZeroShotModel | EmbeddingModel, Field(discriminator="method")] | None = Field(
        None, description="a model whose label and score go with each task as a suggestion "
        "({method: zero_shot, model: ...} or {method: embedding}; `suggest: embedding` for short)",
    )

    @field_validator("suggest", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _suggest_shorthand(value)

    @model_validator(mode="after")
    def _needs(self) -> ManualLabel:
        _labels_required(self, "manual")
        _one_or_many(self, "manual")
        if self.ask and self.suggest is None:
            raise ValueError("ask needs a model to choose rows with: set suggest (e.g. suggest: embedding)")
        if isinstance(self.suggest, EmbeddingModel):
            unknown = sorted(set(self.suggest.descriptions) - set(self.labels or []))
            if unknown:
                raise ValueError(f"suggest.descriptions name labels that are not in labels: {unknown}")
        return self


def annotation_files(label: Any) -> list[str] | None:
    """The human-label files a label section reads, in order; None for a method that takes none (column)."""
    return label.annotation_files() if isinstance(label, _ByPeople) else None


LABEL_METHODS = ("column", "zero_shot", "embedding", "kmeans", "manual")
SPLIT_METHODS = ("stratified", "random", "time", "group")


def _method_of(default: str) -> Any:
    def method(value: Any) -> str:
        found = value.get("method", default) if isinstance(value, dict) else getattr(value, "method", default)
        return found if isinstance(found, str) else repr(found)

    return method


Label = Annotated[
    Annotated[ColumnLabel, Tag("column")] | Annotated[ZeroShotLabel, Tag("zero_shot")]
    | Annotated[EmbeddingLabel, Tag("embedding")] | Annotated[KMeansLabel, Tag("kmeans")]
    | Annotated[ManualLabel, Tag("manual")],
    Discriminator(_method_of("column")),
]
"""Where labels come from: one model per ``method``; ``labels`` fixes the ClassLabel names and order."""


_DAYS = re.compile(r"^\s*(\d+)\s*d?\s*$")


class _SplitShares(_Section):
    fractions: dict[Literal["train", "validation", "test"], float] = Field(
        default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1},
        description="shares of train, validation and test; a 0 share leaves the split out",
    )

    @model_validator(mode="after")
    def _fractions(self) -> _SplitShares:
        if "train" not in self.fractions or self.fractions["train"] <= 0:
            raise ValueError(f"fractions must give train a share above 0; got {self.fractions}")
        if any(v < 0 for v in self.fractions.values()):
            raise ValueError(f"fractions must not be negative; got {self.fractions}")
        total = sum(self.fractions.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"fractions must add up to 1; got {self.fractions} (sum {total:g})")
        return self


class StratifiedSplit(_SplitShares):
    """Every class in every split at its share (a per-class allocation)."""

    method: Literal["stratified"] = "stratified"
    rare_classes: Literal["error", "train_only"] = Field(
        "error",
        description="a class too small to reach every split: fail the build, or keep it in train only",
    )


class RandomSplit(_SplitShares):
    """Rows shuffled with the seed, then cut at the fractions."""

    method: Literal["random"] = "random"


class TimeSplit(_SplitShares):
    """Rows in time order: the later splits get the later rows."""

    method: Literal["time"] = "time"
    time_column: str = Field("date", description="the column of dates (ISO 8601 strings or dates)")
    cutoffs: dict[Literal["validation", "test"], date] | None = Field(
        None, description="the date each later split starts; default: fractions in time order"
    )
    embargo: int = Field(0, ge=0, description="days after each cut whose rows are dropped (7 or '7d')")
    undated: Literal["train", "drop", "error"] = Field("error", description="where rows without a date go")

    @field_validator("embargo", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _DAYS.match(value)
            if not match:
                raise ValueError("a number of days, such as 7 or 7d")
            return int(match.group(1))
        return value

    @model_validator(mode="after")
    def _cutoffs(self) -> TimeSplit:
        if self.cutoffs and "validation" in self.cutoffs and "test" in self.cutoffs:
            if self.cutoffs["test"] <= self.cutoffs["validation"]:
                raise ValueError(f"cutoffs: test must start after validation; got {self.cutoffs}")
        return self


class GroupSplit(_SplitShares):
    """Groups (a column's values, or near-duplicate clusters) never cross splits."""

    method: Literal["group"] = "group"
    group_column: str | None = Field(None, description="rows with the same value stay in one split")
    group_by: Literal["column", "near_duplicates"] = Field(
        "column", description="the group_column, or near-duplicate clusters at group_threshold"
    )
    group_threshold: float = Field(
        0.5, gt=0, le=1, description="Jaccard of word n-grams (dedup.near's) that joins two rows"
    )

    @model_validator(mode="after")
    def _column(self) -> GroupSplit:
        if self.group_by == "column" and not self.group_column:
            raise ValueError("method group needs group_column, or group_by: near_duplicates")
        return self


Split = Annotated[
    Annotated[StratifiedSplit, Tag("stratified")] | Annotated[RandomSplit, Tag("random")]
    | Annotated[TimeSplit, Tag("time")] | Annotated[GroupSplit, Tag("group")],
    Discriminator(_method_of("stratified")),
]
"""Train/validation/test split: one model per ``method``."""


class Leakage(_Section):
    """After splitting: validation and test rows that copy or nearly copy a train row."""

    enabled: bool = True
    threshold: float = Field(0.5, gt=0, le=1, description="Jaccard of word n-grams (dedup.near's) counted as leaked")
    embedding: bool = Field(False, description="also compare embeddings (the label model or all-MiniLM-L6-v2)")
    embedding_threshold: float = Field(0.95, gt=0, le=1, description="cosine similarity counted as leaked")
    action: Literal["report", "drop", "fail"] = "report"
    examples: int = Field(3, ge=0, le=50, description="leaked pairs shown in the card")


class Augment(_Section):
    """New texts for minority classes by word-level edits (synonyms from a shipped lexicon)."""

    operations: list[Literal["synonym", "swap", "delete", "insert"]] = Field(
        default_factory=lambda: ["synonym", "swap", "delete", "insert"], min_length=1
    )
    rate: float = Field(0.1, gt=0, le=0.5, description="share of a text's words each edit touches (at least one)")
    lexicon: str | None = Field(
        None, description="a TSV of word<TAB>synonym,synonym beside the recipe (added to the shipped one)"
    )


class Balance(_Section):
    """Class balancing of train only, after splitting: validation and test are never touched."""

    method: Literal["none", "oversample", "undersample", "augment"] = "none"
    target: Literal["max", "median", "min"] | int = Field(
        "max", description="rows per class: max | median | min | a count (undersample caps, the others fill)"
    )
    diverse: bool = Field(True, description="undersample: keep rows spread over TF-IDF clusters of each class")
    augment: Augment = Field(default_factory=Augment)

    @field_validator("target")
    @classmethod
    def _positive(cls, value: Any) -> Any:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"target must be max, median, min or a count of at least 1; got {value}")
        return value


class Report(_Section):
    """The quality report: size, balance, noise, diversity, a baseline model and label noise."""

    examples_per_reason: int = Field(3, ge=0, description="dropped examples shown in the card per reason")
    tokenizer: str | None = Field(None, description="tokens are counted with it (default all-MiniLM-L6-v2's); none: off")
    baseline: bool = Field(True, description="TF-IDF + logistic regression, cross-validated on train")
    embedding_baseline: bool = Field(False, description="also logistic regression on frozen sentence embeddings")
    cv_folds: int = Field(5, ge=2, le=20)
    label_noise: bool = Field(True, description="confident learning on out-of-fold probabilities")
    diversity_sample: int = Field(300, ge=0, description="rows embedded for the semantic diversity figures (0: off)")
    lexical_sample: int = Field(10_000, ge=1, description="rows (seeded sample) for distinct-n, vocabulary and MATTR")
    # 1,000 rather than 10,000: tokenizing is most of the size figure's cost (about 1,300 of the
    # scale benchmark's 2 KB documents a second, on each split). On 10,000 of them, over 20 seeds,
    # the estimate from 1,000 rows was 0.22% off the exact count on average (0.64% at worst; 2,000
    # rows: 0.17% and 0.54%).
    token_sample: int = Field(
        1_000, ge=1, description="splits larger than this get their tokens estimated from a seeded sample of this many rows"
    )
    max_model_rows: int = Field(
        8_000, ge=10,
        description="rows (seeded, stratified sample) per split for the baseline and the label-noise estimate",
    )
    # 2.5 million characters: SMS spam (0.45 M) and AG News's test set (1.8 M) in, where the
    # character model costs seconds (AG News: about 13 s on one core, 7 s on two); a build's
    # 8,000 rows a split of 2 KB documents (50 M) out, where it would cost minutes.
    label_noise_characters: int = Field(
        2_500_000, ge=0,
        description="a character 3-5-gram model joins the words' for the label-noise estimate when the rows "
                    "it reads hold at most this many characters (0: words only)",
    )
    plots: bool = Field(True, description="PNG plots in images/ (matplotlib, Agg)")


class Execution(_Section):
    """Where the map steps run: this machine, or a Ray cluster. The output does not depend on it."""

    engine: Literal["local", "ray"] = Field(
        "local", description="local: Dataset.map in processes; ray: ray.data map_batches (pip install 'hf_ftbuilder[ray]')"
    )
    address: str = Field(
        "local", description="ray only: local starts a cluster here; auto joins this machine's; or ray://host:port"
    )
    num_cpus: int | None = Field(None, ge=1, description="processes (local), or CPUs of a local Ray cluster and actors per model step (default: every core)")

    @model_validator(mode="after")
    def _address_needs_ray(self) -> Execution:
        if self.engine == "local" and self.address != "local":
            raise ValueError(f"address is for engine: ray; got address={self.address!r} with engine: local")
        return self


class Card(_Section):
    """Metadata of the dataset card."""

    pretty_name: str | None = None
    description: str | None = None
    license: str | None = None
    language: list[str] = Field(default_factory=list)
    task_categories: list[str] = Field(default_factory=lambda: ["text-classification"])
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="any other Hub card field (tags, task_ids, source_datasets, annotations_creators, "
        "extra_gated_prompt, ...), written under the fields the build computes",
    )
    template: str | None = Field(None, description="a Jinja card template, relative to the recipe")

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_metadata(value)

    @model_validator(mode="after")
    def _hub_metadata(self) -> Card:
        if self.license is not None and self.license not in known_licenses():
            raise ValueError(f"license {self.license!r} is not a Hub licence id (e.g. cc-by-4.0, mit, apache-2.0, other)")
        unknown = [code for code in self.language if code not in known_languages()]
        if unknown:
            raise ValueError(f"language: {unknown} are not language codes the Hub knows (e.g. en, fr, de)")
        return self


class Output(_Section):
    """Where and how the dataset is written."""

    dir: str | None = Field(None, description="default build/<name>, relative to the working directory")
    overwrite: bool = False
    shard_rows: int = Field(100_000, ge=1)
    write_dropped: bool = True


class Recipe(_Section):
    """A whole build recipe (the YAML file)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    seed: int = 42
    cache_dir: str | None = Field(None, description="default .ftbuild/<name>/ beside the recipe")
    sources: list[Source] = Field(min_length=1)
    collect: Collect = Field(default_factory=Collect)
    fetch: Fetch = Field(default_factory=Fetch)
    extract: Extract = Field(default_factory=Extract)
    clean: Clean = Field(default_factory=Clean)
    dedup: Dedup = Field(default_factory=Dedup)
    label: Label | None = None
    split: Split = Field(default_factory=StratifiedSplit)
    leakage: Leakage = Field(default_factory=Leakage)
    balance: Balance = Field(default_factory=Balance)
    report: Report = Field(default_factory=Report)
    card: Card = Field(default_factory=Card)
    output: Output = Field(default_factory=Output)
    execution: Execution = Field(default_factory=Execution)

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @model_validator(mode="after")
    def _balance_many(self) -> Recipe:
        if self.label is not None and self.label.labels_per_row == "many" and self.balance.method in ("undersample",
                                                                                                     "augment"):
            raise ValueError(f"balance.method: {self.balance.method} keeps or makes rows per class and a row with "
                             "several labels is in several classes; with labels_per_row: many use oversample")
        return self

    @property
    def base_dir(self) -> Path:
        """The recipe's folder; source paths are relative to it."""
        return self._base_dir

    def with_base_dir(self, base_dir: str | Path) -> Recipe:
        """A copy whose relative source paths resolve against ``base_dir``."""
        new = self.model_copy()
        new._base_dir = Path(base_dir).resolve()
        return new

    def output_dir(self) -> Path:
        """The output folder (``output.dir`` or ``build/<name>``), relative to the working dir."""
        return Path(self.output.dir) if self.output.dir else Path("build") / self.name

    def resolved_cache_dir(self) -> Path:
        """Where state that outlives a build lives (fetch and embedding caches)."""
        if self.cache_dir:
            return self.base_dir / self.cache_dir
        return self.base_dir / ".ftbuild" / self.name

    def to_yaml(self) -> str:
        """The recipe with every default filled in, as YAML."""
        data = _without_late_defaults(_tags_first(self.model_dump(mode="json")))
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    def to_build_yaml(self, inputs: dict[str, str]) -> str:
        """The resolved recipe a build writes beside its card as ``recipe.yaml``.

        Every default is filled in and paths stay as the recipe wrote them (relative to its folder),
        so the file rebuilds the same data files and card when placed where the recipe was. Left
        out: where this machine writes and caches (``output.dir``, ``overwrite``, ``cache_dir``)
        and how it runs (``execution``), none of which changes the output; credentials in URLs are
        replaced by ``***``. A comment lists each input's sha256.

        Args:
            inputs: input path (relative to the recipe) -> sha256, as collect measured them.
        """
        data = self.model_dump(mode="json", exclude={"cache_dir": True, "execution": True,
                                                     "output": {"dir", "overwrite"}})
        data = _without_late_defaults(_tags_first(_without_secrets(data)))
        files = dict(inputs)
        for path in self.referenced_files():
            full = self.base_dir / path
            if full.is_file():
                files.setdefault(path, file_sha256(full))
        lines = [
            f"# The resolved recipe of {self.name} (hf_ftbuilder {__version__}): every default filled in.",
            "# Placed where the original recipe was, `ftbuild build recipe.yaml` rebuilds this dataset.",
        ]
        if files:
            lines.append("# Inputs, relative to the recipe's folder, with their sha256:")
            lines.extend(f"#   {path}  {digest}" for path, digest in sorted(files.items()))
        body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        return "\n".join(lines) + "\n" + body

    def referenced_files(self) -> list[str]:
        """Files beside the recipe that its stages read (annotations, cluster names, examples, ...)."""
        label = self.label
        paths = [getattr(label, key, None) for key in ("cluster_names", "examples")]
        paths += annotation_files(label) or []
        if isinstance(label, ManualLabel) and isinstance(label.suggest, EmbeddingModel):
            paths.append(label.suggest.examples)
        paths += [self.balance.augment.lexicon, self.card.template]
        return [p for p in paths if p]


#: Label keys added after builds were published, left out of a resolved recipe while they hold
#: their default: the recipe.yaml of an earlier build's recipe stays byte for byte what it was.
_LATE_DEFAULTS = {"labels_per_row": "one", "label_delimiter": None, "threshold": 0.5, "top_k": None}


def _without_late_defaults(data: dict[str, Any]) -> dict[str, Any]:
    label = data.get("label")
    for section in (label, (label or {}).get("suggest")):
        if not isinstance(section, dict):
            continue
        for key, default in _LATE_DEFAULTS.items():
            if key in section and section[key] == default:
                del section[key]
        if section.get("method") == "kmeans" and section.get("refine") is None:
            del section["refine"]
    return data


def _tags_first(data: dict[str, Any]) -> dict[str, Any]:
    """A dumped recipe with each union's tag first: a source reads best with its type, a label or
    split section with its method, at the top."""
    def first(section: dict[str, Any], tag: str) -> dict[str, Any]:
        return {tag: section[tag], **section}

    data["sources"] = [first(src, "type") for src in data["sources"]]
    data["dedup"]["against"] = [first(src, "type") for src in data["dedup"]["against"]]
    data["split"] = first(data["split"], "method")
    if data.get("label"):
        data["label"] = first(data["label"], "method")
        if data["label"].get("suggest"):
            data["label"]["suggest"] = first(data["label"]["suggest"], "method")
    return data


_URL_CREDENTIALS = re.compile(r"(?i)(https?://)[^/@\s]+@")
_SECRET_QUERY = re.compile(r"(?i)([?&](?:token|access_token|api_key|apikey|key|secret|password|sig|signature)=)[^&#\s]+")


def _without_secrets(value: Any) -> Any:
    """The value with user:password@ and token-like query parameters of URLs replaced by ``***``."""
    if isinstance(value, str):
        return _SECRET_QUERY.sub(r"\1***", _URL_CREDENTIALS.sub(r"\1***@", value))
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items()}
    return value


#: The tagged unions of the recipe: the key that holds one, and its tags.
_TAGGED = {"label": LABEL_METHODS, "split": SPLIT_METHODS, "suggest": ("zero_shot", "embedding")}


def _key_path(loc: tuple[Any, ...]) -> tuple[str, str | None]:
    """The key path of an error's location without the union tags pydantic puts in it
    (``sources.0.csv.path``, ``label.zero_shot.model``), and the innermost tag it dropped."""
    parts: list[str] = []
    tag = None
    for i, part in enumerate(loc):
        if isinstance(part, int):
            parts.append(f"[{part}]")
            continue
        before = loc[i - 1] if i > 0 else None
        if isinstance(before, int) and part in SOURCE_TYPES or part in _TAGGED.get(before, ()):  # type: ignore[arg-type]
            tag = f"{'source type' if isinstance(before, int) else before + ' method'} {part}"
            continue
        parts.append(part if not parts else f".{part}")
    return "".join(parts) or "<recipe>", tag


def _error_line(err: dict[str, Any]) -> str:
    path, tag = _key_path(err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden" and tag:
        msg = f"not a key of {tag}"
    if err["type"] == "missing":
        return f"{path}: {msg.lower()}"
    found = err.get("input")
    if err["type"] == "union_tag_invalid":
        ctx = err.get("ctx", {})
        found = ctx.get("tag", found)
        if not str(ctx.get("discriminator", "")).startswith("'"):  # a method chosen by function (label, split)
            return f"{path}.method: unknown method (got {found!r}); expected one of {ctx.get('expected_tags')}"
    elif isinstance(found, (dict, list)) and err["type"] != "extra_forbidden":
        return f"{path}: {msg}"
    return f"{path}: {msg} (got {found!r})"


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``dedup.treshold: Extra inputs are not permitted (got 0.8)``."""
    return "; ".join(_error_line(e) for e in exc.errors())


def parse_config(data: Any, base_dir: str | Path | None = None) -> Recipe:
    """Validate a recipe given as a mapping (the parsed YAML).

    Raises:
        ConfigError: naming each key path that fails, with the value found.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"a recipe must be a mapping of keys; got {type(data).__name__}")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    return recipe.with_base_dir(base_dir if base_dir is not None else Path.cwd())


#: A recipe is a page of YAML; a file larger than this is not one (and is not read further).
MAX_RECIPE_BYTES = 1_000_000
#: YAML aliases in one recipe: a few reuse a source or a section; thousands nest into a
#: billion-laughs document that takes validation exponential time.
MAX_ALIASES = 100


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, first: yaml.Mark, again: yaml.Mark) -> None:
        super().__init__(f"key {key!r} given twice (lines {first.line + 1} and {again.line + 1})")
        self.problem = str(self)
        self.problem_mark = again


class _RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader (no tags that build objects) that refuses what a recipe must not hold:
    a key given twice in one mapping (YAML says keys are unique; PyYAML keeps the last silently),
    and more than ``MAX_ALIASES`` aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases (*name); write the values out")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool, type(None))):
                continue  # left to the base loader, which refuses an unhashable key
            if key in seen:
                raise _DuplicateKey(key, seen[key], key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def load_config(path: str | Path) -> Recipe:
    """Read and validate a YAML recipe.

    Args:
        path: the recipe file. Its folder becomes the base of relative source paths.

    Returns:
        The validated :class:`Recipe`.

    Raises:
        ConfigError: the file is missing, is not YAML, or a key fails validation.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_RECIPE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"recipe not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read recipe {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_RECIPE_BYTES:
        raise ConfigError(f"recipe {path} is larger than {MAX_RECIPE_BYTES:,} bytes; is it a recipe?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read recipe {path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        data = yaml.load(text, Loader=_RecipeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if isinstance(exc, _DuplicateKey):
            where = str(path)
        raise ConfigError(f"{where}: not valid YAML ({problem})") from None
    try:
        return parse_config(data, base_dir=path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def stage_index(name: str) -> int:
    """Position of a stage in :data:`STAGES`; raises ConfigError for an unknown name."""
    if name not in STAGES:
        raise ConfigError(f"unknown stage {name!r}; expected one of {', '.join(STAGES)}")
    return STAGES.index(name)


