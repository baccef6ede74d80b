"""The dataset card: YAML metadata that ``load_dataset`` and the Hub read, and a readable body.

The body comes from a Jinja template (``cards/dataset_card.md``, shipped in the wheel as
``hf_ftbuilder.cards``, or the recipe's ``card.template``); ``huggingface_hub.DatasetCard``
renders it and writes the YAML header.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from datasets import Features
from huggingface_hub import DatasetCard, DatasetCardData
from jinja2 import Template, TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from jinja2.utils import missing

from . import schema
from .errors import ConfigError
from .hub_metadata import annotations_creators, size_category

__all__ = ["DEFAULT_TEMPLATE", "compile_template", "render_card", "template_text"]

DEFAULT_TEMPLATE = "dataset_card.md"

_COLUMN_DOCS = {
    schema.ID: "stable row id: sha256 of the row's origin (source, file, row), 16 hex digits",
    schema.TEXT: "the cleaned text",
    schema.SOURCE: "where the row came from: `<type>:<path or host>`",
    schema.LABEL: "the class",
    schema.LABELS: "the classes: several labels per row (`labels_per_row: many`), in the order of the names",
    schema.LABEL_SCORE: "confidence of a model-given label (empty for labels taken from a column); with several "
    "labels per row, one per label",
    schema.LABEL_SOURCE: "how the label was given: `column:<name>`, `zero_shot:<model>`, `embedding:<model>`, `cluster:<id>` or `human`",
    schema.URL: "the page's URL (after redirects)",
    schema.TITLE: "the page's title",
    schema.DATE: "the page's date",
    schema.LANGUAGE: "language code of the page",
    schema.FETCHED_AT: "when the page was fetched (UTC; the WARC date for WARC records)",
    schema.FILE: "the input file, relative to its source folder",
    schema.AUTHOR: "the page's author, as the page states it",
    schema.SITENAME: "the site's name, as the page states it",
    schema.HTTP_STATUS: "HTTP status of the fetched page",
    schema.LASTMOD: "the page's lastmod in its sitemap",
    schema.DUP_CLUSTER: "id of the kept row of this row's duplicate group (empty when it had none)",
    schema.DUP_COUNT: "rows in the duplicate group, this one included",
    schema.AUGMENTED_FROM: "for rows balancing added to train: the id of the row they copy or were made from",
}


#: A card template is text a person writes; a larger file is not one.
MAX_TEMPLATE_BYTES = 1_000_000


def template_text(path: Path | None = None) -> str:
    """A card template: the file at ``path``, or the default one shipped in the package.

    Raises:
        ConfigError: the file is missing, is not UTF-8 text, or is larger than ``MAX_TEMPLATE_BYTES``.
    """
    if path is None:
        return resources.files("hf_ftbuilder.cards").joinpath(DEFAULT_TEMPLATE).read_text(encoding="utf-8")
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_TEMPLATE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"card template {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_TEMPLATE_BYTES:
        raise ConfigError(f"card template {path}: larger than {MAX_TEMPLATE_BYTES:,} bytes; is it a template?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"card template {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


class _KnownNamesOnly(Undefined):
    """A name the card does not define is an error; a field missing from a defined value (a figure
    this build did not make, ``q.baseline`` without a baseline) is empty, as the default template
    expects."""

    __slots__ = ()

    def _strict(self) -> None:
        if self._undefined_obj is missing:
            self._fail_with_undefined_error()

    def __str__(self) -> str:
        self._strict()
        return super().__str__()

    def __iter__(self) -> Any:
        self._strict()
        return super().__iter__()

    def __bool__(self) -> bool:
        self._strict()
        return super().__bool__()

    def __len__(self) -> int:
        self._strict()
        return super().__len__()


def _template_error(exc: TemplateError) -> ConfigError:
    where = f" at line {exc.lineno}" if getattr(exc, "lineno", None) else ""
    return ConfigError(f"card template{where}: {exc.message or type(exc).__name__}")


def compile_template(template: str | None = None) -> Template:
    """The card template (default: the shipped one), compiled for Jinja's sandbox.

    A template travels with a recipe, so it is untrusted: in a plain Jinja environment
    ``{{ cycler.__init__.__globals__.os.popen('id').read() }}`` runs a shell command. The sandbox
    refuses attributes that reach Python's internals (and caps ``range``), and a name the card
    does not define is an error rather than an empty string. Compiling is most of a card's cost
    (half a second for the shipped template), so a build compiles it while its plots are drawn.

    Raises:
        ConfigError: the template does not parse.
    """
    env = SandboxedEnvironment(keep_trailing_newline=True, undefined=_KnownNamesOnly)
    try:
        return env.from_string(template if template is not None else template_text())
    except TemplateError as exc:
        raise _template_error(exc) from None


def _render(template: Template, **values: Any) -> str:
    try:
        return template.render(**values)
    except SecurityError as exc:
        raise ConfigError(f"card template: refused an unsafe operation ({exc})") from None
    except TemplateError as exc:
        raise _template_error(exc) from None


def _type_name(feature: Any) -> str:
    if hasattr(feature, "names"):
        return "class label"
    if hasattr(getattr(feature, "feature", None), "names"):
        return "list of class labels"
    if hasattr(feature, "feature"):
        return f"list of {_type_name(feature.feature)}"
    return str(getattr(feature, "dtype", type(feature).__name__))


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: What each PII detector finds, in the card's words.
_PII_KINDS = {"email": "e-mail addresses", "phone": "phone numbers", "ip": "IP addresses",
              "card": "payment card numbers (Luhn-checked)", "iban": "IBANs (mod-97-checked)"}
_PII_ACTIONS = {"redact": "replaced each match with a typed placeholder such as `<EMAIL>`",
                "drop": "removed every row that had a match", "keep": "counted the matches and left them in the text"}


def render_card(
    quality: dict[str, Any],
    *,
    features: Features,
    split_info: dict[str, dict[str, int]],
    template: str | Template | None = None,
) -> DatasetCard:
    """Build the card from ``quality.json`` alone, so ``ftbuild card`` can redo it without a rebuild.

    Args:
        quality: the ``quality.json`` content; its ``card`` section holds the recipe's name, seed,
            card metadata and package versions, ``examples`` a few removed rows per reason and
            ``images`` the plots' relative paths.
        features: the features of the written splits.
        split_info: per split ``num_examples``, ``num_bytes`` and ``download_size`` as written.
        template: the Jinja template text (default: the shipped one), or :func:`compile_template`'s
            result; rendered in Jinja's sandbox.

    Returns:
        The rendered ``DatasetCard``; ``card.save(path)`` writes it.

    Raises:
        ConfigError: the template does not render, or tries what the sandbox refuses.
    """
    meta = quality["card"]["metadata"]
    name = quality["card"]["name"]
    total = sum(info["num_examples"] for info in split_info.values())
    dataset_info = {
        "features": features._to_yaml_list(),
        "splits": [
            {"name": split, "num_bytes": info["num_bytes"], "num_examples": info["num_examples"]}
            for split, info in split_info.items()
        ],
        "download_size": sum(info["download_size"] for info in split_info.values()),
        "dataset_size": sum(info["num_bytes"] for info in split_info.values()),
    }
    configs = [
        {"config_name": "default", "data_files": [{"split": split, "path": f"data/{split}-*"} for split in split_info]}
    ]
    labels = quality.get("labels", {})
    # The recipe's own card fields (tags, task_ids, gating, ...) first; the fields the build
    # computes cannot be among them (the recipe is checked), so they are written as computed.
    extra = dict(meta.get("metadata") or {})
    if "annotations_creators" not in extra and "label_provenance" in quality:
        extra["annotations_creators"] = annotations_creators(list(quality["label_provenance"]["sources"]))
    card_data = DatasetCardData(
        language=meta.get("language") or None,
        license=meta.get("license"),
        task_categories=meta.get("task_categories") or None,
        size_categories=[size_category(total)],
        pretty_name=meta.get("pretty_name") or name,
        configs=configs,
        dataset_info=dataset_info,
        **extra,
    )
    columns = [
        {"name": col, "type": _type_name(feature), "doc": _COLUMN_DOCS.get(col, "passed through from the input")}
        for col, feature in features.items()
    ]
    stage = {s["name"]: s for s in quality["stages"]}
    split_stage = stage.get("split")
    label_stage = stage.get("label")
    rare = split_stage.get("details", {}).get("rare_classes_train_only", {}) if split_stage else {}
    examples = quality.get("examples", {})
    cleaning = stage["clean"].get("details") if "clean" in stage else None
    pii = (cleaning or {}).get("pii")
    values = {
        **card_data.to_dict(),
        "card_data": card_data.to_yaml(),
        "title": meta.get("pretty_name") or name,
        "description": meta.get("description"),
        "name": name,
        # The snippet loads the folder by its default name (build/<name>): not the path this build
        # was written to, so that where a build goes never changes its card. `ftbuild push` puts
        # the repo id there.
        "load_path": name,
        "seed": quality["card"]["seed"],
        "versions": quality["card"].get("versions", {}),
        "fingerprint": quality["recipe_fingerprint"],
        "label_names": labels.get("names", []),
        "many": labels.get("per_row") == "many",
        "label_shares": labels.get("shares", {}),
        "splits": [{"name": split, **entry} for split, entry in quality["splits"].items()],
        "total_rows": total,
        "rare_classes": rare,
        "until": quality.get("until"),
        "peek": quality.get("peek"),
        "sources": stage["collect"]["details"]["sources"],
        "stages": quality["stages"],
        "examples": {
            r: [{**row, "text": _short(row["text"] or ""), "snippet": _short(row["text"] or "", 40)} for row in rows]
            for r, rows in examples.items()
        },
        "cleaning": cleaning,
        "pii": {
            "searched": [_PII_KINDS.get(kind, kind) for kind in pii["matches"]],
            "matches": {_PII_KINDS.get(kind, kind).split(" (")[0]: n for kind, n in pii["matches"].items()},
            "rows": pii["rows"], "action": pii["action"], "did": _PII_ACTIONS.get(pii["action"], pii["action"]),
        } if pii else None,
        "dedup": stage["dedup"].get("details") if "dedup" in stage else None,
        "labelling": label_stage.get("details") if label_stage else None,
        "review": {r: c for r, c in (label_stage or {}).get("dropped", {}).items() if r in schema.REVIEW_REASONS},
        "split": split_stage.get("details") if split_stage else None,
        "leakage": quality.get("leakage"),
        "balance": quality.get("balance"),
        "q": quality,
        "images": quality.get("images", {}),
        "left_out": quality.get("left_out", {}),
        "columns": columns,
    }
    compiled = template if isinstance(template, Template) else compile_template(template or None)
    return DatasetCard(_render(compiled, **values))
