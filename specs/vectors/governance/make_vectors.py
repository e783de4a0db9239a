"""Writes specs/vectors/governance/*.json from the reference implementation.

Run from the repo root: ``python specs/vectors/governance/make_vectors.py``. The expected
values were reviewed by hand against the published examples and hand-worked cases named in
each vector's ``reference`` / ``note``; tests/test_governance_vectors.py checks them.
"""

import json
from fractions import Fraction as F
from pathlib import Path

from node.governance.delegation import resolve
from node.governance.outcome import Rules, count, decide
from node.governance.weights import policy_weights

OUT = Path(__file__).parent


def num(x):
    return None if x is None else str(F(x))


def nums(d):
    return {k: num(v) for k, v in d.items()}


TN = ["Memphis", "Nashville", "Chattanooga", "Knoxville"]
TNR = [
    (42, ["Memphis", "Nashville", "Chattanooga", "Knoxville"]),
    (26, ["Nashville", "Chattanooga", "Knoxville", "Memphis"]),
    (15, ["Chattanooga", "Knoxville", "Nashville", "Memphis"]),
    (17, ["Knoxville", "Chattanooga", "Nashville", "Memphis"]),
]
cases = []


def case(
    name,
    ref,
    method,
    options,
    groups,
    eligible=None,
    params=None,
    quorum="0",
    threshold="1/2",
    abstain=True,
):
    ballots = [{"voter": f"v{i}", "weight": str(w), "choice": c} for i, (w, c) in enumerate(groups)]
    rules = Rules(method, params or {}, F(quorum), F(threshold), abstain)
    b = {x["voter"]: x["choice"] for x in ballots}
    w = {x["voter"]: F(x["weight"]) for x in ballots}
    el = F(eligible) if eligible is not None else sum(w.values())
    c = count(rules, b, w, options)
    o = decide(c, el, rules)
    exp = {
        "winner": o.winner,
        "passed": o.passed,
        "quorum_met": o.quorum_met,
        "threshold_met": o.threshold_met,
        "totals": nums(c.totals),
        "support": num(c.support),
        "took_part": num(c.took_part),
        "abstained": num(c.abstained),
        "tied": c.tied,
        "spoiled": c.spoiled,
    }
    cases.append(
        {
            "name": name,
            "reference": ref,
            "method": method,
            "options": options,
            "params": params or {},
            "quorum": quorum,
            "threshold": threshold,
            "abstain_counts_quorum": abstain,
            "eligible": str(el),
            "ballots": ballots,
            "expected": exp,
        }
    )


S = [
    (5, "ACBED"),
    (5, "ADECB"),
    (8, "BEDAC"),
    (3, "CABED"),
    (7, "CAEBD"),
    (2, "CBADE"),
    (7, "DCEBA"),
    (8, "EBADC"),
]
case(
    "schulze-wikipedia-45",
    "Wikipedia 'Schulze method', worked example with 45 voters: E > A > C > B > D (totals: options beaten by strongest path)",
    "schulze",
    list("ABCDE"),
    [(n, list(r)) for n, r in S],
)
case(
    "irv-tennessee",
    "Wikipedia 'Tennessee example' (instant runoff): Knoxville wins 58-42",
    "irv",
    TN,
    TNR,
)
case(
    "schulze-tennessee",
    "Wikipedia 'Tennessee example' (Condorcet winner): Nashville",
    "schulze",
    TN,
    TNR,
)
case(
    "single-tennessee",
    "Wikipedia 'Tennessee example' (plurality): Memphis with 42%, short of the 1/2 threshold",
    "single",
    TN,
    [(n, r[0]) for n, r in TNR],
)
case(
    "approval-electorama-tntie",
    "abif.electorama.com/id/TNexampleTie/approval: Nashville 84 of 84, the others 42",
    "approval",
    TN,
    [(42, ["Memphis", "Nashville"]), (42, ["Chattanooga", "Knoxville", "Nashville"])],
)
case(
    "basic-weighted-fractions",
    "hand-worked: yes 3/2, no 1, abstain 1/2 of eligible 4; participation 3 meets quorum 3/4 exactly",
    "basic",
    [],
    [("3/2", "yes"), (1, "no"), ("1/2", None)],
    eligible="4",
    quorum="3/4",
)
case(
    "basic-quorum-without-abstain",
    "hand-worked: same, abstentions not counted toward quorum: 5/2 < 3",
    "basic",
    [],
    [("3/2", "yes"), (1, "no"), ("1/2", None)],
    eligible="4",
    quorum="3/4",
    abstain=False,
)
case(
    "basic-tie-fails",
    "rule: support must be MORE than the threshold",
    "basic",
    [],
    [(1, "yes"), (1, "no")],
)
case(
    "single-tie-option-order",
    "rule: ties go to the option listed first",
    "single",
    ["b", "a"],
    [(1, "a"), (1, "b")],
    threshold="0",
)
case(
    "score-hand",
    "hand-worked: a = 2*5 = 10, b = 2*1 + 3*4 = 14, support 14 / (5 * 5)",
    "score",
    ["a", "b"],
    [(2, {"a": 5, "b": 1}), (3, {"b": 4}), (1, None)],
    params={"max_score": 5},
)
case(
    "quadratic-hand",
    "hand-worked: a = 2*3 = 6, b = 2*(-1) + 1*4 = 2; 11 votes cost 121 > 100 credits: spoiled",
    "quadratic",
    ["a", "b"],
    [(2, {"a": 3, "b": -1}), (1, {"b": 4}), (1, {"a": 11})],
    params={"credits": 100},
)
case(
    "consent-bound-reached",
    "hand-worked: objection 1 of 10 taking part reaches the 1/10 bound: blocked",
    "consent",
    [],
    [(8, "consent"), (1, "object"), (1, None)],
    params={"objection_bound": [1, 10]},
)
case(
    "consent-below-bound",
    "hand-worked: objection 1 of 11 < 1/10: passes",
    "consent",
    [],
    [(10, "consent"), (1, "object")],
    params={"objection_bound": [1, 10]},
)
json.dump(cases, open(OUT / "methods.json", "w"), indent=1)


