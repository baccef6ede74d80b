"""Normalisers: each turns a text into a cleaner text and is idempotent (``f(f(x)) == f(x)``).

:func:`normalize_text` applies the ones switched on in a ``Clean`` config (as a dict) and says
which of them changed the text, so the report can count the rows each rule touched.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from typing import Any

import ftfy
import ftfy.badness
import ftfy.chardata

from .. import schema
from ..config import Clean

__all__ = ["NORMALISERS", "normalize_batch", "normalize_text"]

# HTML element names: only these count as leftover tags, so prose in angle brackets
# ("<The Palace: Tale of Jang Noksu>", a title on a Korean theatre's page) survives.
_ELEMENTS = (
    "a abbr address area article aside audio b base bdi bdo big blockquote body br button canvas caption "
    "center cite code col colgroup data datalist dd del details dfn dialog div dl dt em embed fieldset "
    "figcaption figure font footer form h1 h2 h3 h4 h5 h6 head header hr html i iframe img input ins kbd "
    "label legend li link main map mark meta meter nav noscript object ol optgroup option output p param "
    "picture pre progress q s samp script section select small source span strike strong style sub "
    "summary sup svg table tbody td template textarea tfoot th thead time title tr track tt u ul var "
    "video wbr"
).split()
_ATTRIBUTE = r"""\s+[\w:.-]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>]+))?"""
_TAG = re.compile(rf"<!--.*?-->|</?(?:{'|'.join(_ELEMENTS)})(?:{_ATTRIBUTE})*\s*/?>", re.S | re.I)
# Entities whose "&" a dump replaced by a space (" #39;", " #36;", " quot;"): AG News has 3,000+.
_NAMED = {"quot": '"', "amp": "&", "lt": "<", "gt": ">", "apos": "'", "nbsp": " "}
_BROKEN_ENTITY = re.compile(rf"(?:^| )(?:#(\d{{2,5}})|({'|'.join(_NAMED)}));", re.M)
# re tries _BROKEN_ENTITY at every position of a text ("^| " gives it no first character to look
# for). What follows the "^| " opens with one of "#qalgn", which re can skip ahead to (groups would
# hide it), so a text without it is passed quickly; one without ";" even faster.
_BROKEN_ENTITY_BODY = re.compile(rf"(?:#\d{{2,5}}|{'|'.join(_NAMED)});")
# Cc controls other than tab and newline, plus zero-width and bidi marks that render as nothing.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff]")
# Runs of whitespace within a line that are not a single space already: a run of two or more, or
# one other character (tab, no-break space). Opening with a character class, not a repeat, lets re
# skip ahead to a whitespace character; "\n\n\n+" rather than "\n{3,}" likewise.
_SPACES = re.compile(r"[^\S\n](?:[^\S\n]+|(?<=[^\S \n]))")
# _SPACES finds work exactly where a text holds two spaces in a row or whitespace other than a
# space or newline; asking that is cheaper than trying _SPACES after every space of a text.
_ODD_SPACE = re.compile(r"[^\S \n]")
_BLANK_LINES = re.compile(r"\n\n\n+")
_PUNCT = re.compile(r"[^\w\s]+")
_URL = re.compile(r"\bhttps?://[^\s<>\"']+", re.I)
_TRACKING = re.compile(r"^(?:utm_\w+|fbclid|gclid|mc_cid|mc_eid)$", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")


# Numbers that a broken " #NN;" stands for in dumps: quotes, dashes, currency and the like. Any
# other "#NN;" is ordinary text ("ranked #12; Michigan") and stays.
_BROKEN_NUMBERS = frozenset(
    {34, 36, 38, 39, 60, 62, 133, 145, 146, 147, 148, 150, 151, 160, 163, 165, 169, 174, 8211, 8212, 8216,
     8217, 8220, 8221, 8226, 8230, 8364}
)


def _entity_char(match: re.Match[str]) -> str:
    number, name = match.group(1), match.group(2)
    if name:
        return _NAMED[name]
    n = int(number)
    if n not in _BROKEN_NUMBERS:
        return match.group(0)
    if 128 <= n <= 159:  # numeric references in this range mean windows-1252, as browsers read them
        return bytes([n]).decode("cp1252")
    return chr(n)


def _unescape(text: str) -> str:
    # html.unescape is not idempotent ("&amp;lt;" -> "&lt;"): repeat until the text settles.
    for _ in range(10):
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    return text


def _html(text: str) -> str:
    for _ in range(10):
        before = text
        text = _unescape(text)
        if ";" in text and _BROKEN_ENTITY_BODY.search(text):
            text = _BROKEN_ENTITY.sub(_entity_char, text)
        if "<" in text:  # every tag and comment opens with it; str's search finds it far faster than re
            text = _TAG.sub(" ", text)
        if text == before:
            break
    return text


# The characters that ftfy (with the settings in _ftfy) never changes in a line made only of them:
# tab, \n \x0c \r, printable ASCII, and typographic punctuation (‘ ’ “ ” – — … and the no-break
# space). Its fixes other than the mojibake repair only touch characters outside this set (terminal
# escapes open with \x1b; the controls it drops are U+00-08, U+0B, U+0E-1F, U+7F and some non-ASCII
# ones; C1 controls; surrogates), and the mojibake repair changes a line only when its detector
# flags it, which every pattern of the detector needs a character outside this set for
# (tests/clean/test_fast_paths.py checks that against ftfy's own regex). So ftfy runs only on the
# lines that have any other character.
_FTFY_WORK = re.compile(r"[^\t\n\x0c\r -~\xa0\u2013\u2014\u2018\u2019\u201c\u201d\u2026]")
# Lines up to this long are remembered: the second round of normalize_text passes most lines
# through again unchanged, and repeated lines (templates, exact copies) are common.
_REMEMBERED_LINE = 5_000


# ftfy repairs mojibake ("doesnâ€™t" -> "doesn’t"); its own HTML and NFC steps are left to the
# html and unicode normalisers so each stays switchable. Made once: building it from keyword
# arguments on every call was a fifth of ftfy's time.
_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    normalization=None,
    fix_line_breaks=False,
    # Repair only: curly quotes, ligatures and full-width letters are the author's text.
    uncurl_quotes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    explain=False,
)
# What ftfy's fixers other than the mojibake repair act on, with the settings above: C1 controls
# (fix_c1_controls), surrogates (fix_surrogates), the characters remove_control_chars drops (ESC,
# where every terminal escape starts, among them).
_FTFY_FIXED_CHARS = re.compile(
    "[" + "".join(re.escape(chr(c)) for c in sorted(ftfy.chardata.CONTROL_CHARS)) + "\x80-\x9f\ud800-\udfff]"
)


def _ftfy(line: str) -> str:
    return ftfy.fix_text(line, config=_FTFY_CONFIG)


@functools.lru_cache(maxsize=1024)
def _ftfy_remembered(line: str) -> str:
    # ftfy changes a line only when its mojibake detector (badness.is_bad, which its encoding fix
    # asks first) flags it or one of its other fixers has a character to act on; asking those two
    # here skips the rest of its work on a clean line (tests/clean/test_fast_paths.py checks it).
    if not _FTFY_FIXED_CHARS.search(line) and not ftfy.badness.is_bad(line):
        return line
    return _ftfy(line)


def _fix_unicode(text: str) -> str:
    # ftfy.fix_text fixes every "\n"-terminated segment (cut into 1,000,000-character pieces when
    # longer) on its own and joins the results, so fixing a text line by line gives the same
    # result, and a line it would leave alone can be skipped.
    work = _FTFY_WORK.search(text)
    if work is None:
        return text
    out, done = [], 0
    while work is not None:
        start = text.rfind("\n", 0, work.start()) + 1
        end = text.find("\n", work.start()) + 1 or len(text)
        line = text[start:end]
        out += (text[done:start], _ftfy_remembered(line) if len(line) <= _REMEMBERED_LINE else _ftfy(line))
        done = end
        work = _FTFY_WORK.search(text, end)
    out.append(text[done:])
    return "".join(out)


def _whitespace(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Every run of whitespace inside a line becomes one space, so a line keeps at most one space at
    # either end: dropping those strips the lines (str.strip and \s agree on what is whitespace).
    if "  " in text or _ODD_SPACE.search(text):
        text = _SPACES.sub(" ", text)
    text = text.replace(" \n", "\n").replace("\n ", "\n")
    return _BLANK_LINES.sub("\n\n", text).strip()


def _normalize_url(match: re.Match[str]) -> str:
    url = match.group(0)
    trail = ""
    while url and url[-1] in ".,;:!?)]}":  # sentence punctuation after a URL is not part of it
        trail = url[-1] + trail
        url = url[:-1]
    scheme, _, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    path, hash_, fragment = path.partition("#")
    path, question, query = path.partition("?")
    # Tracking parameters go; everything else is kept byte for byte (no re-encoding), so a second
    # pass changes nothing.
    params = [p for p in query.split("&") if p and not _TRACKING.match(p.split("=", 1)[0])]
    query = "&".join(params)
    return (
        f"{scheme.lower()}://{host.lower()}{slash}{path}{question if query else ''}{query}{hash_}{fragment}" + trail
    )


def _normalize_urls(text: str) -> str:
    return _URL.sub(_normalize_url, text)


def _normalize_emails(text: str) -> str:
    return _EMAIL.sub(lambda m: m.group(0).lower(), text)


def _unicode(form: str):
    return lambda text: unicodedata.normalize(form, text)


#: The normalisers in the order they run, each with the config key that switches it on.
NORMALISERS: tuple[tuple[str, Any], ...] = (
    ("fix_unicode", _fix_unicode),
    ("html", _html),
    ("unicode", None),  # NFC / NFKC, chosen by the config value
    ("control_chars", lambda t: _CONTROL.sub("", t.replace("\r\n", "\n").replace("\r", "\n"))),
    ("normalize_urls", _normalize_urls),
    ("normalize_emails", _normalize_emails),
    ("lowercase", str.lower),
    ("strip_punctuation", lambda t: _PUNCT.sub(" ", t)),
    ("whitespace", _whitespace),
)


#: Normalisers whose second run on their own output never changes it, by construction: removal of
#: characters that removal cannot bring back (control_chars), a Unicode normal form, and whitespace
#: (its output has no run of two spaces, no space at a line's ends and no three newlines in a row).
_IDEMPOTENT = frozenset({"unicode", "control_chars", "whitespace"})


def _steps(cfg: Clean) -> list[tuple[str, Any]]:
    """The normalisers ``cfg`` switches on, in order."""
    steps = []
    for name, fn in NORMALISERS:
        setting = getattr(cfg, name)
        if setting and setting != "none":
            steps.append((name, _unicode(setting) if name == "unicode" else fn))
    return steps


def normalize_text(text: str, cfg: Clean) -> tuple[str, list[str]]:
    """Apply the normalisers ``cfg`` (the recipe's ``clean`` section) switches on; also name those that changed it."""
    return _normalize(text, _steps(cfg))


def _normalize(text: str, steps: list[tuple[str, Any]]) -> tuple[str, list[str]]:
    touched: list[str] = []
    # A later step can expose work for an earlier one: NFKC makes "&#65;" from "＆#65;", and even
    # whitespace does (" #39;" from "\t#39;", mojibake "Ã " from "Ã\u3000"). So the steps run in
    # rounds, at most three, until a whole round changes nothing. A round ends as soon as every step
    # has seen the text as it now is: the steps after the one that last changed it saw it in the
    # round before and would give the same answer again, and so would that step itself if it is
    # idempotent.
    seen = 0  # steps in a row that have seen the text as it is now
    for ran in range(3 * len(steps)):
        name, fn = steps[ran % len(steps)]
        new = fn(text)
        if new == text:
            seen += 1
        else:
            if name not in touched:
                touched.append(name)
            text = new
            seen = 1 if name in _IDEMPOTENT else 0
        if seen == len(steps):
            break
    return text, touched


def normalize_batch(batch: dict[str, list], *, cfg: Clean) -> dict[str, list]:
    """Normalise the ``text`` of a batch; ``_touched`` lists the normalisers that changed each row."""
    texts, touched = [], []
    steps = _steps(cfg)
    for text in batch[schema.TEXT]:
        new, names = _normalize(text or "", steps)
        texts.append(new)
        touched.append(names)
    return {schema.TEXT: texts, schema.TOUCHED: touched}
