"""The causal index: exact answers whatever it memoized, and a cost that does not grow with the
log (counted in metadata lookups, never timed)."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node import governance
from node.crdt import causal, records
from node.crdt.causal import CausalIndex, OpMeta
from node.crdt.op import GENESIS_KIND, NO_COMMUNITY
from node.crdt.replica import Replica
from tests import factory

C = b"c" * 32


def _id(n: int) -> bytes:
    return hashlib.sha256(b"op %d" % n).digest()


class Graph:
    """A random op graph as the replica would apply it: per-author chains (with forks: a second
    op at a taken seq), deps on earlier ops of other authors, lamport = max(parents) + 1."""

    def __init__(self):
        self.metas: dict[bytes, OpMeta] = {}
        self.order: list[OpMeta] = []
        self.chains: dict[bytes, list[OpMeta]] = {}  # author -> its ops, in apply order
        self.forks: dict[bytes, int] = {}  # author -> lowest fork seq

    def add(self, author: bytes, after: OpMeta | None, deps: list[OpMeta]) -> OpMeta:
        deps = [d for d in deps if d.author != author]
        parents = ([after] if after else []) + deps
        meta = OpMeta(
            _id(len(self.order)),
            author,
            after.seq + 1 if after else 1,
            max((p.lamport for p in parents), default=0) + 1,
            tuple(p.id for p in parents),
            C,
        )
        chain = self.chains.setdefault(author, [])
        if any(m.seq == meta.seq for m in chain):
            self.forks[author] = min(self.forks.get(author, meta.seq), meta.seq)
        chain.append(meta)
        self.metas[meta.id] = meta
        self.order.append(meta)
        return meta

    def void(self, m: OpMeta) -> bool:
        return m.author in self.forks and m.seq >= self.forks[m.author]

    def past(self, x: OpMeta) -> set[bytes]:
        seen, stack = set(), [x.id]
        while stack:
            i = stack.pop()
            if i not in seen:
                seen.add(i)
                stack.extend(self.metas[i].parents)
        return seen

    def clock(self, x: OpMeta) -> dict[bytes, int]:
        out: dict[bytes, int] = {}
        for i in self.past(x):
            m = self.metas[i]
            out[m.author] = max(out.get(m.author, 0), m.seq)
        return out


@st.composite
def scripts(draw):
    """Steps: ("op", author, fork?, dep picks) or ("ask", x pick, a pick, clock?)."""
    n_authors = draw(st.integers(2, 6))
    op = st.tuples(
        st.just("op"),
        st.integers(0, n_authors - 1),
        st.integers(0, 12),  # 0: fork (start from an older op of the chain)
        st.lists(st.integers(0, 10_000), max_size=3),
    )
    ask = st.tuples(st.just("ask"), st.integers(0, 10_000), st.integers(0, 10_000), st.booleans())
    steps = draw(st.lists(st.one_of(op, op, op, ask), min_size=5, max_size=150))
    return n_authors, steps


@pytest.mark.parametrize("wired", [True, False])
@settings(max_examples=300, deadline=None)
@given(script=scripts())
def test_answers_are_exact_whatever_was_memoized(wired, script):
    # Tiny constants so that anchors, the search limit and LRU eviction all happen.
    with pytest.MonkeyPatch.context() as mp:
        for name, value in (("ANCHOR_EVERY", 3), ("SEARCH_LIMIT", 2), ("CLOCK_BUDGET", 12),
                            ("TARGET_IDS", 3), ("TARGETS", 4), ("NEAR", 2), ("KEEP", 1),
                            ("ANCHOR_SPREAD", 1)):  # fmt: skip
            mp.setattr(causal, name, value)
        _check_script(wired, *script)


def _check_script(wired: bool, n_authors: int, steps: list) -> None:
    g = Graph()
    idx = CausalIndex(g.metas.get)
    authors = [bytes([i]) * 32 for i in range(n_authors)]
    g.add(authors[0], None, [])
    if wired:
        idx.note(g.order[0])
    for step in steps:
        if step[0] == "op":
            _, who, fork, picks = step
            chain = g.chains.get(authors[who], [])
            if fork == 0 and len(chain) >= 2:
                after = chain[-2] if chain[-2].seq == chain[-1].seq - 1 else None
            else:
                after = chain[-1] if chain else None
            # deps mostly among the newest ops, as a writer names heads
            deps = [g.order[-1 - p % min(len(g.order), 8 if p % 3 else 1000)] for p in picks]
            deps = deps or [g.order[-1]]
            m = g.add(authors[who], after, deps)
            if not m.parents:  # a first op must name a dep (the replica's rule)
                g.order.pop()
                del g.metas[m.id]
                g.chains[authors[who]].pop()
                continue
            if wired:
                if authors[who] in g.forks:
                    idx.fork(C, authors[who], g.forks[authors[who]])
                idx.note(m)
            continue
        _, xi, ai, whole = step
        live = [m for m in g.order if not g.void(m)]
        if not live:
            continue
        # x mostly among the newest ops (long walks), a anywhere
        x, a = live[-1 - xi % min(len(live), 4)], live[ai % len(live)]
        if whole:
            assert idx.vector_clock(x) == g.clock(x)
        assert idx.in_past(a, x) == (a.id in g.past(x))


def test_a_forked_authors_other_branch_is_not_taken_as_covered():
    """An anchor that saw one branch of a forked author says nothing about the other branch,
    though its clock holds that author at the same seq: the walk must go through it."""
    g = Graph()
    idx = CausalIndex(g.metas.get)
    d, e, f, h = (bytes([i]) * 32 for i in range(4))
    gen = g.add(d, None, [])
    d2a = g.add(d, gen, [])
    e1 = g.add(e, None, [gen])
    d2b = g.add(d, gen, [e1])  # D forks at seq 2; this branch alone has E's op in its past
    z = g.add(f, g.add(f, None, [d2a]), [])  # an anchor with D at seq 2, from the other branch
    x = g.add(h, None, [z, d2b])
    for m in g.order:
        idx.note(m)
    idx.fork(C, d, 2)
    idx.vector_clock(z)
    assert z.lamport > d2b.lamport  # the walk from x meets the anchor first
    assert idx.in_past(e1, x)
    assert idx.vector_clock(x) == g.clock(x)


# ------------------------------------------------------- cost of the expensive kinds, counted
class Counting:
    """The replica's metadata lookup, counting its calls."""

    def __init__(self, lookup):
        self.lookup, self.calls = lookup, 0

    def __call__(self, op_id):
        self.calls += 1
        return self.lookup(op_id)


