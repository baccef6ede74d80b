"""Generate ``data/tickets.jsonl``: synthetic customer-support messages with one to three tags each,
the multi-label demo's input (``tickets.yaml``). Written by this project; CC0.

Each message joins one sentence per tag it carries, drawn from a few openings and objects per tag,
with an order number, a day or a device here and there, and a greeting or a sign-off now and then;
tags co-occur the way support tags do (a refund comes with billing or shipping more often than with
login). About 4% of rows have a tag wrong on purpose (one missing, or one extra that the text does
not support), as hand-tagged data does: the card's label-noise estimate should find them.
Seeded: the same file every run.

Run: ``python dataset_scripts/make_tickets.py`` (from the repository root).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

TAGS = {
    "billing": (
        ["I was charged twice for my", "The invoice shows the wrong amount for my", "My card was billed again for the",
         "Why did the price go up on my", "There is a charge I do not recognise for the"],
        ["monthly plan", "annual subscription", "last order", "premium upgrade", "family plan"],
    ),
    "shipping": (
        ["My parcel has not arrived and the tracking for my", "The courier left the box at the wrong door with my",
         "Delivery is two weeks late for the", "The package came damaged, it held my", "Tracking stopped updating for my"],
        ["new headphones", "kitchen scale", "running shoes", "phone case", "desk lamp"],
    ),
    "refund": (
        ["I would like my money back for the", "Please refund the", "I returned the item but no refund yet for the",
         "How long does a refund take for the", "Can you cancel and reimburse the"],
        ["order I cancelled", "duplicate payment", "faulty blender", "unused voucher", "broken charger"],
    ),
    "login": (
        ["I cannot sign in since the", "The password reset link fails after the", "My account is locked after the",
         "Two-factor codes never arrive since the", "The app logs me out after the"],
        ["latest update", "email change", "new phone", "password change", "browser update"],
    ),
    "bug": (
        ["The app crashes when I open the", "An error message appears on the", "The page freezes while loading the",
         "Buttons do nothing on the", "The screen goes blank on the"],
        ["settings page", "checkout screen", "order history", "search results", "profile page"],
    ),
    "feature_request": (
        ["It would be great to have a", "Please add a", "Could you build a", "I wish there were a",
         "Any plans for a"],
        ["dark mode", "export to spreadsheet", "shared wish list", "weekly summary email", "offline mode"],
    ),
}
#: How likely a second tag follows a first one (the rest: uniform over the other tags).
AFFINITY = {"refund": ["billing", "shipping"], "billing": ["refund"], "login": ["bug"], "bug": ["login", "feature_request"],
            "shipping": ["refund"], "feature_request": ["bug"]}
OPENINGS = ["Hello,", "Hi team,", "Good morning,", "Dear support,", "Hey,", "", "", ""]
CLOSINGS = ["Thanks.", "Regards, a customer.", "Please help.", "Thank you in advance.", "This is urgent.", "", "", ""]
DETAILS = ["order {n}", "since {day}", "on my {device}", "ticket {n}", "from {day}", "account {n}"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "the weekend", "last week", "yesterday"]
DEVICES = ["phone", "tablet", "laptop", "work computer", "old phone"]
WRONG_TAGS = 0.04


def ticket(rng: random.Random) -> tuple[str, list[str]]:
    first = rng.choice(sorted(TAGS))
    tags = [first]
    extra = rng.choices([0, 1, 2], weights=[55, 35, 10])[0]
    while len(tags) < 1 + extra:
        near = [t for t in AFFINITY[tags[-1]] if t not in tags]
        pick = rng.choice(near) if near and rng.random() < 0.6 else rng.choice([t for t in sorted(TAGS) if t not in tags])
        tags.append(pick)
    sentences = []
    for tag in tags:
        starts, objects = TAGS[tag]
        detail = ""
        if rng.random() < 0.6:
            detail = " " + rng.choice(DETAILS).format(n=rng.randrange(10_000, 99_999), day=rng.choice(DAYS),
                                                      device=rng.choice(DEVICES))
        sentences.append(f"{rng.choice(starts)} {rng.choice(objects)}{detail}.")
    text = " ".join(s for s in [rng.choice(OPENINGS), *sentences, rng.choice(CLOSINGS)] if s)
    if rng.random() < WRONG_TAGS:  # a tagging mistake: a tag left out, or one the text does not support
        if len(tags) > 1 and rng.random() < 0.5:
            tags.remove(rng.choice(tags))
        else:
            tags.append(rng.choice([t for t in sorted(TAGS) if t not in tags]))
    return text, sorted(tags)


def main(rows: int = 1200, seed: int = 7) -> None:
    rng = random.Random(seed)
    seen: set[str] = set()
    lines = []
    while len(lines) < rows:
        text, tags = ticket(rng)
        if text in seen:
            continue
        seen.add(text)
        lines.append(json.dumps({"text": text, "tags": tags}))
    out = Path(__file__).with_name("data") / "tickets.jsonl"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} tickets to {out}")


if __name__ == "__main__":
    main()
