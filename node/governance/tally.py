"""The tally of one proposal, computed from state; the same on every node with the same ops.

Steps (each one a rule in ``specs/governance.md``):

1. The proposal version: the newest (in the author's chain) in scope.
2. The cut: the vector clock of the ``proposal.create`` op. Eligibility, weights and
   delegations come only from ops inside it, so nothing that arrives later can shift them.
3. Seals: for each witness, its completed seal (``ts >= closes``). A seal covers the ops in
   the causal past of its final part plus the heads named by all its parts. With a majority of the
   witnesses sealed the tally is ``final`` and a member's ballot counts only if a majority of
   the seals cover it; otherwise the tally is ``provisional`` and counts every ballot held.
4. Ballots: per eligible member, the newest ballot (highest (lamport, key, seq): within one
   key's chain a later ballot always has the earlier in its past; across a member's devices
   the order is the same on every node) with opens <= ts < closes that the seal majority
   covers. A member with a fork proof is an equivocator: no ballot.
5. Delegation (:mod:`.delegation`), then the method and quorum/threshold (:mod:`.outcome`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from ..crdt.causal import CausalIndex, OpMeta
from ..crdt.records import capped, keys_of
from ..crdt.state import State
from .delegation import Flow, resolve
from .electorate import Electorate
from .outcome import Outcome, count, decide, unscale
from .proposal import PROPOSAL, content_hash, options_of, rules_of, version_entry
from .weights import policy_weights

BALLOT, DELEGATION, SEAL = "gov.ballot", "gov.delegation", "gov.seal"
VERSION = "we-tally/2"
PROVISIONAL, FINAL = "provisional", "final"


@dataclass
class Tally:
    proposal: bytes
    status: str
    outcome: Outcome
    weights: dict[bytes, Fraction]
    flow: Flow
    counted: dict[bytes, int]  # voter -> seq of the ballot that counted
    choices: dict[bytes, object]  # voter -> the choice of that ballot
    ignored: dict[str, list[bytes]] = field(default_factory=dict)  # reason -> members
    equivocators: list[bytes] = field(default_factory=list)
    seals: list[bytes] = field(default_factory=list)  # witnesses whose seal counts
    bad_seals: dict[bytes, str] = field(default_factory=dict)
    needed_seals: int = 0
    body: dict = field(default_factory=dict)  # the proposal version counted
    version_id: bytes = b""  # the op (create or edit) that made that version
    content: bytes = b""  # SHA-256 of the canonical version body: what decision.enact checks
    version: str = VERSION

    @property
    def passed(self) -> bool:
        return self.outcome.passed

    @property
    def final(self) -> bool:
        return self.status == FINAL


def key(a: bytes, b: bytes) -> bytes:
    return a + b


def entry_order(entry: Mapping) -> tuple:
    """Where a member's ballot or delegation stands among the member's others, from any of
    its keys: (lamport, key, seq), a linear extension of causality (rows written before
    devices carry neither: their member's one chain, by seq)."""
    return (entry.get("lamport", 0), entry.get("by", b""), entry["seq"])


def witnesses_of(row: Mapping) -> list[bytes]:
    """The keys that seal a proposal: fixed when it is created (resolved by the charter's
    floor, ``proposal.apply_floor``); an edit cannot change them."""
    return list(row["versions"][0]["body"].get("witnesses", []))


def tally(
    state: State,
    causal: CausalIndex,
    proposal_id: bytes,
    electorate: Electorate,
    *,
    forked: Mapping[bytes, int] | None = None,
    scope: OpMeta | None = None,
) -> Tally:
    """``forked``: author -> fork seq for this community (from the replica's fork proofs), only
    to name the equivocators: their ops from the fork seq on are already void in ``state``,
    which is the whole equivocation rule, so the counts never depend on this argument.
    ``scope``: judge as op ``scope`` would (only seals, versions and ballots in its past)."""
    row = state.get(PROPOSAL, proposal_id)
    if row is None:
        raise KeyError("unknown proposal")
    community = row["community"]
    witnesses = witnesses_of(row)
    coverage, bad = _seals(state, causal, proposal_id, community, witnesses, scope)
    # Removals as this tally sees them (all known; as an op: those in its past): a removed
    # member's ops above the cutoff do not count anywhere below (§2 step 2, records §3.6).
    # (The scope's clock is taken after the seals' so that its walk stops at theirs.)
    horizon = causal.vector_clock(scope) if scope is not None else None
    cutoffs = electorate.cutoffs(state, community, horizon)
    for w in [w for w, c in coverage.items() if c["seq"] > cutoffs.get(c["by"], c["seq"])]:
        bad[w] = "removed"  # sealed after (or concurrently with) the witness's removal
        del coverage[w]
    need = len(witnesses) // 2 + 1 if witnesses else 0
    # A seal counts only if it was signed at or after the close of the version it counts,
    # so choose the version first with every complete seal, then drop the early ones.
    version = _version(row, causal, scope, [c["clock"] for c in coverage.values()], need)
    body = version["body"]
    closes = body["closes"]
    for w in [w for w, c in coverage.items() if c["ts"] < closes]:
        bad[w] = "early"
        del coverage[w]
    final = bool(witnesses) and len(coverage) >= need
    if not final:
        version = _version(row, causal, scope, None, need)
        body = version["body"]
    cut = capped(causal.vector_clock(causal.meta(proposal_id)), cutoffs)
    members = electorate.members(state, causal, community, cut)
    policy = body.get("weights", {"base": "equal"})
    scores = None
    if policy.get("base", "equal") != "equal":
        scores = electorate.scores(state, causal, community, cut, body["opens"])
    weights = policy_weights(policy, members, scores)

    # Judging as an op would: only ballots in its causal past (seal heads may name more).
    limits = _Limits([c["clock"] for c in coverage.values()] if final else None, need, horizon)
    limits.cutoffs = cutoffs
    counted, choices, ignored = _pick_ballots(state, proposal_id, members, body, version, limits)
    if scope is None:  # a report for views; an enacting op needs no scan of every ballot
        ignored["not_eligible"] = _outsiders(state, proposal_id, members)

    delegates = _delegates(state, community, members, cut, body.get("topic", ""))
    scale = math.lcm(*(w.denominator for w in weights.values())) if weights else 1
    ints = {m: w.numerator * (scale // w.denominator) for m, w in weights.items()}
    flow = resolve(members, ints, set(counted), delegates, set())
    rules = rules_of(body)
    c = unscale(count(rules, choices, flow.effective, options_of(body)), scale)
    outcome = decide(c, Fraction(sum(ints.values()), scale), rules)
    if scale != 1:  # report true weights (ints are already exact when scale is 1)
        flow = Flow(
            {v: Fraction(x, scale) for v, x in flow.effective.items()},
            flow.route,
            {k: Fraction(x, scale) for k, x in flow.lost.items()},
            Fraction(flow.delegated, scale),
        )
    return Tally(
        proposal_id,
        FINAL if final else PROVISIONAL,
        outcome,
        weights,
        flow,
        counted,
        choices,
        {k: sorted(set(v)) for k, v in ignored.items() if v},
        sorted(m for m in members if m in (forked or {})),
        sorted(coverage),
        bad,
        need,
        body=body,
        version_id=version["id"],
        content=content_hash(body),
    )


def _version(row, causal, scope, clocks, need) -> dict:
    """The version a tally counts: the newest in scope and, when ``clocks`` (the coverage of
    the complete seals) is given, covered by ``need`` of them: an edit the author signs after
    the witnesses sealed (whatever ``ts`` it claims) is not covered and never counted."""
    upto = None
    if clocks is not None and len(clocks) >= need > 0:
        by = row.get("by", row["author"])
        upto = sorted([c.get(by, 0) for c in clocks], reverse=True)[need - 1]
    return version_entry(row, causal, scope, upto) or row["versions"][0]


def _seals(state, causal, pid, community, witnesses, scope):
    """witness -> {clock: coverage, ts: of the final part, seq, by} for every witness with a
    complete seal in scope: from any of its keys, the first complete one by (lamport, key).
    Coverage = the final part's vector clock raised by every head named in any part."""
    coverage: dict[bytes, dict] = {}
    bad: dict[bytes, str] = {}
    for w in witnesses:
        best = None
        for k in keys_of(state, community, w):
            seal = state.get(SEAL, key(pid, k))
            if seal is None or seal["final"] is None:
                continue  # not sealed, or only some parts so far
            meta = causal.meta(seal["final"]["id"])
            if scope is not None and not causal.in_past(meta, scope):
                continue
            if best is None or (meta.lamport, k) < (best[0].lamport, best[1]):
                best = (meta, k, seal)
        if best is None:
            continue
        meta, k, seal = best
        clock = dict(causal.vector_clock(meta))
        for author, seq in seal["heads"]:
            if clock.get(author, 0) < seq:
                clock[author] = seq
        final = seal["final"]
        coverage[w] = {"clock": clock, "ts": final["ts"], "seq": final["seq"], "by": k}
    return coverage, bad


class _Limits:
    """The highest seq of a member that may count: covered by ``need`` seals (when final)
    and inside the scope's causal past (when judging as an op)."""

    def __init__(self, seals, need, horizon):
        self.seals, self.need, self.horizon = seals, need, horizon
        self.cutoffs: Mapping[bytes, int] = {}

    def of(self, m: bytes) -> int | None:
        limit = None
        if self.seals is not None:  # the need-th largest coverage of m
            limit = sorted([c.get(m, 0) for c in self.seals], reverse=True)[self.need - 1]
        if self.horizon is not None:
            inside = self.horizon.get(m, 0)
            limit = inside if limit is None else min(limit, inside)
        return limit


def _pick_ballots(state, pid, voters, body, version, limits):
    """Per member, the ballot that counts: the highest seq inside the time window and the
    limit, among the ballots that saw the counted version. Returns (member -> seq,
    member -> choice, reason -> members ignored)."""
    opens, closes = body["opens"], body["closes"]
    counted: dict[bytes, int] = {}
    choices: dict[bytes, object] = {}
    ignored: dict[str, list[bytes]] = {}
    for m in voters:
        ballots = state.get(BALLOT, pid + m)
        if not ballots:
            continue
        best = None
        for b in ballots:
            by = b.get("by", m)  # the signing key: limits and cutoffs are per chain
            limit = limits.of(by)
            cutoff = limits.cutoffs.get(by)
            if cutoff is not None and b["seq"] > cutoff:
                ignored.setdefault("removed", []).append(m)
            elif b.get("v", version["id"]) != version["id"]:
                ignored.setdefault("other_version", []).append(m)
            elif not opens <= b["ts"] < closes:
                ignored.setdefault("outside_window", []).append(m)
            elif limit is not None and b["seq"] > limit:
                ignored.setdefault("not_sealed", []).append(m)
            elif best is None or entry_order(b) > entry_order(best):
                best = b
        if best is not None:
            counted[m] = best["seq"]
            choices[m] = best["choice"]
    return counted, choices, ignored


def _outsiders(state: State, pid: bytes, members: set[bytes]) -> list[bytes]:
    """Authors of ballots on this proposal who are not eligible at the cut (reported only)."""
    return [k[32:] for k, _ in state.scan(BALLOT, pid) if k[32:] not in members]


def _delegates(state, community, members, cut, topic) -> dict[bytes, bytes]:
    """member -> delegate for this proposal, from the delegation ops inside the cut. The
    newest op for the proposal's topic wins; without one (or after its revoke) the newest
    global one does."""
    out: dict[bytes, bytes] = {}
    for m in members:
        rows = state.get(DELEGATION, community + m)
        if not rows:
            continue
        inside = [r for r in rows if r["seq"] <= cut.get(r.get("by", m), 0)]
        chosen = None
        for scope_topic in ([topic] if topic else []) + [""]:
            latest = max(
                (r for r in inside if r["topic"] == scope_topic),
                key=entry_order,
                default=None,
            )
            if latest is not None and latest["delegate"] is not None:
                chosen = latest["delegate"]
                break
        if chosen is not None:
            out[m] = chosen
    return out
