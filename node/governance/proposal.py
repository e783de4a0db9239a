"""Proposal bodies: schema, defaults, and which version an op has seen.

A proposal is created by ``proposal.create`` and may be changed by its author with
``proposal.edit`` before it opens. Every version is kept (``versions`` in the proposal row, in
the author's chain order), and each rule that needs the proposal asks for the version in the
causal past of the op being judged, so the verdict never depends on delivery order.

Fractions travel as ``[num, den]`` pairs (bodies carry no floats).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from ..crdt.causal import CausalIndex, OpMeta
from ..crdt.op import canonical
from ..crdt.records.community import AMENDMENT, voting_rule
from ..crdt.records.schema import check_body, text
from ..crdt.state import Rejected
from .choices import CREDITS, MAX_SCORE
from .outcome import METHODS, Rules

PROPOSAL = "gov.proposal"
BASES = ("equal", "score", "sqrt_score")
ACTIONS = ("charter.amend", "member.remove")
OPTIONLESS = ("basic", "consent")  # their choices are fixed words, not options
MAX_OPTIONS, MAX_WITNESSES = 64, 31
FIELDS = {
    "title",
    "text",
    "options",
    "method",
    "params",
    "weights",
    "quorum",
    "threshold",
    "abstain_counts_quorum",
    "opens",
    "closes",
    "witnesses",
    "topic",
    "action",
}


# Free text under the records' one text rule (specs/records.md §2): no control character or
# bidirectional override; only the proposal's text may hold line feeds and tabs.
TITLE, TEXT, OPTION, TOPIC = (
    text(200, min_len=1),
    text(20_000, lines=True),
    text(100, min_len=1),
    text(64),
)


def bad(detail: str) -> Rejected:
    return Rejected("bad_body", detail)


def check_text(name: str, value: Any, rule) -> None:
    problem = rule(value)
    if problem is not None:
        raise bad(f"{name}: {problem}")


def is_frac(x: Any) -> bool:
    return (
        type(x) is list
        and len(x) == 2
        and all(type(v) is int for v in x)
        and 0 <= x[0] <= x[1]
        and x[1] > 0
    )


def frac(x: list) -> Fraction:
    return Fraction(x[0], x[1])


def is_key(x: Any) -> bool:
    return type(x) is bytes and len(x) == 32


def check_proposal(body: Mapping[str, Any]) -> None:
    """Raise ``Rejected("bad_body")`` unless ``body`` is a complete, well-formed proposal."""
    unknown = set(body) - FIELDS
    if unknown:
        raise bad(f"unknown field(s) {sorted(unknown)}")
    check_text("title", body.get("title"), TITLE)
    check_text("text", body.get("text", ""), TEXT)
    method = body.get("method")
    if method not in METHODS:
        raise bad(f"method must be one of {sorted(METHODS)}")
    options = body.get("options", [])
    if (
        type(options) is not list
        or len(options) > MAX_OPTIONS
        or len(set(options)) != len(options)
        or not all(type(o) is str for o in options)
    ):
        raise bad("options: up to 64 distinct non-empty texts")
    for i, option in enumerate(options):
        check_text(f"options item {i}", option, OPTION)
    if (method in OPTIONLESS) != (not options):
        raise bad(f"options: {method} needs {'none' if method in OPTIONLESS else 'at least one'}")
    _check_params(body.get("params", {}))
    weights = body.get("weights", {"base": "equal"})
    if type(weights) is not dict or set(weights) - {"base", "cap"}:
        raise bad("weights: {base, cap?}")
    if weights.get("base", "equal") not in BASES:
        raise bad(f"weights.base must be one of {BASES}")
    if "cap" in weights and not (is_frac(weights["cap"]) and weights["cap"][0] > 0):
        raise bad("weights.cap: [num, den] in (0, 1]")
    for name in ("quorum", "threshold"):
        if name in body and not is_frac(body[name]):
            raise bad(f"{name}: [num, den] in [0, 1]")
    if type(body.get("abstain_counts_quorum", True)) is not bool:
        raise bad("abstain_counts_quorum: true or false")
    opens, closes = body.get("opens"), body.get("closes")
    if type(opens) is not int or type(closes) is not int or not 0 <= opens < closes:
        raise bad("opens < closes, integer milliseconds")
    witnesses = body.get("witnesses", [])
    if (
        type(witnesses) is not list
        or len(witnesses) > MAX_WITNESSES
        or len(set(witnesses)) != len(witnesses)
        or not all(is_key(w) for w in witnesses)
    ):
        raise bad("witnesses: up to 31 distinct 32-byte member keys")
    check_text("topic", body.get("topic", ""), TOPIC)
    if "action" in body:
        _check_action(body["action"], method)


def _check_params(params: Any) -> None:
    if type(params) is not dict or set(params) - {"max_score", "credits", "objection_bound"}:
        raise bad("params: {max_score?, credits?, objection_bound?}")
    for limit in (MAX_SCORE, CREDITS):
        value = params.get(limit.name)
        if limit.name in params and not (type(value) is int and limit.least <= value <= limit.most):
            raise bad(f"params.{limit.name}: integer {limit.least}..{limit.most}")
    if "objection_bound" in params and not is_frac(params["objection_bound"]):
        raise bad("params.objection_bound: [num, den]")


def _check_action(action: Any, method: str) -> None:
    if type(action) is not dict or action.get("kind") not in ACTIONS:
        raise bad(f"action.kind must be one of {ACTIONS}")
    if method not in OPTIONLESS:
        raise bad("an action needs a yes/no decision: method basic or consent")
    if action["kind"] == "charter.amend":
        if set(action) != {"kind", "changes"} or type(action["changes"]) is not dict:
            raise bad("charter.amend: {kind, changes: map}")
        if not action["changes"]:
            raise bad("charter.amend: changes must not be empty")
        check_body("charter amendment", action["changes"], AMENDMENT)  # records' own schema
    elif set(action) != {"kind", "member"} or not is_key(action["member"]):
        raise bad("member.remove: {kind, member: 32-byte key}")


def rules_of(body: Mapping[str, Any]) -> Rules:
    return Rules(
        method=body["method"],
        params=dict(body.get("params", {})),
        quorum=frac(body.get("quorum", [0, 1])),
        threshold=frac(body.get("threshold", [1, 2])),
        abstain_counts_quorum=body.get("abstain_counts_quorum", True),
    )


def options_of(body: Mapping[str, Any]) -> list[str]:
    return list(body.get("options", []))


def kind_of(body: Mapping[str, Any]) -> str:
    """Which floor of the charter binds the proposal: "decision" or its action's kind."""
    return body["action"]["kind"] if "action" in body else "decision"