def B(name):
    return name.encode()  # vector member ids: the UTF-8 bytes of the name


wcases = []


def wcase(name, policy, scores, members, note):
    w = policy_weights(policy, [B(m) for m in members], {B(m): F(s) for m, s in scores.items()})
    wcases.append(
        {
            "name": name,
            "note": note,
            "policy": policy,
            "members": members,
            "scores": scores,
            "expected": {k.decode(): num(v) for k, v in w.items()},
        }
    )


wcase("equal", {"base": "equal"}, {}, ["m1", "m2", "m3"], "one member one vote")
wcase(
    "score",
    {"base": "score"},
    {"m1": "16", "m2": "1/4"},
    ["m1", "m2", "m3"],
    "score at the cut; absent = 0",
)
wcase(
    "sqrt-score",
    {"base": "sqrt_score"},
    {"m1": "16", "m2": "2", "m3": "1/4"},
    ["m1", "m2", "m3"],
    "isqrt(floor(s * 10^12)) / 10^6",
)
wcase(
    "cap-third",
    {"base": "score", "cap": [1, 3]},
    {"m1": "6", "m2": "2", "m3": "1", "m4": "1"},
    ["m1", "m2", "m3", "m4"],
    "L = (1/3) * (2+1+1) / (1 - 1/3) = 2",
)
wcase(
    "cap-unmeetable",
    {"base": "score", "cap": [1, 3]},
    {"m1": "9", "m2": "3"},
    ["m1", "m2"],
    "cap x 2 members < 1: every positive weight set to the smallest",
)
json.dump(wcases, open(OUT / "weights.json", "w"), indent=1)

dcases = []


def dcase(name, weights, voters, delegates, void, note):
    f = resolve(
        {B(m) for m in weights},
        {B(m): F(x) for m, x in weights.items()},
        {B(v) for v in voters},
        {B(a): B(b) for a, b in delegates.items()},
        {B(v) for v in void},
    )
    dcases.append(
        {
            "name": name,
            "note": note,
            "weights": weights,
            "voters": voters,
            "delegates": delegates,
            "void": void,
            "expected": {
                "effective": {k.decode(): num(v) for k, v in f.effective.items()},
                "lost": nums(f.lost),
                "route": {
                    k.decode(): (v if isinstance(v, str) else v.decode())
                    for k, v in f.route.items()
                },
            },
        }
    )


dcase(
    "transitive-override",
    {"a": "1", "b": "2", "c": "3", "d": "4"},
    ["b", "c"],
    {"a": "b", "b": "c", "d": "c"},
    [],
    "b votes itself, so a's weight stops at b; d reaches c",
)
dcase(
    "cycle-lost",
    {"a": "1", "b": "1", "c": "1", "e": "1"},
    ["e"],
    {"a": "b", "b": "a", "c": "a"},
    [],
    "a cycle with no voter carries nothing, nor does what flows into it",
)
dcase(
    "voter-in-cycle",
    {"a": "1", "b": "1", "c": "1"},
    ["a"],
    {"a": "b", "b": "a", "c": "a"},
    [],
    "the walk stops at the voter a",
)
dcase(
    "outsider-and-void",
    {"a": "1", "b": "10", "c": "1", "d": "1"},
    ["b", "c"],
    {"a": "b", "b": "c", "d": "x"},
    ["b"],
    "b equivocated: its own weight is void, a's passes through b to c; x is not eligible",
)
json.dump(dcases, open(OUT / "delegation.json", "w"), indent=1)


# ---------------------------------------------------------------- the charter floor (§1.7)
from node.crdt.records.community import VOTING_DEFAULTS  # noqa: E402
from node.crdt.state import Rejected  # noqa: E402
from node.governance.proposal import apply_floor  # noqa: E402

DAY = 24 * 3600 * 1000
KEYS = {n: n.encode().ljust(32, b".") for n in ("founder", "ann", "bob", "eve", "stranger")}
fcases = []


def hexed(x):
    if isinstance(x, bytes):
        return "hex:" + x.hex()
    if isinstance(x, dict):
        return {k: hexed(v) for k, v in x.items()}
    if isinstance(x, list):
        return [hexed(v) for v in x]
    return x


