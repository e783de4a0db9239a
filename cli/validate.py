"""Checks on what a member writes, before it is signed: text that could control another
member's terminal or disguise itself is refused here (output escapes it anyway, see
``output.safe_text``: a peer running another client may still send it)."""

from __future__ import annotations

import unicodedata
from typing import Any

from node.crdt.text import MULTILINE_ALLOWED, first_unsafe

from .errors import bad_value

MULTILINE = frozenset({"description", "text", "note", "bio"})  # may hold line breaks and tabs
NAMED = frozenset({"title", "name", "display_name"})  # must say something
# Longest text the records accept per field (node/crdt/records: listings, community,
# contributions, governance), said here with the field's name instead of an op-size error.
LIMITS = {
    "title": 200,
    "description": 4000,
    "name": 120,
    "display_name": 80,
    "bio": 2000,
    "note": 1000,
    "tags": 40,
    "unit": 40,
    "text": 20000,
    "options": 200,
    "topic": 80,
}


def check_body(body: Any, path: str = "") -> None:
    """Raise a ``bad_value`` UserError (exit 2) naming the field of ``body`` that holds an
    unsafe character, or a title/name that is only whitespace."""
    if isinstance(body, dict):
        for k, v in body.items():
            check_body(v, str(k))
    elif isinstance(body, list):
        for v in body:
            check_body(v, path)
    elif isinstance(body, str):
        check_text(body, path)


def check_text(text: str, field: str) -> None:
    ch = first_unsafe(text, MULTILINE_ALLOWED if field in MULTILINE else "")
    if ch is not None:
        name = unicodedata.name(ch, "control character")
        raise bad_value(
            f"{field or 'text'} contains U+{ord(ch):04X} ({name.lower()}): text may not "
            "hold control characters or bidirectional overrides",
            "remove it: it could change what other members' terminals show",
        )
    if field in NAMED and not text.strip() and (text or field != "display_name"):
        what = "only whitespace" if text else "empty"
        raise bad_value(f"the {field} is {what}", f"give the {field} some words")
    limit = LIMITS.get(field)
    if limit is not None and len(text) > limit:
        raise bad_value(
            f"{field} is too long ({len(text)} characters, at most {limit})",
            f"shorten the {field}",
        )
