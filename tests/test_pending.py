"""The pending area: bounded in bytes, per-author quotas, strangers in their own share.

Real signed ops throughout. The rules tested here are the ones in ``specs/ops.md`` §9; the
property test compares the area with a brute-force reading of those rules."""

from __future__ import annotations

import hashlib
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.crdt.op import Op, sign_op
from node.crdt.pending import OP_OVERHEAD, WAIT_OVERHEAD, PendingArea
from tests.factory import author, first_op, genesis, key, next_op

COMMUNITY = hashlib.sha256(b"pending test community").digest()
KiB = 1024


def ghost(i: int) -> bytes:
    """An op id nobody has: a parent that never arrives."""
    return hashlib.sha256(b"ghost %d" % i).digest()


def make(k: int, lamport: int, *, pad: int = 0, seq: int = 1, community: bytes = COMMUNITY) -> Op:
    """An op of key ``k`` at ``lamport`` waiting for a ghost dep (the pending area does not
    check chain rules: the replica did)."""
    return sign_op(
        key(k),
        community=community,
        seq=seq,
        prev=ghost(-(k * 100_000 + lamport * 100 + seq)) if seq > 1 else None,
        deps=[ghost(k * 100_000 + lamport * 100 + seq)],
        lamport=lamport,
        ts=0,
        kind="note",
        body={"pad": b"x" * pad},
    )


def parents(op: Op) -> list[bytes]:
    return [p for p in (op.prev, *op.deps) if p is not None]


def cost(op: Op) -> int:
    """What the area charges for ``op`` parked waiting for all its parents."""
    return len(op.raw) + OP_OVERHEAD + WAIT_OVERHEAD * len(parents(op))


def park(area: PendingArea, op: Op, known: bool = True) -> tuple[bool, list[bytes]]:
    return area.park(op, parents(op), known)


# ----------------------------------------------------------------------------- basics
def test_holds_the_encoding_and_charges_raw_plus_overhead():
    op = make(1, 3, pad=100)
    area = PendingArea()
    assert park(area, op) == (True, [])
    assert len(area) == 1 and op.id in area and area.bytes == cost(op)
    assert area.author_held(op.author) == cost(op)
    got = area.get(op.id)
    assert got == op and got.raw == op.raw and got.body == op.body
    assert park(area, op) == (True, [])  # already held: unchanged
    assert area.bytes == cost(op)
    assert area.take_waiters(op.deps[0]) == [op.id]
    assert area.remove(op.id) == op
    assert len(area) == 0 and area.bytes == 0 and area.get(op.id) is None
    assert not area.has_waiters() and area.author_held(op.author) == 0


def test_waiters_are_taken_in_id_order_and_removal_clears_them():
    g = genesis(key(0))
    ops = [first_op(key(i), g, [g]) for i in range(1, 6)]
    area = PendingArea()
    for op in ops:
        area.park(op, [g.id], True)
    assert area.take_waiters(g.id) == sorted(op.id for op in ops)
    assert area.take_waiters(g.id) == []
    area.park(next_op(key(1), ops[0]), [ops[0].id], True)
    assert area.has_waiters()
    assert area.missing() == []  # the parent it waits for is held: sync need not ask for it
    area.remove(ops[0].id)
    assert area.missing() == [ops[0].id]


def test_an_op_larger_than_a_bound_is_refused_outright():
    op = make(1, 1, pad=4 * KiB)
    assert park(PendingArea(author_bytes=cost(op) - 1), op) == (False, [])
    assert park(PendingArea(10 * cost(op), stranger_share=0.05), op, known=False) == (False, [])
    assert park(PendingArea(10 * cost(op), stranger_share=0.1), op, known=False) == (True, [])


# ---------------------------------------------------------------------- author quota
def test_author_quota_keeps_the_authors_lowest_lamports():
    ops = [make(1, lam, pad=500) for lam in range(1, 9)]
    area = PendingArea(author_bytes=3 * cost(ops[0]))
    for op in reversed(ops):  # newest first: each older op evicts the author's highest
        assert park(area, op)[0]
    assert {o.lamport for o in area.ops()} == {1, 2, 3}
    assert park(area, ops[7]) == (False, [])  # higher than all it holds: refused, no eviction
    other = make(2, 50, pad=500)
    assert park(area, other) == (True, [])  # another author has its own quota
    assert area.author_held(author(key(1))) <= area.author_bytes


