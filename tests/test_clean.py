from __future__ import annotations

from datasets.fingerprint import Hasher

from hf_ftbuilder.clean import clean, clean_batch, clean_text, normalize
from hf_ftbuilder.config import Clean

CFG = Clean().model_dump()


def test_entities_are_unescaped_until_stable_and_tags_removed() -> None:
    assert clean_text("Fish &amp;amp;lt; chips", CFG) == "Fish < chips"
    assert clean_text("<p>Hello <b>world</b></p><!-- c -->", CFG) == "Hello world"
    assert clean_text("a < b and c > d", CFG) == "a < b and c > d"
    assert clean_text('x<BR/>y <a href="/p" class=big>link</a> <img src=\'i.png\' />', CFG) == "x y link"
    # Prose in angle brackets is not a tag (seen in a real page's title of a show).
    assert clean_text("to watch <The Palace: Tale of Jang Noksu> now", CFG) == "to watch <The Palace: Tale of Jang Noksu> now"
    assert clean_text("<paragraph> and <divine> stay", CFG) == "<paragraph> and <divine> stay"


def test_unicode_nfc_and_control_characters() -> None:
    decomposed = "Cafe\u0301"
    assert clean_text(decomposed, CFG) == "Caf\u00e9"
    assert clean_text("zero\u200bwidth\x07 bell\ufeff", CFG) == "zerowidth bell"
    assert clean_text("ﬁne", Clean(unicode="NFKC").model_dump()) == "fine"


def test_whitespace_is_collapsed_but_paragraphs_kept() -> None:
    assert clean_text("  a \t b  \r\n\r\n\r\n\n c  ", CFG) == "a b\n\nc"


def test_switches_turn_normalisers_off() -> None:
    off = Clean(html=False, unicode="none", control_chars=False, whitespace=False).model_dump()
    raw = " <b>x</b> &amp;\u200b "
    assert clean_text(raw, off) == raw
    assert clean_text("MiXeD", Clean(lowercase=True).model_dump()) == "mixed"


def test_batch_reasons_empty_short_long() -> None:
    cfg = Clean(min_words=2, max_words=3).model_dump()
    out = clean_batch({"text": ["<br/>", None, "one", "two words", "a b c d"]}, cfg=cfg)
    assert out["drop_reason"] == ["empty", "empty", "too_short", None, "too_long"]


def test_stage_drops_rows_with_reasons(make_dataset) -> None:
    ds, stats = normalize(make_dataset(["  keep me  ", "&nbsp;", "", "also kept"], gold=[1, 2, 3, 4]))
    assert ds["text"] == ["keep me", "also kept"]
    assert ds["gold"] == [1, 4]
    assert "drop_reason" not in ds.column_names
    assert stats.dropped == {"empty": 2}
    assert stats.dropped_rows["id"] == ["r1", "r2"]
    assert stats.summary() == "clean: kept 2/4 (empty=2)"


def test_fingerprint_depends_on_values_not_on_how_they_were_set() -> None:
    assert Hasher.hash((clean_batch, Clean().model_dump())) == Hasher.hash((clean_batch, Clean(min_words=0).model_dump()))
    assert Hasher.hash((clean_batch, Clean().model_dump())) != Hasher.hash((clean_batch, Clean(min_words=1).model_dump()))


def test_clean_is_idempotent(make_dataset) -> None:
    once, _ = clean(make_dataset(["A &amp;amp; B <i>c</i>\n\n\n d"]), Clean())
    twice, _ = clean(once, Clean())
    assert once["text"] == twice["text"] == ["A & B c\n\nd"]