class Wired(Replica):
    """The real replica with the causal index's hooks called (``note`` for each applied op,
    ``fork`` for each fork proof) and its lookups counted."""

    def __init__(self, handlers):
        super().__init__(handlers)
        self.lookups = Counting(self.metas.get)
        self.causal = CausalIndex(self.lookups)

    def _index(self, meta):
        super()._index(meta)
        self.causal.note(meta)

    def _note_fork(self, proof):
        super()._note_fork(proof)
        self.causal.fork(proof.community, proof.author, proof.seq)


MEMBERS = 30
FAR = 10**12


def _log(total: int):
    """A community of 30 members writing profiles, deps chosen by the node's own writer
    (``compose``); early on the last member proposes a charter amendment (sealed by the
    charter's witnesses), then goes quiet."""
    r = Wired({**records.HANDLERS, **governance.HANDLERS})
    ks = factory.keys(MEMBERS + 20)
    charter = {
        "name": "c",
        "membership": {"rule": "open"},
        "witnesses": [*map(factory.author, ks[1:4])],
    }
    genesis = r.compose(ks[0], NO_COMMUNITY, GENESIS_KIND, charter)
    r.ingest(genesis)
    cid = genesis.id
    for k in ks[1:MEMBERS]:
        r.ingest(r.compose(k, cid, "member.join", {}))
    body = {
        "title": "t", "method": "basic", "opens": 0, "closes": FAR,
        "action": {"kind": "charter.amend", "changes": {"half_life_days": 9}},
    }  # fmt: skip
    proposal = r.compose(ks[MEMBERS - 1], cid, "proposal.create", body)
    assert r.ingest(proposal).status == "applied"
    rnd = random.Random(total)
    while len(r.metas) < total:
        k = ks[rnd.randrange(MEMBERS - 1)]
        r.ingest(r.compose(k, cid, "profile.set", {"display_name": f"n{len(r.metas)}"}, ts=1))
    return r, ks, cid, proposal.id


