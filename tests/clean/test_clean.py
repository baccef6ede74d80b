from __future__ import annotations

import functools
import re
import subprocess
import sys

import pytest
from datasets.fingerprint import Hasher
from hypothesis import given, settings
from hypothesis import strategies as st

from hf_ftbuilder.clean import clean, normalize
from hf_ftbuilder.clean.boilerplate import line_hashes_batch, strip_boilerplate_batch
from hf_ftbuilder.clean.filters import filter_batch, filter_text
from hf_ftbuilder.clean.normalizers import NORMALISERS, normalize_batch, normalize_text
from hf_ftbuilder.clean.pii import iban_ok, luhn_ok, redact_batch, redact_text
from hf_ftbuilder.config import Clean, Pii

CFG = Clean()
ALL_OFF = {name: False for name, _ in NORMALISERS} | {"unicode": "none"}


def only(name: str, value=True, **more) -> Clean:
    return Clean(**{**ALL_OFF, name: value, **more})


def norm(text: str, cfg: Clean = CFG) -> str:
    return normalize_text(text, cfg)[0]


# -- normalisers ---------------------------------------------------------------------------


def test_fix_unicode_repairs_mojibake() -> None:
    assert norm("The Mona Lisa doesnÃ¢â‚¬â„¢t have eyebrows.", only("fix_unicode")) == "The Mona Lisa doesn’t have eyebrows."
    assert norm("CafÃ© au lait", only("fix_unicode")) == "Café au lait"
    assert norm("don’t “quote” ﬁne ＡＢＣ", only("fix_unicode")) == "don’t “quote” ﬁne ＡＢＣ"  # repair only


def test_html_entities_tags_and_dump_artefacts() -> None:
    h = only("html")
    assert norm("Fish &amp;amp;lt; chips", h) == "Fish < chips"
    assert norm("<p>Hello <b>world</b></p><!-- c -->", h) == " Hello  world   "  # whitespace tidies later
    assert norm("a < b and c > d", h) == "a < b and c > d"
    assert norm("to watch <The Palace: Tale of Jang Noksu> now", h) == "to watch <The Palace: Tale of Jang Noksu> now"
    assert norm('x<BR/>y <a href="/p" class=big>link</a>', h) == "x y  link "
    # AG News writes "&" as a space: "Wall Street #39;s", "the  #36;10", " #151;", " quot;".
    assert norm("Wall Street #39;s biggest bank paid the  #36;10 fine  #151; said quot;no quot;", h) == \
        "Wall Street's biggest bank paid the $10 fine — said\"no\""
    assert norm("#39;Marathon mouse #39; doubles", h) == "'Marathon mouse' doubles"
    assert norm("ranked #12; Michigan, Issue #45; see #100;", h) == "ranked #12; Michigan, Issue #45; see #100;"


def test_unicode_forms_and_control_characters() -> None:
    assert norm("Cafe\u0301", only("unicode", "NFC")) == "Caf\u00e9"
    assert norm("ﬁne ①", only("unicode", "NFKC")) == "fine 1"
    assert norm("zero\u200bwidth\x07 bell\ufeff\x93", only("control_chars")) == "zerowidth bell"


def test_whitespace_case_and_punctuation() -> None:
    assert norm("  a \t b  \r\n\r\n\r\n\n c  ", only("whitespace")) == "a b\n\nc"
    assert norm("MiXeD Case", only("lowercase")) == "mixed case"
    assert norm("Hello, world! (yes)", only("strip_punctuation", whitespace=True)) == "Hello world yes"


def test_url_and_email_normalisation() -> None:
    cfg = only("normalize_urls", normalize_emails=True)
    assert norm("See HTTPS://Example.COM/Path?utm_source=x&id=3&fbclid=9#top. Mail John.Doe@Example.COM", cfg) == \
        "See https://example.com/Path?id=3#top. Mail john.doe@example.com"
    assert norm("http://A.test/?utm_medium=m", cfg) == "http://a.test/"


def test_default_chain_says_what_it_touched() -> None:
    text, touched = normalize_text(" Tom &amp; Jerry\u200b  ", CFG)
    assert (text, touched) == ("Tom & Jerry", ["html", "control_chars", "whitespace"])
    assert normalize_batch({"text": ["ok", None]}, cfg=CFG) == {"text": ["ok", ""], "_touched": [[], []]}


# -- PII -------------------------------------------------------------------------------------

PII = Pii()


