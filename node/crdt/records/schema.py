"""The one body-schema checker used by every record handler.

A schema is a dict ``field name -> Field``. Checking is strict: unknown fields, missing
required fields and wrong types are all rejected with ``Rejected("bad_body", detail)``, where
the detail names the op kind and the field path, so an author can see what to fix. Strictness
matters for determinism: two nodes must never disagree about whether a body is acceptable.

Validators are small closures (``text(200)``, ``integer(0)``, ``list_of(...)``); each takes a
value and returns an error message or ``None``. There are no floats: bodies carry integers
(minutes, milliseconds, metres) or ``[num, den]`` pairs.

Every free text of every record (titles, names, notes, tags, units, proposal text and
options...) goes through one rule, :func:`text` (``specs/records.md`` §2 "Text"): no control
character and no bidirectional override, so that nothing a hostile key signs can take over
another member's terminal or disguise itself, on any node and whatever client shows it; only
multi-line fields (``lines=True``) may hold line feeds and tabs; a required text (``min_len``
>= 1) must hold something other than whitespace.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ..state import Rejected
from ..text import MULTILINE_ALLOWED, UNSAFE

Validator = Callable[[Any], str | None]

MAX_INT = 2**63 - 1
GEOHASH_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"
_CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}(/[a-z0-9][a-z0-9_-]{0,39}){0,7}$")


class Field(NamedTuple):
    check: Validator
    required: bool = True


def opt(check: Validator) -> Field:
    return Field(check, required=False)


def check_body(kind: str, body: Mapping[str, Any], schema: Mapping[str, Field]) -> Mapping:
    """Raise ``Rejected("bad_body")`` unless ``body`` matches ``schema`` exactly."""
    problem = _problem(body, schema)
    if problem is not None:
        raise Rejected("bad_body", f"{kind}: {problem}")
    return body


_REQUIRED: dict[int, tuple[Mapping[str, Field], frozenset[str], tuple[str, ...]]] = {}


def _required(schema: Mapping[str, Field]) -> tuple[frozenset[str], tuple[str, ...]]:
    """Required field names of a schema, as a set (the fast check) and in schema order (to
    name the first one missing). Schemas are module constants: cached by identity."""
    hit = _REQUIRED.get(id(schema))
    if hit is None or hit[0] is not schema:
        names = tuple(n for n, f in schema.items() if f.required)
        hit = _REQUIRED[id(schema)] = (schema, frozenset(names), names)
    return hit[1], hit[2]


def _problem(body: Any, schema: Mapping[str, Field]) -> str | None:
    if type(body) is not dict:
        return "must be a map"
    spec_of = schema.get
    for name, value in body.items():
        spec = spec_of(name)
        if spec is None:
            return f"unknown field {name!r}"
        msg = spec[0](value)  # spec.check (index: cheaper than the NamedTuple property)
        if msg is not None:
            return f"field {name!r}: {msg}"
    required, in_order = _required(schema)
    if required <= body.keys():
        return None
    for name in in_order:
        if name not in body:
            return f"missing field {name!r}"
    return None


# --------------------------------------------------------------------------- validators
# Characters no text may hold (specs/records.md §2): the one list, node/crdt/text.py (the CLI
# escapes the same ones on output: stores written before this rule may hold them). LF and TAB
# are allowed in multi-line fields only.
LINE_BREAKS = frozenset(ord(c) for c in MULTILINE_ALLOWED)


def _char_class(codes: frozenset[int]) -> re.Pattern[str]:
    return re.compile("[" + "".join(f"\\u{c:04x}" for c in sorted(codes)) + "]")


# lines? -> the search for a refused character (looked up at each check, so that a test can
# build a store as a node from before the rule wrote it).
SEARCH = {False: _char_class(UNSAFE).search, True: _char_class(UNSAFE - LINE_BREAKS).search}


def text(max_len: int, *, min_len: int = 0, lines: bool = False) -> Validator:
    """Free text of ``min_len..max_len`` characters under the one text rule (module doc)."""
    allowed = "but line feeds and tabs" if lines else "(one line: no line break or tab)"

    def check(x: Any) -> str | None:
        if type(x) is not str:
            return "must be text"
        if not min_len <= len(x) <= max_len:
            return f"length must be {min_len}..{max_len}"
        found = SEARCH[lines](x)
        if found is not None:
            return (
                f"holds U+{ord(found.group()):04X} at index {found.start()}: no control "
                f"character or bidirectional override {allowed}"
            )
        if min_len and x.isspace():
            return "must hold more than whitespace"
        return None

    return check


def plain_text(max_len: int, *, min_len: int = 0, multiline: bool = True) -> Validator:
    """:func:`text`, multi-line unless told otherwise (the discussion records' name for it)."""
    return text(max_len, min_len=min_len, lines=multiline)


def integer(lo: int = 0, hi: int = MAX_INT) -> Validator:
    def check(x: Any) -> str | None:
        if type(x) is not int:
            return "must be an integer"
        if not lo <= x <= hi:
            return f"must be in {lo}..{hi}"
        return None

    return check


def boolean(x: Any) -> str | None:
    return None if type(x) is bool else "must be true or false"


def one_of(*values: str) -> Validator:
    allowed = frozenset(values)

    def check(x: Any) -> str | None:
        return None if x in allowed and type(x) is str else f"must be one of {sorted(allowed)}"

    return check


def key32(x: Any) -> str | None:
    """A 32-byte public key or op id."""
    return None if type(x) is bytes and len(x) == 32 else "must be 32 bytes"


def list_of(item: Validator, max_items: int, *, unique: bool = False) -> Validator:
    def check(x: Any) -> str | None:
        if type(x) is not list:
            return "must be a list"
        if len(x) > max_items:
            return f"at most {max_items} items"
        for i, v in enumerate(x):
            msg = item(v)
            if msg is not None:
                return f"item {i}: {msg}"
        if unique and len({repr(v) for v in x}) != len(x):
            return "items must be distinct"
        return None

    return check


def record(schema: Mapping[str, Field]) -> Validator:
    return lambda x: _problem(x, schema)


def pattern(regex: re.Pattern[str], what: str) -> Validator:
    def check(x: Any) -> str | None:
        if type(x) is not str or not regex.match(x):
            return f"must be {what}"
        return None

    return check


category = pattern(_CATEGORY, 'a lowercase "/"-path such as "tools/power/drill"')
_ASCII_UPPER = re.compile("[A-Z]")


def skill(x: Any) -> str | None:
    """A skill tag in any script ("électronique", "木工", "bike-repair"): 1..64 characters
    under the text rule, no whitespace, no ASCII capital, not starting with ``_``, ``/`` or
    ``-``. Case in other scripts is the writer's (clients lower-case what they send): a rule
    that every node applies alike must not lean on a Unicode case table, which differs
    between Python versions."""
    msg = text(64, min_len=1)(x)
    if msg is not None:
        return msg
    if any(c.isspace() for c in x) or _ASCII_UPPER.search(x) or x[0] in "_/-":
        return "must be a skill tag: no space or capital, not starting with _, / or -"
    return None


def geohash(max_len: int = 12) -> Validator:
    def check(x: Any) -> str | None:
        if type(x) is not str or not 1 <= len(x) <= max_len:
            return f"must be a geohash of 1..{max_len} characters"
        if any(c not in GEOHASH_ALPHABET for c in x):
            return "must use the geohash alphabet"
        return None

    return check


def window(x: Any) -> str | None:
    """A time window ``[start_ms, end_ms]`` with start < end."""
    if type(x) is not list or len(x) != 2 or any(type(v) is not int for v in x):
        return "must be [start_ms, end_ms]"
    if not 0 <= x[0] < x[1] <= MAX_INT:
        return "start must be before end"
    return None


def ratio(x: Any) -> str | None:
    """An exact fraction ``[num, den]`` with den > 0."""
    if type(x) is not list or len(x) != 2 or any(type(v) is not int for v in x):
        return "must be [num, den]"
    return None if x[1] > 0 else "den must be positive"


QUANTITY = {"amount": Field(integer(1)), "unit": Field(text(32, min_len=1))}
quantity = record(QUANTITY)
url = text(2048, min_len=1)
