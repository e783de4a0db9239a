"""What the pages show, computed from the node's views: names, charts (geometry only: the
templates draw the SVG, escaped), the reservation calendar, ballot values from form fields.

Nothing here decides anything the node decides: a ballot value is built from the form and
the node's rules accept or reject it; a chart only scales the numbers the tally returned.
"""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

DAY_MS = 86_400_000
HELD = ("accepted", "handed_over")


def now_ms() -> int:
    return int(time.time() * 1000)


def frac(x: Any) -> Fraction:
    """A view's exact number ("n/d", "n", [n, d], int, None) as a Fraction."""
    if x is None:
        return Fraction(0)
    if isinstance(x, list | tuple):
        return Fraction(int(x[0]), int(x[1]))
    return Fraction(str(x))


def number_text(x: Any) -> str:
    f = frac(x)
    return str(f.numerator) if f.denominator == 1 else f"{float(f):.2f}"


def when(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def names(members: list[dict]) -> dict[str, str]:
    """member key hex -> how the member is shown (``words.member_labels``, as in the CLI)."""
    from node.identity import member_id

    from ..words import SHORT_ID, member_labels

    rows = []
    for m in members:
        profile = (m.get("profile") or {}).get("fields") or m.get("profile") or {}
        short = member_id(bytes.fromhex(m["member"]))[:SHORT_ID]
        rows.append((m["member"], profile.get("display_name") or "", short))
    return member_labels(rows)


# ---- charts ---------------------------------------------------------------------------------
def bars(totals: dict[str, Any], winner: str | None = None, width: int = 320) -> dict:
    """A horizontal bar chart of ``totals`` (option -> exact number), longest = ``width``."""
    values = {k: frac(v) for k, v in totals.items()}
    top = max([v for v in values.values() if v > 0] or [Fraction(1)])
    rows = []
    for i, (label, v) in enumerate(values.items()):
        length = max(0, round(float(v / top) * width)) if v > 0 else 0
        rows.append(
            {
                "label": label,
                "value": number_text(v),
                "y": i * 28,
                "w": length,
                "winner": label == winner,
            }
        )
    return {"rows": rows, "height": max(28, 28 * len(rows)), "width": width}


def score_lines(series: dict[str, list[tuple[int, Fraction]]], w: int = 560, h: int = 200):
    """Polylines of scores over time (member -> [(t_ms, score)]), in a w x h box."""
    points = [p for s in series.values() for p in s]
    if not points:
        return {"lines": [], "w": w, "h": h, "ymax": "0", "t0": "", "t1": ""}
    t0, t1 = min(p[0] for p in points), max(p[0] for p in points)
    ymax = max([p[1] for p in points if p[1] > 0] or [Fraction(1)])
    span = max(1, t1 - t0)
    lines = []
    for i, (member, pts) in enumerate(series.items()):
        xy = " ".join(
            f"{round((t - t0) / span * w)},{round(h - float(v / ymax) * h)}" for t, v in pts
        )
        lines.append({"member": member, "points": xy, "n": i % 6, "last": number_text(pts[-1][1])})
    return {
        "lines": lines,
        "w": w,
        "h": h,
        "ymax": number_text(ymax),
        "t0": when(t0)[:10],
        "t1": when(t1)[:10],
    }


def score_times(now: int, days: int = 90, steps: int = 12) -> list[int]:
    return [now - (days * DAY_MS * (steps - i)) // steps for i in range(steps + 1)]


# ---- reservation calendar -------------------------------------------------------------------
def month_grid(month: str | None, offer: dict, reservations: list[dict]) -> dict:
    """Weeks (Monday first) of ``month`` ("YYYY-MM", default this month, UTC) with each day's
    state for this offer: "held" (an accepted loan covers it), "asked" (a request waits),
    "open" (inside an availability window, or the offer has none), "off"."""
    today = datetime.now(UTC)
    try:
        y, m = (int(x) for x in (month or "").split("-"))
        datetime(y, m, 1)
    except ValueError:
        y, m = today.year, today.month
    windows = offer.get("windows") or []
    weeks = []
    for week in calendar.Calendar(0).monthdatescalendar(y, m):
        row = []
        for d in week:
            start = int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)
            end = start + DAY_MS
            over = [r for r in reservations if r["window"][0] < end and start < r["window"][1]]
            if any(r["status"] in HELD for r in over):
                state = "held"
            elif any(r["status"] == "requested" for r in over):
                state = "asked"
            elif not windows or any(a < end and start < z for a, z in windows):
                state = "open"
            else:
                state = "off"
            row.append(
                {"day": d.day, "iso": d.isoformat(), "in_month": d.month == m, "state": state}
            )
        weeks.append(row)
    first = datetime(y, m, 1)
    prev = (first - timedelta(days=1)).strftime("%Y-%m")
    nxt = (first + timedelta(days=32)).strftime("%Y-%m")
    return {"title": first.strftime("%B %Y"), "weeks": weeks, "prev": prev, "next": nxt}


def day_ms(iso: str) -> int:
    """A "YYYY-MM-DD" day (UTC) as ms at its start."""
    d = datetime.fromisoformat(iso.strip())
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)


# ---- ballots --------------------------------------------------------------------------------
FIXED = {"basic": ["yes", "no"], "consent": ["consent", "object"]}


def choices(p: dict) -> list[str]:
    return FIXED.get(p.get("method", "basic")) or list(p.get("options") or [])


class BallotError(ValueError):
    pass


def ballot_value(p: dict, form: Any) -> Any:
    """The ballot value the form describes, in the shape ``ballot.cast`` takes for the
    proposal's method (the node checks it against its rules)."""
    method = p.get("method", "basic")
    opts = choices(p)
    if form.get("abstain"):
        return None
    if method in ("basic", "single", "consent"):
        pick = form.get("choice")
        if pick not in opts:
            raise BallotError("pick one of the choices (or abstain)")
        return pick
    if method == "approval":
        return [o for i, o in enumerate(opts) if form.get(f"opt{i}")]
    if method in ("irv", "schulze"):
        ranks = []
        for i, o in enumerate(opts):
            text = (form.get(f"rank{i}") or "").strip()
            if text:
                if not text.isdigit() or int(text) < 1:
                    raise BallotError(f"rank of {o!r}: a whole number from 1, or empty")
                ranks.append((int(text), i, o))
        seen = [r for r, _, _ in ranks]
        if len(seen) != len(set(seen)):
            raise BallotError("two options share a rank: give each a different number")
        return [o for _, _, o in sorted(ranks)]
    out = {}
    for i, o in enumerate(opts):  # score, quadratic
        text = (form.get(f"n{i}") or "").strip()
        if text:
            if not text.lstrip("-").isdigit():
                raise BallotError(f"{o!r}: a whole number")
            out[o] = int(text)
    return out
