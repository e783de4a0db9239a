"""Tally methods against hand-worked, published examples, plus exact boundary checks."""

from fractions import Fraction as F

from hypothesis import given, settings
from hypothesis import strategies as st

from node.governance import methods, ranked
from node.governance.choices import valid_choice
from node.governance.outcome import METHODS, Rules, count, decide

TN = ["Memphis", "Nashville", "Chattanooga", "Knoxville"]


def expand(groups):
    """[(n, choice), ...] -> one voter (weight 1) per ballot."""
    ballots, weights, i = {}, {}, 0
    for n, choice in groups:
        for _ in range(n):
            ballots[i], weights[i] = choice, 1
            i += 1
    return ballots, weights


def weighted(groups):
    """[(weight, choice), ...] -> one voter per group carrying the group's weight."""
    return {i: c for i, (_, c) in enumerate(groups)}, {i: w for i, (w, _) in enumerate(groups)}


TN_RANKS = [
    (42, ["Memphis", "Nashville", "Chattanooga", "Knoxville"]),
    (26, ["Nashville", "Chattanooga", "Knoxville", "Memphis"]),
    (15, ["Chattanooga", "Knoxville", "Nashville", "Memphis"]),
    (17, ["Knoxville", "Chattanooga", "Nashville", "Memphis"]),
]


def test_schulze_wikipedia_45_voters():
    """Wikipedia, "Schulze method", worked example: 45 voters, candidates A-E.
    Published pairwise matrix d, strongest paths p and ranking E > A > C > B > D."""
    b, w = expand(
        [
            (5, list("ACBED")),
            (5, list("ADECB")),
            (8, list("BEDAC")),
            (3, list("CABED")),
            (7, list("CAEBD")),
            (2, list("CBADE")),
            (7, list("DCEBA")),
            (8, list("EBADC")),
        ]
    )
    c = ranked.schulze(b, w, list("ABCDE"))
    d, p = c.detail["d"], c.detail["p"]
    assert [d["A"][x] for x in "BCDE"] == [20, 26, 30, 22]
    assert [d["B"][x] for x in "ACDE"] == [25, 16, 33, 18]
    assert [d["C"][x] for x in "ABDE"] == [19, 29, 17, 24]
    assert [d["D"][x] for x in "ABCE"] == [15, 12, 28, 14]
    assert [d["E"][x] for x in "ABCD"] == [23, 27, 21, 31]
    assert [p["E"][x] for x in "ABCD"] == [25, 28, 28, 31]
    assert [p["A"][x] for x in "BCDE"] == [28, 28, 30, 24]
    assert c.winner == "E" and c.detail["ranking"] == list("EACBD") and not c.tied


def test_irv_tennessee_capital():
    """Wikipedia, "Instant-runoff voting" / "Tennessee example" (42/26/15/17 % voters):
    Chattanooga out (15 -> Knoxville 32), then Nashville out (26 -> Knoxville 58):
    Knoxville wins 58 to 42."""
    b, w = weighted(TN_RANKS)
    c = ranked.irv(b, w, TN)
    rounds = c.detail["rounds"]
    assert [r.get("eliminated") for r in rounds] == ["Chattanooga", "Nashville", None]
    assert rounds[1]["counts"]["Knoxville"] == 32
    assert c.winner == "Knoxville" and c.support == F(58, 100)
    assert c.totals == {"Memphis": 42, "Nashville": 0, "Chattanooga": 0, "Knoxville": 58}


def test_schulze_tennessee_condorcet_winner_is_nashville():
    """Same Tennessee example: Nashville beats every other city head to head (Condorcet
    winner, as the Wikipedia article states), so Schulze elects Nashville."""
    b, w = weighted(TN_RANKS)
    c = ranked.schulze(b, w, TN)
    assert c.winner == "Nashville"
    assert c.detail["d"]["Nashville"]["Memphis"] == 58
    assert c.detail["d"]["Nashville"]["Chattanooga"] == 68


