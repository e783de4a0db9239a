"""What a well-formed choice is, for each method. One rule, used twice: the ballot handler
rejects a malformed ballot (``bad_choice``), and a method treats one as spoiled. ``None``
(abstain) is well formed everywhere and is handled by the callers.

Each check is ``check(choice, options: set, params) -> bool`` and looks only at the choice's
shape, so it is cheap (a ballot is checked once per ingest, however heavy the method).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from typing import Any, NamedTuple

Check = Callable[[Any, Set[str], Mapping[str, Any]], bool]


class Param(NamedTuple):
    """A proposal parameter a method reads (governance §1.1 ``params``)."""

    name: str
    default: int
    least: int
    most: int


MAX_SCORE = Param("max_score", 5, 1, 1000)  # score: each option scores 0..max_score
CREDITS = Param("credits", 100, 1, 10**6)  # quadratic: the sum of squared votes is at most this
PARAMS = {"score": (MAX_SCORE,), "quadratic": (CREDITS,)}


def method_params(method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` with the default of each parameter ``method`` reads filled in: the limits a
    voter must know (a proposal that does not set them still has them)."""
    given = dict(params or {})
    return {**{p.name: p.default for p in PARAMS.get(method, ())}, **given}


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
    top = int(p.get("max_score", MAX_SCORE.default))
    return type(ch) is dict and all(
        o in opts and type(s) is int and 0 <= s <= top for o, s in ch.items()
    )


def votes(ch, opts, p) -> bool:
    credits = int(p.get("credits", CREDITS.default))
    return (
        type(ch) is dict
        and all(o in opts and type(v) is int for o, v in ch.items())
        and sum(v * v for v in ch.values()) <= credits
    )


WORDS = {"basic": ("yes", "no"), "consent": ("consent", "object")}
CHECKS: dict[str, Check] = {
    "basic": words(*WORDS["basic"]),
    "consent": words(*WORDS["consent"]),
    "single": one_option,
    "approval": option_list,
    "irv": option_list,
    "schulze": option_list,
    "score": scores,
    "quadratic": votes,
}


def valid_choice(method: str, choice: Any, options, params: Mapping | None = None) -> bool:
    return choice is None or CHECKS[method](choice, set(options), params or {})


def why_invalid(method: str, choice: Any, options, params: Mapping | None = None) -> str | None:
    """Why ``choice`` is no ballot of ``method`` (the rule it breaks, with the limit), or
    None when it is one: what the voter is told when the ballot is refused."""
    if valid_choice(method, choice, options, params):
        return None
    opts, p = list(options), method_params(method, params)
    listed = ", ".join(opts)
    if method in ("basic", "consent"):
        return f"{_a(method)} ballot is one of {', '.join(WORDS[method])} (or abstain)"
    if method == "single":
        return f"a single ballot names one option of: {listed}"
    named = choice if type(choice) is list else list(choice) if type(choice) is dict else []
    unknown = [o for o in named if o not in opts]
    if unknown:
        return f"{unknown[0]!r} is not an option of this proposal (options: {listed})"
    if method in ("approval", "irv", "schulze"):
        if type(choice) is not list:
            return f"{_a(method)} ballot is a list of options"
        return f"{_a(method)} ballot names each option at most once"
    if type(choice) is not dict or not all(type(v) is int for v in choice.values()):
        return f"{_a(method)} ballot gives each option a whole number"
    if method == "score":
        top = p["max_score"]
        bad = next(f"{o}={s}" for o, s in choice.items() if not 0 <= s <= top)
        return f"scores go from 0 to {top} ({bad} is outside)"
    spent = sum(v * v for v in choice.values())
    return (
        f"quadratic: the squares of your votes add up to {spent:,}, "
        f"over the {p['credits']:,} credits"
    )


def _a(method: str) -> str:
    return ("an " if method[0] in "aeiou" else "a ") + method
