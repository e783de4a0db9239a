"""Output: --json for scripts, rich tables for people; short ids and relative times.

Every command builds one plain JSON-able value and hands it to :func:`emit` with a function
that renders it for humans, so the two outputs can never disagree.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

from node.crdt.text import UNSAFE
from node.service.words import (
    SHORT_ID,
    rel_time,  # noqa: F401  (one implementation, both faces)
)

from .errors import UserError, bad_value, not_found

HEX_MIN = 8  # shortest prefix shown for hex op ids
PEER_MIN = SHORT_ID  # member ids all start with "12D3KooW"


def console(stderr: bool = False):
    import os

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped output is not squeezed to 80 columns: tables stay readable in logs and tests.
    width = None if stream.isatty() else int(os.environ.get("COLUMNS", "160"))
    return Console(file=SafeWriter(stream), highlight=False, soft_wrap=False, width=width)


_SGR = re.compile("(\x1b\\[[0-9;]*m)")


class SafeWriter:
    """The last guard between rich and the terminal: the only control sequences that pass
    are rich's own colours and styles (SGR, ``ESC [ ... m``) and line breaks; any other
    unsafe character is written as a visible escape, whatever a renderer forgot."""

    def __init__(self, stream: Any):
        self.stream = stream

    def write(self, text: str) -> int:
        parts = _SGR.split(text)
        out = "".join(p if i % 2 else p.translate(_ESCAPES_KEEP_NL) for i, p in enumerate(parts))
        return self.stream.write(out)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", "utf-8")


# UNSAFE: characters a member could write to take over another member's terminal or to
# disguise text (one list for the records' rule, the input check and this escaping).
_ESCAPES = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in UNSAFE}
_ESCAPES.update({0x0A: "\\n", 0x09: "\\t", 0x0D: "\\r"})
_ESCAPES_KEEP_NL = {c: v for c, v in _ESCAPES.items() if c != 0x0A}
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in UNSAFE if c >= 0x7F}  # json.dumps does the C0 ones


def safe_text(text: str) -> str:
    """``text`` with every unsafe character shown as a visible escape (``\\x1b``,
    ``\\u202e``, ``\\n``): what a member wrote is displayed, never obeyed."""
    return text.translate(_ESCAPES)


def safe_markup(text: str) -> str:
    """:func:`safe_text`, and rich's markup (``[bold]``) escaped: printed as written."""
    from rich.markup import escape

    return escape(safe_text(text))


