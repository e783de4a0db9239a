"""specs/vectors/governance: JSON cases (ballots + weights -> result) that any implementation
of the tally must reproduce. Numbers are exact rationals written "n/d"; member ids in the
weight and delegation vectors are the UTF-8 bytes of the names."""

import json
from fractions import Fraction as F
from pathlib import Path

import pytest

from node.governance.delegation import resolve
from node.governance.outcome import Rules, count, decide
from node.governance.weights import policy_weights

DIR = Path(__file__).parent.parent / "specs" / "vectors" / "governance"


def load(name):
    return json.loads((DIR / name).read_text())


def num(x):
    return None if x is None else str(F(x))


@pytest.mark.parametrize("case", load("methods.json"), ids=lambda c: c["name"])
def test_method_vectors(case):
    rules = Rules(
        case["method"],
        case["params"],
        F(case["quorum"]),
        F(case["threshold"]),
        case["abstain_counts_quorum"],
    )
    ballots = {b["voter"]: b["choice"] for b in case["ballots"]}
    weights = {b["voter"]: F(b["weight"]) for b in case["ballots"]}
    c = count(rules, ballots, weights, case["options"])
    o = decide(c, F(case["eligible"]), rules)
    exp = case["expected"]
    assert (o.winner, o.passed, o.quorum_met, o.threshold_met) == (
        exp["winner"],
        exp["passed"],
        exp["quorum_met"],
        exp["threshold_met"],
    )
    assert {k: num(v) for k, v in c.totals.items()} == exp["totals"]
    assert num(c.support) == exp["support"]
    assert (num(c.took_part), num(c.abstained)) == (exp["took_part"], exp["abstained"])
    assert c.tied == exp["tied"] and c.spoiled == exp["spoiled"]


@pytest.mark.parametrize("case", load("weights.json"), ids=lambda c: c["name"])
def test_weight_vectors(case):
    scores = {m.encode(): F(s) for m, s in case["scores"].items()}
    w = policy_weights(case["policy"], [m.encode() for m in case["members"]], scores)
    assert {k.decode(): num(v) for k, v in w.items()} == case["expected"]


@pytest.mark.parametrize("case", load("delegation.json"), ids=lambda c: c["name"])
def test_delegation_vectors(case):
    flow = resolve(
        {m.encode() for m in case["weights"]},
        {m.encode(): F(x) for m, x in case["weights"].items()},
        {v.encode() for v in case["voters"]},
        {a.encode(): b.encode() for a, b in case["delegates"].items()},
        {v.encode() for v in case["void"]},
    )
    exp = case["expected"]
    assert {k.decode(): num(v) for k, v in flow.effective.items()} == exp["effective"]
    assert {k: num(v) for k, v in flow.lost.items()} == exp["lost"]
    route = {k.decode(): v if isinstance(v, str) else v.decode() for k, v in flow.route.items()}
    assert route == exp["route"]


def _unhex(x):
    if isinstance(x, str) and x.startswith("hex:"):
        return bytes.fromhex(x[4:])
    if isinstance(x, dict):
        return {k: _unhex(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_unhex(v) for v in x]
    return x


FLOOR = load("floor.json")


def test_floor_defaults_are_the_charter_defaults():
    from node.crdt.records.community import VOTING_DEFAULTS

    assert FLOOR["defaults"] == json.loads(json.dumps(VOTING_DEFAULTS))


@pytest.mark.parametrize("case", FLOOR["cases"], ids=lambda c: c["name"])
def test_floor_vectors(case):
    """specs/governance.md §1.7: a body against the charter's floor -> the stored version or
    the rejection reason."""
    from node.crdt.state import Rejected
    from node.governance.proposal import apply_floor

    args = (_unhex(case["body"]), _unhex(case["charter"]), set(_unhex(case["members"])))
    try:
        got = {"stored": apply_floor(*args, _unhex(case["author"]), case["created_ts"])}
    except Rejected as exc:
        got = {"rejected": exc.reason}
    assert got == _unhex(case["expected"])


REMOVAL = load("removal.json")


@pytest.mark.parametrize("order", sorted(REMOVAL["orders"]))
def test_removal_vectors(order):
    """specs/ops.md §8.1: a removal cuts the member's chain; two concurrent removals end the
    same whichever enactment arrives first."""
    from node import governance
    from node.crdt import records
    from node.crdt.op import decode_op
    from node.crdt.replica import Replica
    from node.crdt.state import CHAIN_CUTS

    ops = [decode_op(bytes.fromhex(h)) for h in REMOVAL["ops"]]
    r = Replica({**records.HANDLERS, **governance.HANDLERS})
    for i in REMOVAL["orders"][order]:
        r.ingest(ops[i])

    def status(op):
        if r.is_void(r.meta(op.id)):
            return "void"
        return "rejected:" + r.rejections[op.id] if op.id in r.rejections else "applied"

    assert [status(op) for op in ops] == REMOVAL["expected"]["status"]
    cuts = {k.hex(): v for k, v in r.state.table(CHAIN_CUTS).items()}
    assert cuts == REMOVAL["expected"]["chain_cut"]