def apply_floor(
    body: Mapping[str, Any],
    charter: Mapping[str, Any],
    members: set[bytes],
    author: bytes,
    created_ts: int,
) -> dict:
    """The proposal as it is stored and counted: ``body`` checked against the charter's floor
    for its kind (``specs/governance.md`` §1.7), with the omitted quorum, threshold and
    objection bound set to the floor and ``witnesses`` resolved to the keys that seal it.
    ``members``: the members at the proposal's cut. Raises ``Rejected`` (``below_floor``,
    ``not_proposer``, ``bad_witnesses``) with what to change."""
    kind = kind_of(body)
    rule = voting_rule(charter, kind)
    charter_witnesses = [w for w in charter.get("witnesses", []) if w in members]
    if rule["proposers"] == "witnesses" and author not in charter_witnesses:
        raise Rejected("not_proposer", f"the charter lets only its witnesses propose a {kind}")
    if body["method"] not in rule["methods"]:
        raise Rejected("below_floor", f"a {kind} may use the methods {rule['methods']}")
    out = dict(body)
    for name, default in (("quorum", [0, 1]), ("threshold", [1, 2])):
        floor = frac(rule[name])
        if name not in out:  # the usual default, raised to the floor
            out[name] = default if frac(default) >= floor else list(rule[name])
        elif frac(out[name]) < floor:
            raise Rejected("below_floor", f"the charter's least {name} for a {kind} is {floor}")
    params = dict(out.get("params", {}))
    bound = frac(rule["objection_bound"])
    if body["method"] == "consent":
        if "objection_bound" not in params:
            default = [1, 10] if bound >= Fraction(1, 10) else list(rule["objection_bound"])
            out["params"] = {**params, "objection_bound": default}
        elif frac(params["objection_bound"]) > bound:
            raise Rejected("below_floor", f"the largest objection bound for a {kind} is {bound}")
    weights = dict(out.get("weights", {"base": "equal"}))
    if weights.get("base", "equal") != "equal":  # no key may hold more than the share cap
        share = frac(rule["max_weight_share"])
        if "cap" not in weights:
            out["weights"] = {**weights, "cap": list(rule["max_weight_share"])}
        elif frac(weights["cap"]) > share:
            raise Rejected("below_floor", f"score weights for a {kind} need a cap <= {share}")
    if out["closes"] - created_ts < rule["min_duration_ms"]:
        raise Rejected(
            "below_floor",
            f"a {kind} must close at least {rule['min_duration_ms']} ms after it is created",
        )
    named = list(out.get("witnesses", []))
    if rule["witnesses"] == "charter":
        if named and set(named) != set(charter.get("witnesses", [])):
            raise Rejected(
                "bad_witnesses", f"a {kind} is sealed by the charter's witnesses: omit the field"
            )
        named = []
    elif any(w not in members for w in named):
        raise Rejected("bad_witnesses", "every witness must be a member at the proposal's cut")
    if not named:
        target = out["action"]["member"] if kind == "member.remove" else None
        named = [w for w in charter_witnesses if w != target]
        if not named:  # no charter witness left: every member at the cut seals
            named = sorted(members - {target})
    out["witnesses"] = named
    return out


def content_hash(body: Mapping[str, Any]) -> bytes:
    """The hash a tally names and ``decision.enact`` checks: SHA-256 of the canonical CBOR
    of the stored proposal version."""
    return hashlib.sha256(canonical(dict(body))).digest()


def version_entry(
    row: Mapping[str, Any], causal: CausalIndex, x: OpMeta | None, upto: int | None = None
) -> dict | None:
    """The newest version ``{id, seq, body}`` of the proposal in ``x``'s causal past
    (``None``: of all), and with ``seq <= upto`` when given. Versions are the author's own
    ops, so their seqs order them and ``in_past`` is a seq comparison when x is the author's."""
    best = None
    for v in row["versions"]:
        if upto is not None and v["seq"] > upto:
            continue
        if x is None or causal.in_past(causal.meta(v["id"]), x):
            if best is None or v["seq"] > best["seq"]:
                best = v
    return best


def version_seen(row: Mapping[str, Any], causal: CausalIndex, x: OpMeta | None) -> dict | None:
    """The body of :func:`version_entry` (``None`` if no version is in x's past)."""
    v = version_entry(row, causal, x)
    return v["body"] if v else None