def _safe_deep(x: Any) -> Any:
    if isinstance(x, str):
        return safe_markup(x)
    if isinstance(x, dict):
        return {_safe_deep(k): _safe_deep(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_safe_deep(v) for v in x]
    return x


def json_text(data: Any) -> str:
    """JSON for scripts; the unsafe characters above 0x7e as \\u escapes too (json.dumps
    escapes the C0 ones), so the same value decodes and a terminal shows it inert."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False).translate(_JSON_ESCAPES)


def to_jsonable(x: Any) -> Any:
    if isinstance(x, bytes):
        return x.hex()
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in x]
    if hasattr(x, "numerator") and hasattr(x, "denominator") and not isinstance(x, int):
        return [x.numerator, x.denominator]  # Fraction: exact, never a float
    if hasattr(x, "_asdict"):
        return to_jsonable(x._asdict())
    if hasattr(x, "__dataclass_fields__"):
        import dataclasses

        return to_jsonable(dataclasses.asdict(x))
    return x


def emit(ctx_obj: Any, data: Any, render: Callable[[Any, Any], None] | None = None) -> None:
    data = to_jsonable(data)
    if ctx_obj.json or render is None:
        sys.stdout.write(json_text(data) + "\n")
    else:
        # Every text the renderer gets is inert: members write titles, names, skills...
        render(console(), _safe_deep(data))


def emit_table(
    ctx_obj: Any,
    rows: Any,
    columns: Iterable[str],
    cells: Callable[[Any], Iterable[Any]],
    title: str | Callable[[int], str] | None = None,
    more: str = "",
) -> None:
    """``rows`` as JSON, or as a table with one line per row (``cells(row)``: its values);
    ``title`` may say ``{n}``, the number of rows, or be made from it (``counted``). ``more``: a line said under the table when
    the rows are one page of more (JSON stays the plain list of rows)."""

    def render(c, d):
        heading = title(len(d)) if callable(title) else title and title.format(n=len(d))
        c.print(table(heading, columns, map(cells, d)))
        if more:
            c.print(more, markup=False)

    emit(ctx_obj, rows, render)


def more_line(more: bool, limit: int, page: int) -> str:
    if not more:
        return ""
    return f"(page {page}: more with --page {page + 1}, or --limit 0 for all)"


def table(title: str | None, columns: Iterable[str], rows: Iterable[Iterable[Any]]):
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    return t


def _common_len(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _minimum(ident: str) -> int:
    return PEER_MIN if ident.startswith("12D3KooW") else HEX_MIN


def unique_prefixes(ids: Iterable[str]) -> dict[str, str]:
    """Each id's shortest prefix (at least the minimum length) that no other id shares, for
    every id at once in O(n log n): once the ids are sorted, the id sharing the longest prefix
    with a given one is a neighbour of it. Prefixes are compared case-insensitively, as
    :func:`resolve` reads them."""
    folded = sorted({i.lower(): i for i in ids if i}.items())
    out: dict[str, str] = {}
    for k, (low, ident) in enumerate(folded):
        n = _minimum(ident)
        if k > 0:
            n = max(n, _common_len(low, folded[k - 1][0]) + 1)
        if k + 1 < len(folded):
            n = max(n, _common_len(low, folded[k + 1][0]) + 1)
        out[ident] = ident[: min(n, len(ident))]
    return out


def shortest_unique(ident: str, others: Iterable[str]) -> str:
    """Shortest prefix of ``ident`` (at least the minimum length) that no other id shares."""
    return unique_prefixes([ident, *others])[ident]


class Shortener:
    """Shortens ids against the whole set of ids shown in one output (computed once)."""

    def __init__(self, ids: Iterable[str]):
        self.prefixes = unique_prefixes(ids)

    def __call__(self, ident: str | None) -> str:
        if not ident:
            return ""
        return self.prefixes.get(ident) or shortest_unique(ident, self.prefixes)


def resolve(prefix: str, candidates: Iterable[str], what: str, listing: str = "") -> str:
    """Expand a user-typed prefix to the one full id it names. ``listing``: the command that
    lists the candidates (default: `we WHAT list`)."""
    prefix = prefix.strip()
    if not prefix:
        raise bad_value(f"empty {what} id")
    cands = list(dict.fromkeys(candidates))
    if prefix in cands:
        return prefix
    hits = [c for c in cands if c.lower().startswith(prefix.lower())]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        listing = listing or " or ".join(f"`we {w} list`" for w in what.split(" or "))
        raise not_found(what, prefix, f"list them with {listing}")
    raise UserError(
        f"{what} id {prefix!r} is ambiguous ({len(hits)} match)",
        hint="type more characters of the id",
        code="ambiguous",
        exit_code=3,
    )


def now_ms() -> int:
    return int(time.time() * 1000)


def bar(fraction_num: int, fraction_den: int, width: int = 24) -> str:
    """A terminal bar for an exact share (integer arithmetic, no floats)."""
    if fraction_den <= 0:
        return "·" * width
    filled = (fraction_num * width * 2 + fraction_den) // (fraction_den * 2)
    filled = max(0, min(width, filled))
    return "█" * filled + "·" * (width - filled)


def exact(x: Any) -> Fraction:
    """An exact number from the API: int, [num, den] or "num/den"."""
    if x is None:
        return Fraction(0)
    if isinstance(x, list) and len(x) == 2:
        return Fraction(int(x[0]), int(x[1]))
    return Fraction(x)


def num_text(x: Any) -> str:
    f = exact(x)
    if f.denominator == 1:
        return str(f.numerator)
    h = (f.numerator * 200 + f.denominator) // (2 * f.denominator)
    return f"{h // 100}.{h % 100:02d}"


def pct_text(x: Any) -> str:
    f = exact(x) * 100
    tenths = (f.numerator * 20 + f.denominator) // (2 * f.denominator)
    return f"{tenths // 10}.{tenths % 10}%" if tenths % 10 else f"{tenths // 10}%"
