"""The replica turns any delivery order of the same ops into the same state."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from node.crdt.op import sign_op
from node.crdt.replica import APPLIED, DROPPED, DUPLICATE, FORK, INVALID, PENDING, VOID, Replica
from tests.factory import PUT_HANDLERS as HANDLERS
from tests.factory import keys

KEYS = keys(4)


def simulate(seed: int, steps: int):
    """Authors write concurrently, each on its own replica, syncing now and then."""
    rnd = random.Random(seed)
    founder = Replica(HANDLERS)
    genesis = founder.compose(KEYS[0], b"", "community.create", {"name": "c"})
    founder.ingest(genesis)
    replicas = [founder] + [Replica(HANDLERS) for _ in KEYS[1:]]
    for r in replicas[1:]:
        r.ingest(genesis)
    all_ops = [genesis]
    for _ in range(steps):
        i = rnd.randrange(len(KEYS))
        if rnd.random() < 0.3:
            j = rnd.randrange(len(KEYS))
            for op in all_ops:
                if replicas[j].has(op.id) and not replicas[i].has(op.id):
                    replicas[i].ingest(op)
            continue
        body = {"name": rnd.choice("abc"), "value": rnd.randrange(-2, 10)}
        op = replicas[i].compose(KEYS[i], genesis.id, "put", body, ts=len(all_ops))
        assert replicas[i].ingest(op).status in ("applied", "rejected")
        all_ops.append(op)
    return all_ops


def snapshot(r: Replica):
    heads = {c: {a: (h.seq, h.id) for a, h in hs.items()} for c, hs in r.heads.items()}
    return sorted(r.state.items()), heads, dict(r.rejections)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 40), st.randoms(use_true_random=False))
def test_any_order_and_duplication_gives_same_state(seed, steps, rnd):
    ops = simulate(seed, steps)
    reference = Replica(HANDLERS)
    reference.ingest_many(ops)
    assert reference.pending_count() == 0
    shuffled = ops + rnd.sample(ops, k=min(len(ops), 5))
    rnd.shuffle(shuffled)
    other = Replica(HANDLERS)
    outcomes = other.ingest_many(shuffled)
    assert other.pending_count() == 0
    assert snapshot(other) == snapshot(reference)
    assert all(o.status != INVALID for o in outcomes)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 30), st.randoms(use_true_random=False))
def test_partitions_merge_to_same_state(seed, steps, rnd):
    ops = simulate(seed, steps)
    left, right = Replica(HANDLERS), Replica(HANDLERS)
    cut = rnd.randrange(len(ops) + 1)
    picked = rnd.sample(ops, k=len(ops))
    left.ingest_many(picked[:cut])
    right.ingest_many(picked[cut:])
    left.ingest_many(picked[cut:])
    right.ingest_many(picked[:cut])
    assert snapshot(left) == snapshot(right)


def test_rejected_op_stays_in_log_without_changing_state():
    r = Replica(HANDLERS)
    g = r.compose(KEYS[0], b"", "community.create", {})
    r.ingest(g)
    ok = r.compose(KEYS[0], g.id, "put", {"name": "a", "value": 1})
    r.ingest(ok)
    bad = r.compose(KEYS[0], g.id, "put", {"name": "a", "value": -1})
    out = r.ingest(bad)
    assert (out.reason, out.detail) == ("negative", "values must be >= 0")
    assert r.state.get("reg", "a")["value"] == 1
    after = r.compose(KEYS[0], g.id, "put", {"name": "a", "value": 3})
    assert after.prev == bad.id and r.ingest(after).status == APPLIED


def test_pending_until_parents_arrive_then_duplicate():
    r = Replica(HANDLERS)
    src = Replica(HANDLERS)
    g = src.compose(KEYS[0], b"", "community.create", {})
    src.ingest(g)
    ops = [g]
    for v in range(3):
        op = src.compose(KEYS[0], g.id, "put", {"name": "a", "value": v})
        src.ingest(op)
        ops.append(op)
    assert [r.ingest(o).status for o in reversed(ops)] == [PENDING] * 3 + [APPLIED]
    assert r.pending_count() == 0 and r.state.get("reg", "a")["value"] == 2
    assert r.ingest(ops[2]).status == DUPLICATE


def _first_put(community: bytes, *, deps: list[bytes], lamport: int):
    """KEYS[1]'s first op, built by hand so that it can break the chain rules."""
    return sign_op(
        KEYS[1],
        community=community,
        seq=1,
        prev=None,
        deps=deps,
        lamport=lamport,
        ts=0,
        kind="put",
        body={"name": "a", "value": 1},
    )