def test_author_quota_spends_the_authors_stranger_ops_before_its_known_ones():
    low_known, high_stranger = make(1, 1, pad=500), make(1, 9, pad=500, seq=2)
    area = PendingArea(author_bytes=cost(low_known) + cost(high_stranger))
    assert park(area, low_known, known=True)[0]
    assert park(area, high_stranger, known=False)[0]
    # a stranger op of the same author can evict only the author's stranger ops above it
    assert park(area, make(1, 20, pad=500, seq=3), known=False) == (False, [])
    newer_known = make(1, 5, pad=500, seq=4)
    assert park(area, newer_known, known=True) == (True, [high_stranger.id])
    assert park(area, make(1, 5, pad=500, seq=5), known=False) == (False, [])


# --------------------------------------------------------------------- stranger share
def test_strangers_share_evicts_the_biggest_stranger_holder_first():
    small = make(10, 1, pad=100)
    big = [make(11, lam, pad=2000) for lam in (1, 2, 3)]
    share = cost(small) + sum(map(cost, big))
    area = PendingArea(4 * share, stranger_share=0.25)
    assert area.stranger_bytes == share
    for op in [small, *big]:
        assert park(area, op, known=False) == (True, [])
    newcomer = make(12, 7, pad=100)
    kept, evicted = park(area, newcomer, known=False)
    assert kept and evicted == [big[2].id]  # the biggest holder's highest op, not the small one
    assert area.stranger_held() <= area.stranger_bytes


def test_strangers_share_ties_go_to_the_lowest_author_id():
    ops = [make(20 + i, 1, pad=300) for i in range(4)]
    area = PendingArea(4 * 4 * cost(ops[0]), stranger_share=0.25)
    for op in ops:
        assert park(area, op, known=False)[0]
    kept, evicted = park(area, make(30, 1, pad=300), known=False)
    lowest = min(ops, key=lambda o: o.author)
    assert kept and evicted == [lowest.id]


def test_a_stranger_never_evicts_a_known_op():
    known = [make(40 + i, 5, pad=1000) for i in range(3)]
    area = PendingArea(sum(map(cost, known)) + 100, stranger_share=0.5)
    for op in known:
        assert park(area, op)[0]
    stranger = make(50, 1, pad=10)  # lower lamport, room in its share, none in the total
    assert park(area, stranger, known=False) == (False, [])
    assert len(area) == 3 and area.stranger_held() == 0


# ------------------------------------------------------------------------------ total
def test_known_ops_push_out_strangers_first_then_the_biggest_known_holder():
    strangers = [make(60 + i, 1, pad=1000) for i in range(2)]
    a = [make(70, lam, pad=1000) for lam in (3, 4)]
    b = make(71, 9, pad=1000)
    area = PendingArea(3 * cost(a[0]) + 10, stranger_share=2 / 3)
    for op in strangers:
        assert park(area, op, known=False)[0]
    assert park(area, a[0]) == (True, [])
    assert park(area, a[1]) == (True, [min(strangers, key=lambda o: o.author).id])
    assert park(area, b) == (True, [max(strangers, key=lambda o: o.author).id])
    assert area.stranger_held() == 0
    c = make(72, 1, pad=1000)
    assert park(area, c) == (True, [a[1].id])  # author 70 holds the most: its highest goes
    assert park(area, make(70, 10, pad=1000, seq=2)) == (False, [])  # would be its own victim


def test_a_refusal_leaves_everything_as_it_was():
    """A stranger op that first evicts its author's higher op (quota), then finds no room in the
    total, is refused: the ops it evicted on the way are back."""
    high = [make(80, lam, pad=300) for lam in (5, 6)]
    low = make(80, 1, pad=2000)
    filler = make(81, 1, pad=2000)
    c = cost(high[0])
    assert cost(low) > 2 * c
    area = PendingArea(2 * c + cost(filler), author_bytes=c + cost(low), stranger_share=1.0)
    for op in high:
        assert park(area, op, known=False)[0]
    assert park(area, filler)[0]
    before = ([o.id for o in area.ops()], area.bytes, area.stranger_held())
    assert park(area, low, known=False) == (False, [])
    assert ([o.id for o in area.ops()], area.bytes, area.stranger_held()) == before
    assert area.author_held(low.author) == 2 * c


