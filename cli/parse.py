"""Parsing what people type: dates, durations, quantities. Errors say what was expected."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from .errors import bad_value

_DUR = re.compile(r"^\s*(\d+)\s*(s|m|min|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

DATE_HELP = "a date: YYYY-MM-DD, YYYY-MM-DDTHH:MM (UTC), 'now', or a delay like +2h, +30m, +7d"


def duration_seconds(text: str) -> int:
    m = _DUR.match(text)
    if not m:
        raise bad_value(f"bad duration {text!r}", "use a number and a unit: 30m, 2h, 7d, 2w")
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
        raise bad_value(f"bad date {text!r}", f"expected {DATE_HELP}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def parse_window(text: str) -> list[int]:
    """An availability window START..END."""
    if ".." not in text:
        raise bad_value(f"bad window {text!r}", "write START..END, e.g. 2026-12-01..2026-12-05")
    a, b = text.split("..", 1)
    start, end = parse_when(a), parse_when(b)
    if end <= start:
        raise bad_value(f"bad window {text!r}: it ends before it starts")
    return [start, end]


def parse_hours(text: str) -> int:
    """Hours as integer minutes (bodies carry no floats): '2', '1.5', '90m'."""
    t = text.strip()
    if t.endswith("m") and t[:-1].isdigit() and int(t[:-1]) >= 1:
        return int(t[:-1])
    m = re.fullmatch(r"(\d+)(?:\.(\d{1,2}))?h?", t)
    if not m:
        raise bad_value(
            f"bad effort {text!r}", "give hours like 2, 1.5 or 1.25, or minutes like 90m"
        )
    whole = int(m.group(1)) * 60
    frac = m.group(2) or "0"
    minutes = whole + (int(frac) * 60) // (10 ** len(frac))
    if minutes < 1:
        raise bad_value(f"bad effort {text!r}: it must be at least one minute")
    return minutes


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
        raise bad_value(
            f"bad share {text!r}", "use a percentage (50%), a fraction (2/3) or 0.5"
        ) from None
    if not 0 <= f <= 1:
        raise bad_value(f"share {text!r} must be between 0 and 100%")
    return [f.numerator, f.denominator]