def test_single_choice_tennessee_plurality_is_memphis():
    """Tennessee example under plurality (first-past-the-post): Memphis with 42%."""
    b, w = weighted([(n, r[0]) for n, r in TN_RANKS])
    c = methods.single(b, w, TN)
    assert c.winner == "Memphis" and c.support == F(42, 100)


def test_approval_electorama_tennessee_tie_example():
    """abif.electorama.com "TNexampleTie" approval result: 42 ballots approve Memphis and
    Nashville, 42 approve Chattanooga, Knoxville and Nashville: Nashville 84 approvals
    (100%), every other city 42."""
    b, w = expand([(42, ["Memphis", "Nashville"]), (42, ["Chattanooga", "Knoxville", "Nashville"])])
    c = methods.approval(b, w, TN)
    assert c.winner == "Nashville" and c.support == 1
    assert c.totals == {"Memphis": 42, "Nashville": 84, "Chattanooga": 42, "Knoxville": 42}


def test_approval_top_two_tennessee_hand_worked():
    """Hand-worked on the Tennessee preferences, each voter approving its top two cities:
    Memphis 42, Nashville 42+26=68, Chattanooga 26+15+17=58, Knoxville 15+17=32."""
    b, w = weighted([(n, r[:2]) for n, r in TN_RANKS])
    c = methods.approval(b, w, TN)
    assert c.totals == {"Memphis": 42, "Nashville": 68, "Chattanooga": 58, "Knoxville": 32}
    assert c.winner == "Nashville"


def test_score_and_quadratic_and_consent_hand_worked():
    b, w = weighted([(2, {"a": 5, "b": 1}), (3, {"b": 4}), (1, None)])
    c = methods.score(b, w, ["a", "b"], {"max_score": 5})
    assert c.totals == {"a": 10, "b": 14} and c.winner == "b"
    assert c.support == F(14, 25) and c.took_part == 6 and c.abstained == 1
    q = methods.quadratic(
        {1: {"a": 3, "b": -1}, 2: {"b": 4}, 3: {"a": 11}}, {1: 2, 2: 1, 3: 1}, ["a", "b"]
    )
    assert q.spoiled == [3]  # 121 credits > 100
    assert q.totals == {"a": 6, "b": 2} and q.winner == "a" and not q.veto
    k = methods.consent({1: "consent", 2: "object", 3: None}, {1: 8, 2: 1, 3: 1}, (), {})
    assert k.detail["objection_share"] == F(1, 10) and k.veto  # reaching the bound blocks
    k = methods.consent({1: "consent", 2: "object"}, {1: 10, 2: 1}, (), {})
    assert not k.veto and k.winner == "consent"


def test_ties_follow_option_order():
    c = methods.single({1: "b", 2: "a"}, {1: 1, 2: 1}, ["b", "a"])
    assert c.winner == "b" and c.tied == ["b", "a"]
    c = ranked.irv({1: ["a"], 2: ["b"], 3: ["c"]}, {1: 1, 2: 1, 3: 1}, ["a", "b", "c"])
    assert c.detail["rounds"][0]["eliminated"] == "c"  # last listed of the weakest goes
    assert c.winner == "a"
    c = ranked.schulze({1: ["a", "b"], 2: ["b", "a"]}, {1: 1, 2: 1}, ["b", "a"])
    assert c.winner == "b" and c.tied == ["b", "a"]


def test_spoiled_ballots_are_reported_not_counted():
    c = methods.single({1: "nope", 2: "a"}, {1: 5, 2: 1}, ["a"])
    assert c.spoiled == [1] and c.took_part == 1 and c.winner == "a"


def test_basic_yes_no_tie_fails_strict_threshold():
    c = methods.basic({1: "yes", 2: "no"}, {1: 1, 2: 1})
    o = decide(c, 2, Rules())
    assert c.support == F(1, 2) and o.quorum_met and not o.passed