def test_wrong_lamport_is_invalid_and_not_logged():
    r = Replica(HANDLERS)
    g = r.compose(KEYS[0], b"", "community.create", {})
    r.ingest(g)
    op = _first_put(g.id, deps=[g.id], lamport=5)
    out = r.ingest(op)
    assert (out.status, out.reason) == (INVALID, "bad_lamport")
    assert not r.has(op.id)


def test_first_op_without_deps_is_invalid():
    r = Replica(HANDLERS)
    g = r.compose(KEYS[0], b"", "community.create", {})
    r.ingest(g)
    op = _first_put(g.id, deps=[], lamport=1)
    assert r.ingest(op).reason == "bad_deps"


def test_fork_voids_author_from_fork_seq_in_any_order():
    base = Replica(HANDLERS)
    g = base.compose(KEYS[0], b"", "community.create", {})
    base.ingest(g)
    join = base.compose(KEYS[1], g.id, "put", {"name": "x", "value": 1})
    base.ingest(join)
    branch_a, branch_b = Replica(HANDLERS), Replica(HANDLERS)
    for br in (branch_a, branch_b):
        br.ingest_many([g, join])
    a = branch_a.compose(KEYS[1], g.id, "put", {"name": "x", "value": 7})
    b = branch_b.compose(KEYS[1], g.id, "put", {"name": "x", "value": 8})
    results = []
    for order in ([g, join, a, b], [g, join, b, a], [b, a, join, g]):
        r = Replica(HANDLERS)
        r.ingest_many(order)
        proof = r.forks[(g.id, bytes(KEYS[1].verify_key))]
        assert proof.seq == 2
        assert r.state.get("reg", "x")["value"] == 1  # the forked ops are void
        results.append(r.state.get("reg", "x"))
    assert results[0] == results[1] == results[2]
    branch_a.ingest(a)
    later = branch_a.compose(KEYS[1], g.id, "put", {"name": "x", "value": 9})
    r = Replica(HANDLERS)
    assert r.ingest_many([g, join, a])[-1].status == APPLIED
    assert r.ingest(b).status == FORK
    assert r.ingest(later).status == VOID


def test_pending_junk_of_strangers_never_pushes_out_a_members_ops():
    """specs/ops.md §9 through the replica: strangers' ops that can never apply fill only
    the strangers' share; the member's waiting ops all stay and apply when their past comes."""
    src = Replica(HANDLERS)
    g = src.compose(KEYS[0], b"", "community.create", {})
    src.ingest(g)
    ops = []
    for v in range(40):
        op = src.compose(KEYS[0], g.id, "put", {"name": "a", "value": v})
        src.ingest(op)
        ops.append(op)
    r = Replica(HANDLERS, pending_bytes=256 * 1024)
    r.ingest(g)
    assert {r.ingest(o).status for o in reversed(ops[1:])} == {PENDING}  # waits for ops[0]
    junk = [
        sign_op(key, community=g.id, seq=1, prev=None, deps=[i.to_bytes(32, "big")], lamport=2,
                ts=0, kind="put", body={"name": "j", "value": 0, "pad": "x" * 2000})
        for i, key in enumerate(keys(300, start=50))
    ]  # fmt: skip
    statuses = [r.ingest(o).status for o in junk]
    assert PENDING in statuses and DROPPED in statuses  # the share filled, then junk dropped
    assert all(o.id in r._pending for o in ops[1:])
    assert r._pending.stranger_held() <= r._pending.stranger_bytes
    assert r.missing(g.id, 1) == [ops[0].id]  # what a member's op waits for comes first
    r.ingest(ops[0])
    assert r.heads[g.id][bytes(KEYS[0].verify_key)].seq == 41