def test_pii_each_type_with_exact_output() -> None:
    text = ("Mail a.b@ex.co.uk, call +44 20 7946 0958 or (020) 7946-0958 or 555-123-4567 or 08452810075; "
            "card 4111 1111 1111 1111; IBAN GB82 WEST 1234 5698 7654 32; server 192.168.0.1 and 2001:db8::1.")
    out, counts = redact_text(text, PII)
    assert out == ("Mail <EMAIL>, call <PHONE> or <PHONE> or <PHONE> or <PHONE>; card <CARD>; IBAN <IBAN>; "
                   "server <IP> and <IP>.")
    assert counts == {"email": 1, "card": 1, "iban": 1, "ip": 2, "phone": 4}


def test_pii_leaves_look_alikes_alone() -> None:
    text = ("card 4111111111111112 on 2024-01-15 at 10:30:45, text 87121, years 2004 2005, 999.1.1.1, "
            "$1,000,000, 100 200 300 people, 1973-1990, 2000-2500, numbers 10-18-19-22")
    assert redact_text(text, PII) == (text, {})
    assert luhn_ok("4111 1111 1111 1111") and not luhn_ok("4111 1111 1111 1112")
    assert iban_ok("DE89370400440532013000") and not iban_ok("DE89370400440532013001")


def test_pii_greedy_match_falls_back_to_the_valid_part() -> None:
    assert redact_text("IBAN GB82 WEST 1234 5698 7654 32 AB", PII)[0] == "IBAN <IBAN> AB"


def test_pii_switches_and_actions() -> None:
    text = "write to x@y.org or 192.168.1.1"
    assert redact_text(text, Pii(ip=False))[0] == "write to <EMAIL> or 192.168.1.1"
    assert redact_text(text, Pii(action="keep")) == (text, {"email": 1, "ip": 1})
    out = redact_batch({"text": [text, "nothing here"]}, cfg=Pii(action="drop"))
    assert out["drop_reason"] == ["pii", None]
    assert out["_pii"] == [["email", "ip"], []]


# -- boilerplate -----------------------------------------------------------------------------


def test_boilerplate_lines_are_counted_then_removed(make_dataset) -> None:
    pages = [f"Story {i} tells of a river and a bridge.\nSubscribe to our newsletter\nWe use cookies." for i in range(12)]
    only_boilerplate = "Subscribe to our newsletter\nWe use cookies."
    single = "We use cookies."  # one-line documents are never stripped
    ds, stats = clean(make_dataset([*pages, only_boilerplate, single]), Clean(boilerplate={"min_docs": 10}, pii={"action": "keep"}))
    assert ds["text"][:12] == [f"Story {i} tells of a river and a bridge." for i in range(12)]
    assert ds["text"][12] == "We use cookies."
    assert stats.dropped == {"boilerplate": 1}
    assert stats.details["boilerplate_lines"] == 2
    assert stats.details["touched"]["boilerplate"] == 13


def test_boilerplate_batch_functions() -> None:
    hashes = line_hashes_batch({"text": ["a\nb\na", "single"]})["_line_hashes"]
    assert len(hashes[0]) == 2 and hashes[1] == []
    out = strip_boilerplate_batch({"text": ["a\nb", "c"], "_touched": [[], []], "drop_reason": [None, "empty"]},
                                  repeated=hashes[0][:1] + hashes[0][1:])
    assert out["drop_reason"] == ["boilerplate", "empty"]


# -- filters -----------------------------------------------------------------------------------

PROSE = ("The river rose overnight and the bridge to the old town was closed. Engineers said that the "
         "supports have held, and they expect to reopen it with care by Friday.")


def reason(text: str, **cfg) -> str | None:
    return filter_text(text, Clean(**cfg))[1]


def test_length_filters() -> None:
    assert reason("two words", min_words=3) == "too_short"
    assert reason("one two three four", max_words=3) == "too_long"
    assert reason("short", min_chars=10) == "too_few_chars"
    assert reason("x" * 11, max_chars=10) == "too_many_chars"
    assert reason("   ") == "empty"
    assert reason(PROSE, min_words=5, max_words=100, min_chars=10, max_chars=1000) is None


def test_language_filter_keeps_allowed_languages() -> None:
    german = "Der Fluss stieg über Nacht, und die Brücke zur Altstadt wurde gesperrt. Die Ingenieure sagen, dass sie hält."
    assert reason(PROSE, languages=["en"]) is None
    assert reason(german, languages=["en"]) == "language"
    assert reason(german, languages=["de", "en"]) is None
    assert reason("ok lar", languages=["en"]) == "language"  # too short to tell: below language_min_score