@settings(max_examples=150)
@given(
    yes=st.integers(0, 40),
    no=st.integers(0, 40),
    abstain=st.integers(0, 40),
    absent=st.integers(0, 40),
    q=st.fractions(0, 1),
    t=st.fractions(0, 1),
    abstain_counts=st.booleans(),
)
def test_quorum_and_threshold_boundaries_are_exact(yes, no, abstain, absent, q, t, abstain_counts):
    """passed <=> participation >= q x eligible and yes/(yes+no) > t, compared as Fractions."""
    b, w = expand([(yes, "yes"), (no, "no"), (abstain, None)])
    eligible = yes + no + abstain + absent
    rules = Rules("basic", {}, q, t, abstain_counts)
    o = decide(count(rules, b, w, ["yes", "no"]), eligible, rules)
    part = yes + no + (abstain if abstain_counts else 0)
    quorum = part >= q * eligible if eligible else q == 0
    support = F(yes, yes + no) if yes + no else None
    assert o.quorum_met == quorum
    assert o.passed == (quorum and support is not None and support > t)


def test_threshold_exactly_at_two_thirds():
    b, w = expand([(2, "yes"), (1, "no")])
    rules = Rules("basic", {}, F(0), F(2, 3))
    assert not decide(count(rules, b, w, []), 3, rules).passed  # exactly 2/3 is not "more"
    rules = Rules("basic", {}, F(1), F(1, 2))
    assert decide(count(rules, b, w, []), 3, rules).quorum_met  # exactly 100% meets quorum
    assert not decide(count(rules, b, w, []), 4, rules).quorum_met


RANKING = st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4)
BALLOTS = st.dictionaries(st.integers(0, 30), st.tuples(RANKING, st.integers(1, 9)), max_size=25)


@settings(max_examples=150)
@given(BALLOTS, st.integers(2, 7))
def test_ranked_methods_are_scale_invariant_and_schulze_elects_condorcet_winner(raw, k):
    options = ["a", "b", "c", "d"]
    ballots = {v: r for v, (r, _) in raw.items()}
    weights = {v: w for v, (_, w) in raw.items()}
    scaled = {v: w * F(k, 3) for v, w in weights.items()}
    for method in (ranked.irv, ranked.schulze):
        one, two = method(ballots, weights, options), method(ballots, scaled, options)
        assert (one.winner, one.support, one.tied) == (two.winner, two.support, two.tied)
    s = ranked.schulze(ballots, weights, options)
    d = s.detail["d"]
    condorcet = [a for a in options if all(d[a][b] > d[b][a] for b in d[a])]
    if condorcet:
        assert s.winner == condorcet[0] and not s.tied


@settings(max_examples=150)
@given(st.dictionaries(st.integers(0, 30), st.tuples(RANKING, st.integers(1, 9)), max_size=25))
def test_irv_winner_has_a_majority_and_rounds_conserve_weight(raw):
    ballots = {v: r for v, (r, _) in raw.items()}
    weights = {v: w for v, (_, w) in raw.items()}
    c = ranked.irv(ballots, weights, ["a", "b", "c", "d"])
    if c.winner is not None:
        last = c.detail["rounds"][-1]
        active = sum(last["counts"].values())
        assert last["counts"][c.winner] * 2 > active or len(last["counts"]) == 1
    decisive = c.took_part - c.abstained
    for r in c.detail["rounds"]:  # no round loses or invents weight
        assert sum(r["counts"].values()) + r["exhausted"] == decisive


JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 12) | st.sampled_from(["a", "b", "c", "yes", "x"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from("abx"), inner),
    max_leaves=6,
)


@settings(max_examples=200)
@given(JUNK, st.sampled_from(sorted(METHODS)))
def test_handler_check_and_method_agree_on_every_choice(choice, method):
    """The ballot handler's check and the method's spoiled-ballot rule are one rule: any
    value, however malformed (even unhashable), is either accepted by both or by neither."""
    options = [] if method in ("basic", "consent") else ["a", "b", "c"]
    params = {"max_score": 5, "credits": 10}
    c = METHODS[method]({1: choice}, {1: 1}, options, params)
    assert valid_choice(method, choice, options, params) == (c.spoiled == [])
