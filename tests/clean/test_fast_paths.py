"""The clean stage's fast paths give exactly what the plain code gives, for every input.

``normalize_text`` skips ftfy on lines it cannot change, collapses whitespace over the whole text
and skips the broken-entity scan when a text has no entity body; ``redact_text`` tries each PII
pattern only where a match can start (or in texts that hold what every match contains). The
reference below is the code as it was before those fast paths (comments left out): the step
functions that changed and the two entry points. The regexes and helpers that did not change are
shared.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import ftfy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hf_ftbuilder.clean import normalizers as N
from hf_ftbuilder.clean import pii as P
from hf_ftbuilder.config import Clean, Pii

DATA = Path(__file__).resolve().parents[1] / "data"

# -- reference: the plain code --------------------------------------------------------------------


def ref_fix_unicode(text: str) -> str:
    return ftfy.fix_text(
        text,
        unescape_html=False,
        normalization=None,
        fix_line_breaks=False,
        uncurl_quotes=False,
        fix_latin_ligatures=False,
        fix_character_width=False,
    )


def ref_html(text: str) -> str:
    for _ in range(10):
        before = text
        text = N._unescape(text)
        text = N._BROKEN_ENTITY.sub(N._entity_char, text)
        text = N._TAG.sub(" ", text)
        if text == before:
            break
    return text


_REF_SPACES = re.compile(r"[^\S\n]+")
_REF_BLANK_LINES = re.compile(r"\n{3,}")


def ref_whitespace(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = (_REF_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _REF_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


REF_STEPS = {"fix_unicode": ref_fix_unicode, "html": ref_html, "whitespace": ref_whitespace}
REF_NORMALISERS = tuple((name, REF_STEPS.get(name, fn)) for name, fn in N.NORMALISERS)


def ref_normalize_text(text: str, cfg: dict[str, Any]) -> tuple[str, list[str]]:
    touched = []
    for _ in range(3):
        start = text
        for name, fn in REF_NORMALISERS:
            setting = cfg[name]
            if not setting or setting == "none":
                continue
            new = unicodedata.normalize(setting, text) if name == "unicode" else fn(text)
            if new != text:
                if name not in touched:
                    touched.append(name)
                text = new
        if text == start:
            break
    return text, touched


def ref_redact_text(text: str, cfg: dict[str, Any]) -> tuple[str, dict[str, int]]:
    counts: dict[str, int] = {}
    out = text
    for kind in P.PII_TYPES:
        if not cfg.get(kind):
            continue
        patterns = (P._IPV4, P._IPV6) if kind == "ip" else (P._CHECKS[kind][0],)
        check = P._CHECKS[kind][1]
        for pattern in patterns:

            def replace(match: re.Match[str], kind: str = kind, check: Any = check) -> str:
                found, rest = match.group(0), ""
                while check is not None and not check(found):
                    cut = found.rfind(" ")
                    if cut <= 0:
                        return match.group(0)
                    found, rest = found[:cut], found[cut:] + rest
                counts[kind] = counts.get(kind, 0) + 1
                return P._PLACEHOLDER[kind] + rest

            out = pattern.sub(replace, out)
    return (text if cfg.get("action") == "keep" else out), counts


# -- inputs --------------------------------------------------------------------------------------

BASE = Clean().model_dump()
SWITCHES = ("fix_unicode", "html", "control_chars", "normalize_urls", "normalize_emails", "lowercase",
            "strip_punctuation", "whitespace")
ALL_CONFIGS = [
    {**BASE, **dict(zip(SWITCHES, values)), "unicode": form}
    for values in itertools.product([False, True], repeat=len(SWITCHES))
    for form in ("NFC", "NFKC", "none")
]
PII_CONFIGS = [
    {**dict(zip(P.PII_TYPES, values)), "action": action}
    for values in itertools.product([False, True], repeat=len(P.PII_TYPES))
    for action in ("redact", "keep", "drop")
]

ADVERSARIAL = [
    "doesnâ€™t", "The Mona Lisa doesnÃƒÂ¢Ã¢â€šÂ¬Ã¢â€žÂ¢t have eyebrows.", "sÃ³", "voilÃ le travail",
    "voilÃ\u3000le travail", "Ã\xa0 la", "ÃƒÂ©tÃƒÂ©\n\n\n\nÃ©tÃ©", "ГўВЂВ™s", "Â£100", "”£ and “é”s",
    "\x1b[31mred\x1b[0m text", "a\x00b\x07c\x0bd\x0ce\x0ef\x1fg\x7fh\x85i\x91j\x92", "\u2028\u2029\x1c\x1d\x1e\x1f",
    "&amp;lt;b&amp;gt;", "＆#65; ＆amp;", "&#195;&#169;t&#195;&#169;", "<b>bold</b> &nbsp; &#39; #39; quot; ",
    "a\t#39;s", "a\u3000#39;s", "#39;start", "line\n #39; x\nsalt; #12; ranked #12; Michigan", "<br\n>x<!--\n-->y",
    "\ud800 lone \udfff surrogates \ud83d\ude00", "\ufeffBOM \u200bzero\u200dwidth\u2060",
    "caf\u00e9 cafe\u0301 ﬁ ﬂ ＬＯＵＤ", "crlf\r\nline\rline\n", "tab\there\t\t x \xa0\u3000 y",
    " " * 5 + "\n" * 5 + "x" + "\t" * 3, "", "\n", " ", "\r", "é\n" * 3,
    "ascii line\nnon-ascii ï»¿ line\n“typographic” – only — here… ‘ok’\xa0\nascii again\n",
    "http://EXAMPLE.com/a?utm_source=x&b=1#f, Mail@Example.COM.",
    "IP 192.168.1.1, 10.0.0.256 and ::1 and fe80::1 2001:db8::ff00:42:8329 at 10:30:00",
    "card 4111 1111 1111 1111 and 4111-1111-1111-1111 4111111111111111 3782 822463 10005",
    "IBAN GB82 WEST 1234 5698 7654 32 AB; DE89370400440532013000", "٣٤٥٦ ٣٤٥٦ ٣٤٥٦ ٣٤٥٦ and ٤١١١١١١١١١١١١١١١",
    "call +44 20 7946 0958 or (020) 7946-0958 or 555-123-4567 or 07946095812 +447946095812 1973-1990 10-18-19-22",
    "mail a.b+c@ex-ample.co.uk, x@y", "x" * 5100 + "é\n" + "y" * 5 + "â€™",
]


def _article_bodies() -> list[str]:
    return [page["articleBody"] for page in json.loads((DATA / "web" / "ground-truth.json").read_text()).values()]


def _csv_texts(path: Path, *columns: str) -> list[str]:
    with path.open(newline="", encoding="utf-8") as f:
        return [row[column] for row in csv.DictReader(f) for column in columns]


# -- normalize_text ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_normalize_matches_reference_under_every_config(text: str) -> None:
    for cfg in ALL_CONFIGS:
        assert N.normalize_text(text, Clean(**cfg)) == ref_normalize_text(text, cfg), cfg


def test_normalize_batch_matches_reference_on_real_pages() -> None:
    texts = _article_bodies() + ADVERSARIAL
    for cfg in ALL_CONFIGS[::23] + [BASE]:
        expected = [ref_normalize_text(text, cfg) for text in texts]
        out = N.normalize_batch({"text": texts}, cfg=Clean(**cfg))
        assert list(zip(out["text"], out["_touched"])) == expected


def test_fix_unicode_cuts_long_lines_where_ftfy_does() -> None:
    # ftfy cuts a line longer than max_decode_length (1,000,000) into pieces fixed one by one.
    cut = ftfy.TextFixerConfig().max_decode_length
    line = "a" * (cut - 3) + "Ã©tÃ©" + "b" * 10 + "â€™s\n"
    text = "plain\n" + line + "Ã©\n" + "x" * (cut + 5)
    assert N._fix_unicode(text) == ref_fix_unicode(text)


# Characters that hypothesis should meet often: what each fast path keys on.
SPECIAL = list(
    "\t\n\r\x0b\x0c\x1b\x00\x7f\x85\x91\xa0\u3000\u2028\ufeff\u200b\ud800\udc00 #;&<>!/"
    "ÃÂâ€™©°ВГРСўЂ“”‘’–—…é£€²"
) + ["&amp;", " #39;", "#8217;", "quot;", "<b>", "</p>", "<!--", "-->", "\r\n", "\x1b[31m", "＆#65;", "â€™", "Ã©", "  ",
     "http://Ex.COM/p?utm_x=1&q=2", "A@B.Org"]
TEXTS = st.lists(st.one_of(st.sampled_from(SPECIAL), st.text(max_size=8)), max_size=25).map("".join)
CONFIGS = st.sampled_from(ALL_CONFIGS)


@settings(max_examples=1500)
@given(text=TEXTS, cfg=CONFIGS)
def test_normalize_matches_reference_on_random_text(text: str, cfg: dict[str, Any]) -> None:
    assert N.normalize_text(text, Clean(**cfg)) == ref_normalize_text(text, cfg)


@settings(max_examples=500)
@given(text=st.text())
def test_steps_match_reference_on_any_text(text: str) -> None:
    for name, ref in REF_STEPS.items():
        assert dict(N.NORMALISERS)[name](text) == ref(text), name


# -- why skipping ftfy is safe ------------------------------------------------------------------

# The characters of the lines that _fix_unicode passes by without ftfy.
SAFE = "".join(c for c in map(chr, range(0x110000)) if not N._FTFY_WORK.match(c))


def test_safe_characters_are_ascii_text_and_typographic_punctuation() -> None:
    typographic = "\xa0\u2013\u2014\u2018\u2019\u201c\u201d\u2026"
    assert SAFE == "\t\n\x0c\r" + "".join(map(chr, range(0x20, 0x7F))) + typographic


def test_ftfy_changes_every_other_ascii_character() -> None:
    for c in map(chr, range(0x80)):
        if c not in SAFE:
            assert ref_fix_unicode(f"a{c}[1mb") != f"a{c}[1mb", repr(c)


def test_ftfy_mojibake_detector_needs_a_character_outside_the_safe_set() -> None:
    """Every alternative of ftfy's BADNESS_RE has a character it must match that is not in SAFE.

    So no line made of SAFE characters looks like mojibake, and ftfy's repair leaves it alone.
    """
    try:
        from re import _compiler, _parser  # type: ignore[attr-defined]
    except ImportError:  # Python 3.10
        import sre_compile as _compiler  # type: ignore[no-redef]
        import sre_parse as _parser  # type: ignore[no-redef]
    from ftfy.badness import BADNESS_RE

    parsed = _parser.parse(BADNESS_RE.pattern, BADNESS_RE.flags)
    ((op, (_, alternatives)),) = parsed.data
    assert op == _parser.BRANCH

    def rejects_all_safe(item) -> bool:
        one = _compiler.compile(_parser.SubPattern(parsed.state, [item]), BADNESS_RE.flags)
        return not any(one.match(c) for c in SAFE)

    for alternative in alternatives:
        single = [item for item in alternative.data if item[0] in (_parser.LITERAL, _parser.IN)]
        assert any(map(rejects_all_safe, single)), alternative.data


@settings(max_examples=500)
@given(line=st.text(alphabet=SAFE))
def test_ftfy_leaves_lines_of_safe_characters_alone(line: str) -> None:
    assert ref_fix_unicode(line) == line


# What _ftfy_remembered asks before it calls ftfy: the detector, and the characters of the fixers
# that are on. An ftfy release that switched on another fixer by default would fail the first test.
ENCODING_STEPS = {"fix_encoding", "restore_byte_a0", "replace_lossy_sequences", "decode_inconsistent_utf8"}
CHARACTER_FIXERS = {"fix_c1_controls", "fix_surrogates", "remove_terminal_escapes", "remove_control_chars"}


def test_the_fixers_on_are_the_encoding_repair_and_the_character_fixers() -> None:
    on = {name for name, value in N._FTFY_CONFIG._asdict().items() if value is True}
    assert on == ENCODING_STEPS | CHARACTER_FIXERS


LINE_PIECES = [p for p in SPECIAL if "\n" not in p] + ["Привет мир", "Ð¿Ñ€Ð¸Ð²ÐµÑ‚", "naïve café", "Â£5", "Ã\u3000", "ü", "\x80"]
LINES = st.lists(st.one_of(st.sampled_from(LINE_PIECES), st.text(max_size=6).map(lambda t: t.replace("\n", ""))),
                 max_size=20).map("".join)


@settings(max_examples=500)
@given(line=LINES)
def test_a_line_ftfy_is_not_asked_about_is_a_line_it_leaves_alone(line: str) -> None:
    assert N._ftfy_remembered.__wrapped__(line) == ref_fix_unicode(line)


# -- redact_text ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_redact_matches_reference_under_every_config(text: str) -> None:
    for cfg in PII_CONFIGS:
        assert P.redact_text(text, Pii(**cfg)) == ref_redact_text(text, cfg), cfg


PII_PARTS = [
    "a@b.co", "x.y+z@mail.example.org", "@", "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111",
    "3782 822463 10005", "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "192.168.1.1", "1.2.3.4",
    "10.0.0.1", "1.2.3.4.5", "::1", "fe80::1", "2001:db8::8a2e:370:7334", "10:30", "+44 20 7946 0958",
    "(020) 7946-0958", "555-123-4567", "07946095812", "+447946095812", "2004-05-06", "٣٤٥٦", " ", "-", ".", ":", "+", "(", ")", "_", "\n",
]
PII_CHARS = st.text(alphabet="0123456789 .-:+()@abcfAGBZ_\n", max_size=6)
PII_TEXTS = st.lists(st.one_of(st.sampled_from(PII_PARTS), PII_CHARS, st.text(max_size=4)), max_size=20).map("".join)


@settings(max_examples=1500)
@given(text=PII_TEXTS, cfg=st.sampled_from(PII_CONFIGS))
def test_redact_matches_reference_on_random_text(text: str, cfg: dict[str, Any]) -> None:
    assert P.redact_text(text, Pii(**cfg)) == ref_redact_text(text, cfg)


@settings(max_examples=1500)
@given(text=PII_TEXTS)
def test_every_match_is_where_its_start_or_needle_says(text: str) -> None:
    for pattern, start in P._START.items():
        for match in pattern.finditer(text):
            assert start.match(text, match.start()), (pattern.pattern, match)
    for pattern, needle in [*P._NEEDLE.items(), (P._CARD, P._CARD_OR_PHONE), (P._PHONE, P._CARD_OR_PHONE)]:
        for match in pattern.finditer(text):
            assert needle.search(match.group()), (pattern.pattern, match)


def test_redact_batch_matches_reference_on_real_pages() -> None:
    texts = _article_bodies() + ADVERSARIAL
    for cfg in PII_CONFIGS:
        out = P.redact_batch({"text": texts}, cfg=Pii(**cfg))
        expected = [ref_redact_text(text, cfg) for text in texts]
        assert out["text"] == [text for text, _ in expected]
        assert out["_pii"] == [[kind for kind, n in counts.items() for _ in range(n)] for _, counts in expected]


# -- the larger real data (make check-shared) ----------------------------------------------------


@pytest.mark.shared
def test_clean_matches_reference_on_shared_data(shared_data: Path) -> None:
    texts = _csv_texts(shared_data / "text" / "ag_news_test.csv", "text", "title", "description")
    texts += _csv_texts(shared_data / "text" / "sms_spam.csv", "text")
    pii = BASE["pii"]
    other = {**BASE, "unicode": "NFKC", "lowercase": True, "strip_punctuation": True, "control_chars": False}
    for cfg in (BASE, other):
        for text in texts:
            new = N.normalize_text(text, Clean(**cfg))
            assert new == ref_normalize_text(text, cfg)
            assert P.redact_text(new[0], Pii(**pii)) == ref_redact_text(new[0], pii)
