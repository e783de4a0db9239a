"""Parsing what people type: dates, durations, quantities. Errors say what was expected.

Shared by both faces (the `we` CLI and the web app): a bad value raises
:class:`node.service.words.BadValue`, which each face turns into its own error (the CLI: exit 2).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta

from .words import BadValue

_DUR = re.compile(r"^\s*(\d+)\s*(s|m|min|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

DATE_HELP = "a date: YYYY-MM-DD, YYYY-MM-DDTHH:MM (UTC), 'now', or a delay like +2h, +30m, +7d"


def duration_seconds(text: str) -> int:
    m = _DUR.match(text)
    if not m:
        raise BadValue(f"bad duration {text!r}", "use a number and a unit: 30m, 2h, 7d, 2w")
    return int(m.group(1)) * _UNITS[m.group(2)]


def parse_when(text: str, *, now: datetime | None = None) -> int:
    """A point in time as milliseconds since the epoch (UTC)."""
    now = now or datetime.now(UTC)
    t = text.strip()
    if t == "now":
        return int(now.timestamp() * 1000)
    if t.startswith("+") or t.startswith("in "):
        secs = duration_seconds(t.removeprefix("+").removeprefix("in "))
        return int((now + timedelta(seconds=secs)).timestamp() * 1000)
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise BadValue(f"bad date {text!r}", f"expected {DATE_HELP}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def parse_window(text: str) -> list[int]:
    """An availability window START..END."""
    if ".." not in text:
        raise BadValue(f"bad window {text!r}", "write START..END, e.g. 2026-12-01..2026-12-05")
    a, b = text.split("..", 1)
    start, end = parse_when(a), parse_when(b)
    if end <= start:
        raise BadValue(f"bad window {text!r}: it ends before it starts")
    return [start, end]


GEOHASH_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"
_CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}(/[a-z0-9][a-z0-9_-]{0,39}){0,7}$")
DAY_MS = 86_400_000
MAX_EXPIRY_MS = 365 * DAY_MS  # the records' bound: at most one year ahead


def parse_geohash(text: str, option: str, max_len: int = 12) -> str:
    g = text.strip().lower()
    bad = sorted({c for c in g if c not in GEOHASH_ALPHABET})
    if not 1 <= len(g) <= max_len or bad:
        why = f"it has {', '.join(map(repr, bad))}" if bad else f"1 to {max_len} characters"
        raise BadValue(
            f"{option} {text!r} is not a geohash ({why})",
            "a geohash uses 0-9 and b-z without a, i, l, o, e.g. u0vu1 "
            "(fewer characters: a larger area)",
        )
    return g


def parse_category(text: str, option: str = "--category") -> str:
    c = text.strip().lower()
    if not _CATEGORY.match(c):
        raise BadValue(
            f"{option} {text!r} is not a category",
            'write a "/"-path of lowercase words, digits, - or _, e.g. tools/power/drill',
        )
    return c


def parse_skill(text: str) -> str:
    """A skill tag: lower-cased, spaces become ``-`` (the records rule: ``schema.skill``)."""
    from node.crdt.records.schema import skill

    s = "-".join(unicodedata.normalize("NFC", text).lower().split())
    if skill(s) is not None:
        raise BadValue(
            f"--skill {text!r} is not a skill tag",
            "write a word or two, e.g. electronics, bike-repair or électronique",
        )
    return s


def parse_expiry(text: str, option: str = "--expires") -> int:
    import time

    at, now = parse_when(text), int(time.time() * 1000)
    if at <= now:
        raise BadValue(f"{option} {text} is in the past", "give a later date, e.g. +30d")
    if at > now + MAX_EXPIRY_MS:
        raise BadValue(
            f"{option} {text} is more than a year away", "give at most one year, e.g. +365d"
        )
    return at


def parse_hours(text: str) -> int:
    """Hours as integer minutes (bodies carry no floats): '2', '1.5', '90m'."""
    t = text.strip()
    if t.endswith("m") and t[:-1].isdigit() and int(t[:-1]) >= 1:
        return int(t[:-1])
    m = re.fullmatch(r"(\d+)(?:\.(\d{1,2}))?h?", t)
    if not m:
        raise BadValue(
            f"bad effort {text!r}", "give hours like 2, 1.5 or 1.25, or minutes like 90m"
        )
    whole = int(m.group(1)) * 60
    frac = m.group(2) or "0"
    minutes = whole + (int(frac) * 60) // (10 ** len(frac))
    if minutes < 1:
        raise BadValue(f"bad effort {text!r}: it must be at least one minute")
    if minutes > MAX_EFFORT_MINUTES:
        raise BadValue(
            f"effort {text!r} is more than {MAX_EFFORT_MINUTES // 60} hours",
            "record a long effort as several contributions, one per stretch of work",
        )
    return minutes


MAX_EFFORT_MINUTES = 1000 * 60  # one contribution; more is a typo, not a month's work


def parse_share(text: str) -> list[int]:
    """A share as an exact fraction [num, den]: '50%', '2/3', '0.5'."""
    t = text.strip()
    try:
        if t.endswith("%"):
            from fractions import Fraction

            f = Fraction(t[:-1]) / 100
        else:
            from fractions import Fraction

            f = Fraction(t)
    except (ValueError, ZeroDivisionError):
        raise BadValue(
            f"bad share {text!r}", "use a percentage (50%), a fraction (2/3) or 0.5"
        ) from None
    if not 0 <= f <= 1:
        raise BadValue(f"share {text!r} must be between 0 and 100%")
    return [f.numerator, f.denominator]
