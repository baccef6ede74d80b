"""Column names of the datasets that flow between stages, in one place."""

from __future__ import annotations

# Core columns every output split has, in this order.
ID = "id"
TEXT = "text"
SOURCE = "source"
LABEL = "label"
LABELS = "labels"  # instead of ``label`` with label.labels_per_row: many: a list of ClassLabel indices
LABEL_SCORE = "label_score"
LABEL_SOURCE = "label_source"
CORE_COLUMNS = (ID, TEXT, SOURCE, LABEL, LABELS, LABEL_SCORE, LABEL_SOURCE)

# Provenance columns, present when a source produces them (null where unknown).
URL = "url"
TITLE = "title"
DATE = "date"
LANGUAGE = "language"
FETCHED_AT = "fetched_at"
FILE = "file"
AUTHOR = "author"
SITENAME = "sitename"
HTTP_STATUS = "http_status"
LASTMOD = "lastmod"
PROVENANCE_COLUMNS = (URL, TITLE, AUTHOR, DATE, SITENAME, LANGUAGE, FETCHED_AT, HTTP_STATUS, LASTMOD, FILE)

# Columns later stages add.
DUP_CLUSTER = "dup_cluster"
DUP_COUNT = "dup_count"
AUGMENTED_FROM = "augmented_from"
STAGE_COLUMNS = (DUP_CLUSTER, DUP_COUNT, AUGMENTED_FROM)

# Working columns: raw HTML between collect and extract; why a row is dropped.
HTML = "html"
DROP_REASON = "drop_reason"
DUP_OF = "dup_of"
SIMILARITY = "similarity"
# What a fingerprint map gives per row: the hash of the normalised text, the MinHash signature.
TEXT_HASH = "_text_hash"
MINHASH = "_minhash"
# What the clean passes carry between steps: the normalisers that changed a row, the PII types
# found in it, the hashes of its lines (for the corpus-wide boilerplate count).
TOUCHED = "_touched"
PII_FOUND = "_pii"
LINE_HASHES = "_line_hashes"
# The report's per-row counts and the embedder's vectors.
CHARS = "_chars"
WORDS = "_words"
TOKENS = "_tokens"
VECTOR = "_vector"

# Set by a reader on a row it did not read because it is longer than collect.max_row_chars; the
# collect stage turns it into drop_reason too_long_row (a name no input uses, so never renamed).
TOO_LONG = "__ftbuild_too_long__"

# A file source's columns of these names fill the project's columns as they are (or the columns
# its ``<name>_column`` keys name do); web, WARC and extraction fill them for pages.
FILE_METADATA_COLUMNS = (DATE, URL, TITLE, AUTHOR, LANGUAGE)

# An input column with one of these names is kept as ``source_<name>`` unless it is the
# configured text or label column: the project itself fills these.
RESERVED = (ID, TEXT, SOURCE, LABEL, LABEL_SCORE, LABEL_SOURCE, *STAGE_COLUMNS, HTML, DROP_REASON, DUP_OF,
            SIMILARITY)
RENAMED_PREFIX = "source_"

SPLITS = ("train", "validation", "test")

# Why labelling sends a row to review/<reason>.parquet for a person, instead of into the dataset.
# ``no_label``: with several labels per row, a model gave the row none.
REVIEW_REASONS = ("low_confidence", "annotation_tie", "not_annotated", "no_label")


def output_order(columns: list[str]) -> list[str]:
    """The column order of an output split: core, provenance, stage columns, then pass-through."""
    known = [c for c in (*CORE_COLUMNS, *PROVENANCE_COLUMNS, *STAGE_COLUMNS) if c in columns]
    rest = [c for c in columns if c not in known]
    return known + rest