# ------------------------------------------------------------------------- missing
def test_missing_names_known_needs_first_then_lowest_lamport():
    area = PendingArea()
    j = make(90, 1)
    m1, m2 = make(91, 7), make(92, 4)
    elsewhere = make(93, 2, community=hashlib.sha256(b"elsewhere").digest())
    park(area, j, known=False)
    park(area, m1)
    park(area, m2)
    park(area, elsewhere)
    assert area.missing() == [elsewhere.deps[0], m2.deps[0], m1.deps[0], j.deps[0]]
    assert area.missing(COMMUNITY) == [m2.deps[0], m1.deps[0], j.deps[0]]
    assert area.missing(COMMUNITY, limit=1) == [m2.deps[0]]


def test_ops_lists_known_first_then_by_lamport():
    area = PendingArea()
    s, k1, k2 = make(94, 1), make(95, 8), make(96, 3)
    park(area, s, known=False)
    park(area, k1)
    park(area, k2)
    assert [o.id for o in area.ops()] == [k2.id, k1.id, s.id]


# ------------------------------------------------------------------------- poisoning
@cache
def junk_flood() -> tuple[list[Op], list[Op]]:
    """10,000 small ops and 300 of ~64 KiB, each from its own random key, lamport 1, waiting
    for a dep that never comes."""
    small = [make(1000 + i, 1) for i in range(10_000)]
    large = [make(20_000 + i, 1, pad=64 * KiB - 300) for i in range(300)]
    return small, large


@cache
def conversation(n: int = 600) -> tuple[Op, list[Op], list[Op]]:
    """Two members alternate, each op naming the other's latest: (genesis, logged, ops)."""
    a, b = key(0), key(1)
    g = genesis(a)
    b1 = first_op(b, g, [g])
    heads = {0: g, 1: b1}
    ops = []
    for i in range(n):
        me, other = i % 2, 1 - i % 2
        op = next_op((a, b)[me], heads[me], deps=[heads[other]])
        heads[me] = op
        ops.append(op)
    return g, [g, b1], ops


def release(area: PendingArea, applied: set[bytes], arrived: bytes) -> list[bytes]:
    """What the replica does when ``arrived`` is applied: apply every waiter whose parents are
    all applied, in causal order."""
    order, work = [], [arrived]
    while work:
        for w in area.take_waiters(work.pop()):
            op = area.get(w)
            if op is None or any(p not in applied for p in (op.prev, *op.deps) if p):
                continue
            area.remove(w)
            applied.add(w)
            order.append(w)
            work.append(w)
    return order


def test_a_flood_of_stranger_ops_neither_evicts_nor_stalls_a_members_conversation():
    small, large = junk_flood()
    g, logged, ops = conversation()
    area = PendingArea()
    for op in small + large:
        park(area, op, known=False)
        assert area.stranger_held() <= area.stranger_bytes
    assert area.bytes <= area.limit_bytes and len(area) > 10_000
    applied = {o.id for o in logged}
    for op in reversed(ops[1:]):  # newest first: every op waits
        missing = {p for p in (op.prev, *op.deps) if p and p not in applied}
        assert area.park(op, missing, True) == (True, [])
    assert all(o.id in area for o in ops[1:])
    assert area.missing(g.id, limit=1) == [ops[0].id]  # members' need first, despite lamport 1
    applied.add(ops[0].id)
    assert release(area, applied, ops[0].id) == [o.id for o in ops[1:]]
    assert area.stranger_held() == area.bytes  # only junk left


def test_in_a_tight_area_members_push_the_flood_out():
    small, _ = junk_flood()
    g, logged, ops = conversation()
    area = PendingArea(1 * 2**20, author_bytes=2**20, stranger_share=0.5)
    for op in small:
        park(area, op, known=False)
    assert area.stranger_held() <= area.stranger_bytes < len(small) * cost(small[0])
    applied = {o.id for o in logged}
    evicted_ids: set[bytes] = set()
    for op in reversed(ops[1:]):
        missing = {p for p in (op.prev, *op.deps) if p and p not in applied}
        kept, evicted = area.park(op, missing, True)
        assert kept
        evicted_ids.update(evicted)
    assert not evicted_ids & {o.id for o in ops}
    assert area.bytes <= area.limit_bytes
    applied.add(ops[0].id)
    assert release(area, applied, ops[0].id) == [o.id for o in ops[1:]]


