"""What a well-formed choice is, for each method. One rule, used twice: the ballot handler
rejects a malformed ballot (``bad_choice``), and a method treats one as spoiled. ``None``
(abstain) is well formed everywhere and is handled by the callers.

Each check is ``check(choice, options: set, params) -> bool`` and looks only at the choice's
shape, so it is cheap (a ballot is checked once per ingest, however heavy the method).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from typing import Any

Check = Callable[[Any, Set[str], Mapping[str, Any]], bool]


def words(*allowed: str) -> Check:
    return lambda ch, opts, p: type(ch) is str and ch in allowed


def one_option(ch, opts, p) -> bool:
    return type(ch) is str and ch in opts


def option_list(ch, opts, p) -> bool:
    """Distinct options: an approval set, or a (partial) ranking, most preferred first."""
    return (
        type(ch) is list
        and all(type(o) is str and o in opts for o in ch)
        and len(set(ch)) == len(ch)
    )


def scores(ch, opts, p) -> bool:
    top = int(p.get("max_score", 5))
    return type(ch) is dict and all(
        o in opts and type(s) is int and 0 <= s <= top for o, s in ch.items()
    )


def votes(ch, opts, p) -> bool:
    credits = int(p.get("credits", 100))
    return (
        type(ch) is dict
        and all(o in opts and type(v) is int for o, v in ch.items())
        and sum(v * v for v in ch.values()) <= credits
    )


CHECKS: dict[str, Check] = {
    "basic": words("yes", "no"),
    "consent": words("consent", "object"),
    "single": one_option,
    "approval": option_list,
    "irv": option_list,
    "schulze": option_list,
    "score": scores,
    "quadratic": votes,
}


def valid_choice(method: str, choice: Any, options, params: Mapping | None = None) -> bool:
    return choice is None or CHECKS[method](choice, set(options), params or {})