def test_gopher_quality_rules() -> None:
    g = {"gopher_quality": {"enabled": True}}
    assert reason(PROSE, **g) is None
    assert reason("a b c d e f g h i j the and", **g) == "gopher_mean_word_length"
    assert reason(PROSE + " #tag #tag #tag #tag #tag #tag #tag #tag", **g) == "gopher_symbol_ratio"
    assert reason("\n".join(f"- chapter {i} covers rivers, bridges and other things" for i in range(5)), **g) == \
        "gopher_bullet_lines"
    assert reason("\n".join(f"The line {i} tells a long story about the river and then..." for i in range(5)), **g) == \
        "gopher_ellipsis_lines"
    assert reason("The 123 456 789 101 112 131 415 and 161 718 192 021 222", **g) == "gopher_alpha_words"
    assert reason("Rivers rise overnight; bridges close; engineers expect reopening Friday.", **g) == "gopher_stop_words"


def test_gopher_repetition_rules() -> None:
    r = {"gopher_repetition": {"enabled": True}}
    assert reason(PROSE, **r) is None
    assert reason("Buy now and save.\nBuy now and save.\nBuy now and save.\n" + PROSE, **r) == "repetition_lines"
    para = "This paragraph repeats itself word for word."
    assert reason(f"{para}\n\n{PROSE}\n\n{para}", **{"gopher_repetition": {"enabled": True, "max_dup_line_frac": 1,
                                                                        "max_dup_line_char_frac": 1}}) == "repetition_paragraphs"
    assert reason("big sale " * 20 + PROSE, **r) == "repetition_top_ngram"
    spam = "one two three four five six seven "
    assert reason(spam * 3 + PROSE, **{"gopher_repetition": {"enabled": True, "max_top_ngram_frac": {}}}) == \
        "repetition_dup_ngram"


def test_c4_line_rules() -> None:
    c = {"c4": {"enabled": True}}
    page = "\n".join([PROSE, "Home | About | Contact", "Please enable JavaScript to view the comments.",
                      "This site uses cookies to improve your experience.", "Short line."])
    text, why, touched = filter_text(page, Clean(**c))
    assert (text, why, touched) == (PROSE, None, True)
    assert reason("Lorem ipsum dolor sit amet, consectetur adipiscing elit.", **c) == "c4_lorem_ipsum"
    assert reason("function f() { return 1; } is shown here.", **c) == "c4_curly_braces"
    assert reason("Home | About | Contact", **c) == "c4_no_lines_left"
    assert reason(PROSE, c4={"enabled": True, "min_sentences": 5}) == "c4_too_few_sentences"


def test_filter_batch_keeps_earlier_reasons() -> None:
    out = filter_batch({"text": ["", "fine text here"], "_touched": [[], []], "drop_reason": ["pii", None]}, cfg=CFG)
    assert out["drop_reason"] == ["pii", None]


# -- the stage -------------------------------------------------------------------------------


def test_stage_drops_rows_with_reasons_and_counts_rules(make_dataset) -> None:
    ds, stats = normalize(make_dataset(["  keep me  ", "&nbsp;", "", "mail a@b.org now", "SMS from 07946 095 812"],
                                       gold=[1, 2, 3, 4, 5]))
    assert ds["text"] == ["keep me", "mail <EMAIL> now", "SMS from <PHONE>"]
    assert ds["gold"] == [1, 4, 5]
    assert "drop_reason" not in ds.column_names and "_touched" not in ds.column_names
    assert stats.dropped == {"empty": 2}
    assert stats.dropped_rows["id"] == ["r1", "r2"]
    assert stats.details["touched"] == {"html": 1, "whitespace": 2}  # the &nbsp; row, then dropped, counts too
    assert stats.details["pii"] == {"action": "redact", "matches": {"email": 1, "card": 0, "iban": 0, "ip": 0, "phone": 1},
                                    "rows": 2}


def test_clean_is_idempotent_on_rows(make_dataset) -> None:
    once, _ = clean(make_dataset(["A &amp;amp; B <i>c</i>\n\n\n d"]), Clean())
    twice, _ = clean(once, Clean())
    assert once["text"] == twice["text"] == ["A & B c\n\nd"]


# -- caching ---------------------------------------------------------------------------------

