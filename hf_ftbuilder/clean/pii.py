"""PII redaction: e-mail addresses, phone numbers, IP addresses, payment cards and IBANs.

Each match is replaced by a typed placeholder (``<EMAIL>``, ``<PHONE>``, ``<IP>``, ``<CARD>``,
``<IBAN>``). Card numbers must pass the Luhn check and IBANs their mod-97 check, so order
numbers and dates are left alone. Placeholders contain no digits or ``@``, so redacting twice
changes nothing.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from .. import schema
from ..config import Pii

__all__ = ["PII_TYPES", "luhn_ok", "iban_ok", "redact_batch", "redact_text"]

PII_TYPES = ("email", "card", "iban", "ip", "phone")  # cards and IBANs before phones: they look alike

_LOCAL = r"\w.!#$%&'*+/=?^`{|}~-"  # what RFC 5322 allows before the @ without quoting
_EMAIL = re.compile(rf"(?<![{_LOCAL}])[{_LOCAL}]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{{2,}}(?![\w-])")
# 13-19 digits, bare or in 4-4-4-x / 4-6-5 groups with one kind of separator.
_CARD = re.compile(r"(?<![\w-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{5})(?!\w)")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_DATE = re.compile(r"\d{4}[-./ ]\d{1,2}[-./ ]\d{1,2}|\d{1,2}[-./ ]\d{1,2}[-./ ]\d{2,4}")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
# International (+44 20 7946 0958) or grouped national numbers ((020) 7946-0958, 555-123-4567):
# at least 7 digits, and separators or a leading + so that bare numbers (years, amounts) stay.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,5}(?:[ .-]\d{2,4}){1,4}(?![\w])"
    r"|(?<![\w+])\+\d{7,15}(?!\w)"
    r"|(?<![\w])0\d{9,10}(?!\w)"
)
# Every pattern opens with a lookbehind, which leaves re nothing to look for first: it tries the
# whole pattern at every position of a text. So each pattern comes with what its matches contain
# (a "needle": a text without one has none) or, where that is common, where they can start (a
# "start" regex that opens with a character class, which re skips ahead to, and matches wherever
# the pattern's matches begin); the pattern is tried only there and finds the same matches.
_NEEDLE = {  # (one that opens with a fixed character is found fastest)
    _EMAIL: re.compile("@"),
    _IPV4: re.compile(r"\.\d{1,3}\.\d"),  # ".2.3" of "1.2.3.4"
    _IPV6: re.compile(r":[0-9A-Fa-f]{0,4}:"),  # two of its colons
}
_START = {
    _CARD: re.compile(r"\d\d{3}"),  # 13-19 digits, or a group of 4
    _IBAN: re.compile(r"[A-Z][A-Z]\d\d"),
    _PHONE: re.compile(r"[+(\d]\d"),  # "+44", "(020)", "555" or "0794..."
}
# Every card and phone match holds two digits, a space, dot or hyphen and two digits (their groups)
# or seven digits in a row (bare numbers): a text without either has neither, and most prose has
# neither, so one scan for this spares the two patterns' candidate loops.
_CARD_OR_PHONE = re.compile(r"\d\d[ .-]\d\d|\d{7}")
_PLACEHOLDER = {"email": "<EMAIL>", "card": "<CARD>", "iban": "<IBAN>", "ip": "<IP>", "phone": "<PHONE>"}


def luhn_ok(number: str) -> bool:
    """Whether a digit string passes the Luhn checksum that payment cards carry."""
    digits = [int(d) for d in number if d.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    """Whether a string is an IBAN by its ISO 13616 mod-97 check."""
    s = candidate.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


def _ip_ok(candidate: str) -> bool:
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def _phone_ok(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    if not 7 <= digits <= 15 or _DATE.fullmatch(candidate):
        return False
    if candidate.startswith(("+", "(", "0")):
        return True
    # Without a country or trunk prefix, a number needs three groups split by - or . and a group
    # of three digits or more: "555-123-4567" is a phone; "in 2004 2005", a range "1973-1990"
    # and lottery numbers "10-18-19-22" are not.
    groups = re.split(r"[ .-]", candidate)
    return ("-" in candidate or "." in candidate) and len(groups) >= 3 and max(map(len, groups)) >= 3


_CHECKS = {
    "email": (_EMAIL, None),
    "card": (_CARD, luhn_ok),
    "iban": (_IBAN, iban_ok),
    "ip": (None, _ip_ok),
    "phone": (_PHONE, _phone_ok),
}


def _sub(pattern: re.Pattern[str], replace: Any, text: str) -> str:
    """``pattern.sub(replace, text)``, trying the pattern only where it can match."""
    if pattern in _NEEDLE:
        return pattern.sub(replace, text) if _NEEDLE[pattern].search(text) else text
    start = _START[pattern]
    out, done, pos = [], 0, 0
    while (candidate := start.search(text, pos)) is not None:
        # match() at a position still sees the text before it, as the lookbehind needs; no pattern
        # matches the empty string, so a match moves on as pattern.sub does.
        match = pattern.match(text, candidate.start())
        if match is None:
            pos = candidate.start() + 1
            continue
        out += (text[done : match.start()], replace(match))
        done = pos = match.end()
    return "".join(out) + text[done:] if out else text


def redact_text(text: str, cfg: Pii) -> tuple[str, dict[str, int]]:
    """Replace the PII types switched on in ``cfg`` (``clean.pii``); count matches per type.

    With ``action: keep`` the text is returned unchanged and only the counts are made.
    """
    counts: dict[str, int] = {}
    out = text
    numbers = _CARD_OR_PHONE.search(text) is not None  # redacting adds no digits
    for kind in PII_TYPES:
        if not getattr(cfg, kind) or (kind in ("card", "phone") and not numbers):
            continue
        patterns = (_IPV4, _IPV6) if kind == "ip" else (_CHECKS[kind][0],)
        check = _CHECKS[kind][1]
        for pattern in patterns:

            def replace(match: re.Match[str], kind: str = kind, check: Any = check) -> str:
                found, rest = match.group(0), ""
                # A greedy match may run on into the next token ("GB82 WEST ... 32 AB"): try the
                # longest prefix that ends at a space and passes the check.
                while check is not None and not check(found):
                    cut = found.rfind(" ")
                    if cut <= 0:
                        return match.group(0)
                    found, rest = found[:cut], found[cut:] + rest
                counts[kind] = counts.get(kind, 0) + 1
                return _PLACEHOLDER[kind] + rest

            out = _sub(pattern, replace, out)
    return (text if cfg.action == "keep" else out), counts


def redact_batch(batch: dict[str, list], *, cfg: Pii) -> dict[str, list]:
    """Redact a batch; ``_pii`` holds each row's matched types (one entry per match)."""
    texts, found, reasons = [], [], []
    for text in batch[schema.TEXT]:
        new, counts = redact_text(text, cfg)
        texts.append(new)
        found.append([kind for kind, n in counts.items() for _ in range(n)])
        reasons.append("pii" if counts and cfg.action == "drop" else None)
    return {schema.TEXT: texts, schema.PII_FOUND: found, schema.DROP_REASON: reasons}