def fcase(name, body, note, voting=None, witnesses=("founder", "ann"), author="eve", ts=0):
    charter = {"witnesses": [KEYS[w] for w in witnesses], "voting": voting or {}}
    members = {KEYS[n] for n in ("founder", "ann", "bob", "eve")}
    body = {"title": "t", "method": "basic", "opens": 0, "closes": 3 * DAY, **body}
    try:
        out = {"stored": hexed(apply_floor(body, charter, members, KEYS[author], ts))}
    except Rejected as exc:
        out = {"rejected": exc.reason}
    fcases.append(
        {
            "name": name,
            "note": note,
            "charter": hexed(charter),
            "members": sorted(hexed(sorted(members))),
            "author": hexed(KEYS[author]),
            "created_ts": ts,
            "body": hexed(body),
            "expected": out,
        }
    )


remove_founder = {"kind": "member.remove", "member": KEYS["founder"]}
amend = {"kind": "charter.amend", "changes": {"half_life_days": 30}}
fcase("decision: defaults filled, proposer's witnesses kept", {"witnesses": [KEYS["bob"]]},
      "a plain decision may name its own witnesses if they are members at the cut")  # fmt: skip
fcase("decision: a witness that is not a member", {"witnesses": [KEYS["stranger"]]},
      "bad_witnesses")  # fmt: skip
fcase("decision: no witnesses named -> charter's", {}, "charter witnesses that are members")
fcase("removal of the founder: charter witnesses minus the target", {"action": remove_founder},
      "quorum and threshold raised to the floor (1/2, 2/3); witnesses: ann")  # fmt: skip
fcase("removal sealed by all members when no charter witness is left",
      {"action": remove_founder}, "the founder was the only charter witness",
      witnesses=("founder",))  # fmt: skip
fcase("removal naming its own witness", {"action": remove_founder, "witnesses": [KEYS["eve"]]},
      "for an action the proposer cannot choose the witnesses")  # fmt: skip
fcase("removal with a window in the past", {"action": remove_founder, "closes": 1},
      "closes before the 2 days after creation", ts=DAY)  # fmt: skip
fcase("removal below the quorum floor", {"action": remove_founder, "quorum": [1, 4]}, "")
fcase("removal below the threshold floor", {"action": remove_founder, "threshold": [1, 2]}, "")
fcase("amendment by consent with a wide objection bound",
      {"action": amend, "method": "consent", "params": {"objection_bound": [1, 2]}},
      "largest objection bound 1/10")  # fmt: skip
fcase("amendment by consent: bound filled", {"action": amend, "method": "consent"}, "1/10")
fcase("score weights: cap filled at the share floor", {"weights": {"base": "score"}}, "1/2")
fcase("score weights: cap above the share floor",
      {"weights": {"base": "score", "cap": [2, 3]}}, "below_floor")  # fmt: skip
fcase("only witnesses may propose (amended floor)", {"action": amend}, "not_proposer",
      voting={"charter.amend": {"proposers": "witnesses"}})  # fmt: skip
fcase("an amended floor lowers the duration", {"action": amend, "closes": DAY},
      "min_duration_ms 1 day", voting={"charter.amend": {"min_duration_ms": DAY}})  # fmt: skip
json.dump({"defaults": VOTING_DEFAULTS, "cases": fcases}, open(OUT / "floor.json", "w"), indent=1)


# ------------------------------------------------------------------ removal.json: chain cuts
# specs/ops.md §8.1 + specs/governance.md §7: two removals enacted concurrently, E1 resting
# on a ballot of E2's target signed above E2's cutoff. The ops in two delivery orders (E1
# before E2 and after) must end with the same statuses and the same ``chain.cut`` rows.
def removal_vectors():
    import sys

    sys.path.insert(0, str(OUT.parents[2] / "tests"))
    from test_governance_converge import E1, E2, MUTUAL

    from node.crdt.state import CHAIN_CUTS

    r = MUTUAL.replica
    ops = MUTUAL.ops
    first = [op for op in ops if op.id != E2.id]
    idx = first.index(E1) + 1
    orders = {
        "e1_first": first[:idx] + [E2] + first[idx:],
        "e2_first": first[: idx - 1] + [E2] + first[idx - 1 :],
    }
    status = [
        "void"
        if r.is_void(r.meta(op.id))
        else ("rejected:" + r.rejections[op.id] if op.id in r.rejections else "applied")
        for op in ops
    ]
    return {
        "description": "ops (hex, canonical CBOR) of one community; ingest them in each order "
        "(parked ops wait for their parents); expect each op's status in `ops` order and the "
        "chain.cut rows (community || member hex -> cutoff)",
        "ops": [op.raw.hex() for op in ops],
        "orders": {k: [ops.index(op) for op in v] for k, v in orders.items()},
        "expected": {
            "status": status,
            "chain_cut": {k.hex(): v for k, v in sorted(r.state.table(CHAIN_CUTS).items())},
        },
    }


json.dump(removal_vectors(), open(OUT / "removal.json", "w"), indent=1)