STEP_FUNCTIONS = ("normalize_batch", "redact_batch", "line_hashes_batch", "strip_boilerplate_batch", "filter_batch",
                  "prepare_batch", "finish_batch")


def _fingerprints() -> list[str]:
    code = (
        "from datasets.fingerprint import Hasher\n"
        "from hf_ftbuilder.config import Clean\n"
        "from hf_ftbuilder.clean import boilerplate, filters, normalizers, pii\n"
        "cfg = Clean()\n"
        "import hf_ftbuilder.clean as c\n"
        "steps = [(normalizers.normalize_batch, cfg), (pii.redact_batch, cfg.pii), (boilerplate.line_hashes_batch, None),"
        " (boilerplate.strip_boilerplate_batch, [1, 2]), (filters.filter_batch, cfg), (c.prepare_batch, cfg, True),"
        " (c.finish_batch, cfg, [1, 2])]\n"
        "print(' '.join(Hasher.hash(step) for step in steps))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_step_fingerprints_are_stable_across_processes() -> None:
    first, second = _fingerprints(), _fingerprints()
    assert len(first) == len(STEP_FUNCTIONS)
    assert first == second
    # The config object itself is the step's argument: which keys a recipe spelled out does not count.
    assert Hasher.hash((normalize_batch, Clean())) == Hasher.hash((normalize_batch, Clean(min_words=0)))
    assert Hasher.hash((normalize_batch, Clean())) != Hasher.hash((normalize_batch, Clean(lowercase=True)))


# -- properties ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [name for name, _ in NORMALISERS] + ["all"])
@settings(max_examples=1000)
@given(text=st.text())
def test_normalisers_never_crash_and_are_idempotent(name: str, text: str) -> None:
    cfg = Clean(normalize_urls=True, normalize_emails=True) if name == "all" else only(name, "NFKC" if name == "unicode" else True)
    once = norm(text, cfg)
    assert norm(once, cfg) == once


EMAILS = st.from_regex(r"[a-z0-9._%+-]{1,20}@[a-z0-9-]{1,12}\.[a-z]{2,6}", fullmatch=True)


@st.composite
def luhn_cards(draw) -> str:
    digits = [draw(st.integers(1, 9))] + [draw(st.integers(0, 9)) for _ in range(draw(st.integers(12, 18)) - 1)]
    total = 0
    for i, d in enumerate(reversed(digits)):  # the check digit goes at the end, so these are odd places
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    return "".join(map(str, digits + [(10 - total % 10) % 10]))


@settings(max_examples=1000)
@given(before=st.text(), after=st.text(), email=EMAILS)
def test_redaction_never_leaves_a_planted_email(before: str, after: str, email: str) -> None:
    out, _ = redact_text(f"{before} {email} {after}", PII)
    assert email not in out.split()


@settings(max_examples=1000)
@given(before=st.text(), after=st.text(), card=luhn_cards())
def test_redaction_never_leaves_a_planted_card(before: str, after: str, card: str) -> None:
    assert luhn_ok(card)
    out, _ = redact_text(f"{before} {card} {after}", PII)
    assert card not in re.findall(r"\d+", out)


def test_rebuild_with_unchanged_clean_section_recomputes_nothing(tmp_path, write_recipe, monkeypatch) -> None:
    import datasets

    import hf_ftbuilder

    from ..conftest import plant_corpus, recipe_dict

    plant_corpus(tmp_path)
    computed: list[str] = []
    real = datasets.Dataset._map_single

    @functools.wraps(real)  # datasets binds the call against _map_single's signature
    def counting(*args, **kwargs):
        computed.append(getattr(kwargs["function"], "__name__", "?"))
        yield from real(*args, **kwargs)

    monkeypatch.setattr(datasets.Dataset, "_map_single", staticmethod(counting))

    def clean_steps(recipe: dict, out: str) -> list[str]:
        computed.clear()
        hf_ftbuilder.build(write_recipe(recipe), output_dir=tmp_path / out, until="clean")
        return [name for name in computed if name in STEP_FUNCTIONS]

    first = clean_steps(recipe_dict(), "a")
    assert first == ["prepare_batch", "finish_batch"]
    assert clean_steps(recipe_dict(), "b") == []  # served from the datasets cache in cache_dir
    changed = clean_steps(recipe_dict(clean={"lowercase": True}), "c")
    assert changed == first
    assert (tmp_path / "a" / "data" / "train-00000-of-00001.parquet").read_bytes() == \
        (tmp_path / "b" / "data" / "train-00000-of-00001.parquet").read_bytes()