# --------------------------------------------------------------------------- property
POOL = [
    make(100 + a, lam, pad=pad, seq=s)
    for a in range(5)
    for s, (lam, pad) in enumerate([(1, 0), (2, 900), (5, 40), (4, 2500), (7, 300), (6, 1500)], 1)
]


def reference_park(held: dict, op: Op, stranger: bool, area: PendingArea):
    """specs/ops.md §9 read literally, by brute force over ``held`` (id -> (op, stranger))."""
    c = cost(op)
    if op.id in held:
        return True, [], held
    if c > area.author_bytes or c > (area.stranger_bytes if stranger else area.limit_bytes):
        return False, [], held
    trial = {**held, op.id: (op, stranger)}

    def bytes_of(pred):
        return sum(cost(o) for o, s in trial.values() if pred(o, s))

    def top(cls):  # the class's biggest holder (lowest id on ties), its highest (lamport, id)
        per: dict[bytes, int] = {}
        for o, s in trial.values():
            if s == cls:
                per[o.author] = per.get(o.author, 0) + cost(o)
        who = min(per, key=lambda a: (-per[a], a))
        return max(
            (o for o, s in trial.values() if s == cls and o.author == who),
            key=lambda o: (o.lamport, o.id),
        )

    evicted = []

    def evict(victim):
        if victim.id == op.id:
            raise LookupError
        del trial[victim.id]
        evicted.append(victim.id)

    try:
        while bytes_of(lambda o, s: o.author == op.author) > area.author_bytes:
            mine = [(s, o.lamport, o.id, o) for o, s in trial.values() if o.author == op.author]
            evict(max(mine, key=lambda t: t[:3])[3])
        if stranger:
            while bytes_of(lambda o, s: s) > area.stranger_bytes:
                evict(top(True))
        while bytes_of(lambda o, s: True) > area.limit_bytes:
            evict(top(bytes_of(lambda o, s: s) > 0))
    except LookupError:
        return False, [], held
    return True, evicted, trial


actions = st.lists(
    st.one_of(
        st.tuples(st.just("park"), st.integers(0, len(POOL) - 1), st.booleans()),
        st.tuples(st.just("remove"), st.integers(0, 10**6), st.booleans()),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    actions,
    st.integers(3_000, 25_000),
    st.integers(1_500, 9_000),
    st.sampled_from([0.0, 0.2, 0.5, 1.0]),
)
def test_bounds_hold_and_strangers_never_displace_known_ops(acts, limit, quota, share):
    area = PendingArea(limit, author_bytes=quota, stranger_share=share)
    held: dict[bytes, tuple[Op, bool]] = {}
    for what, i, known in acts:
        if what == "park":
            op = POOL[i]
            kept, evicted, held = reference_park(held, op, not known, area)
            assert area.park(op, parents(op), known) == (kept, evicted)
        elif held:
            victim = sorted(held)[i % len(held)]
            assert area.remove(victim) == held.pop(victim)[0]
        assert sorted(o.id for o in area.ops()) == sorted(held)
        assert area.bytes == sum(cost(o) for o, _ in held.values()) <= area.limit_bytes
        assert area.stranger_held() == sum(cost(o) for o, s in held.values() if s)
        assert area.stranger_held() <= area.stranger_bytes
        for a in {o.author for o, _ in held.values()}:
            assert area.author_held(a) <= area.author_bytes


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions, st.integers(3_000, 25_000), st.integers(1_500, 9_000))
def test_a_stranger_op_never_evicts_a_known_op(acts, limit, quota):
    area = PendingArea(limit, author_bytes=quota, stranger_share=0.5)
    for what, i, known in acts:
        if what == "park":
            was_stranger = {o.id: area.is_stranger_op(o.id) for o in area.ops()}
            kept, evicted = area.park(POOL[i], parents(POOL[i]), known)
            if not known:
                assert all(was_stranger[e] for e in evicted)
        elif len(area):
            ids = sorted(o.id for o in area.ops())
            area.remove(ids[i % len(ids)])