def _lookups_per_kind(total: int) -> dict[str, int]:
    r, ks, cid, pid = _log(total)
    cases = {  # non-members first: nothing is memoized about the proposal yet
        "seal": (ks[MEMBERS : MEMBERS + 8], "seal.create", {"proposal": pid}, "rejected"),
        "edit": (
            ks[MEMBERS + 8 : MEMBERS + 16],
            "proposal.edit",
            {"proposal": pid, "changes": {}},
            "rejected",
        ),
        "ballot": (ks[4:12], "ballot.cast", {"proposal": pid, "choice": "yes"}, "applied"),
        "enact": (ks[12:20], "decision.enact", {"proposal": pid}, "rejected"),
    }
    out = {}
    rnd = random.Random(1)
    for name, (authors, kind, body, status) in cases.items():
        worst = 0
        for k in authors:
            for _ in range(3):  # plain ops in between, as in a live community
                r.ingest(r.compose(ks[rnd.randrange(MEMBERS - 1)], cid, "profile.set", {}, ts=1))
            op = r.compose(k, cid, kind, body, ts=5)
            before = r.lookups.calls
            assert r.ingest(op).status == status
            worst = max(worst, r.lookups.calls - before)
        out[name] = worst
    return out


def test_expensive_kinds_cost_the_same_on_a_ten_times_longer_log():
    """A ballot whose proposal is only transitively in its past, a rejected decision.enact,
    a non-member's seal.create and proposal.edit: the causal metadata each one reads does not
    grow with the log (before the index memoized, it grew with it)."""
    small, large = _lookups_per_kind(300), _lookups_per_kind(3000)
    print(small, large)
    for kind in small:
        assert large[kind] <= 2 * small[kind] + 2 * causal.ANCHOR_EVERY, (kind, small, large)


def test_concurrent_ops_on_one_old_op_walk_its_past_once():
    """The tally bench's shape: a long history (members joining, each naming the last op), one
    op naming its end (a proposal, its clock not memoized: never asked, or evicted), then many
    concurrent ops naming it (ballots). Each ballot's anchor used to walk the whole history
    again (members x ballots / 64 lookups) and keep a clock of one entry per member; now the
    proposal's clock is kept once and the ballots near it need no anchor of their own."""
    n = 2000
    g = Graph()
    idx = CausalIndex(Counting(g.metas.get))
    authors = [i.to_bytes(2, "big") * 16 for i in range(n)]
    joins = [g.add(authors[0], None, [])]
    idx.note(joins[0])
    for a in authors[1:]:
        joins.append(g.add(a, None, [joins[-1]]))
        idx.note(joins[-1])
    proposal = g.add(authors[0], joins[0], [joins[-1]])
    idx.note(proposal)
    idx._clocks.clear()  # as if the LRU had let every clock go (other proposals' cuts)
    idx._entries = 0
    lookups = idx._lookup
    before = lookups.calls
    ballots = [g.add(a, j, [proposal]) for a, j in zip(authors[1:], joins[1:], strict=True)]
    for b in ballots:
        idx.note(b)
    assert lookups.calls - before <= 2 * n + 8 * len(ballots), lookups.calls - before
    assert idx.memory()["clocks"] <= 2  # the proposal's (and the first ballot anchor's)
    for b in ballots[1 :: n // 20]:  # and every answer is still exact
        assert idx.vector_clock(b) == g.clock(b)
        assert idx.in_past(joins[-1], b) and not idx.in_past(ballots[0], b)


def test_a_pure_log_keeps_no_anchors_and_answers_the_same():
    """A replica without handlers asks no causal question while ingesting, so it keeps no
    anchor clocks (they cost a walk every ANCHOR_EVERY ops); a query afterwards is exact."""
    cid, ops = factory.history(6, 3 * causal.ANCHOR_EVERY)
    bare, full = Replica({}), Replica({GENESIS_KIND: lambda op, ctx: None, "note": lambda o, c: 0})
    for r in (bare, full):
        for op in ops:
            assert r.ingest(op).status == "applied"
    assert bare.causal.memory()["clocks"] == 0 and full.causal.memory()["clocks"] >= 3
    last = bare.metas[ops[-1].id]
    assert bare.causal.vector_clock(last) == full.causal.vector_clock(full.metas[ops[-1].id])
