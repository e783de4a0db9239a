"""Fork branches and fetching by id (WANT / GOT), against the reference log model
(:class:`~node.protocol.memlog.MemoryLog`): an equivocator's branches split between two nodes,
honest authors built on each branch, pending ops waiting for void-branch ops."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.crdt.op import canonical
from node.protocol import wire
from node.protocol.memlog import MemoryLog
from node.protocol.plan import local_entries
from node.protocol.sync import SyncError, SyncSession
from tests.factory import chain, first_op, genesis, key, next_op
from tests.sync_helpers import log_of, run_pair

G = genesis(key(0))
C = G.id
E = key(1)  # the equivocator


def forked_chain(common: int, left: int, right: int):
    """E's chain: ``common`` shared ops, then two branches of ``left`` and ``right`` ops."""
    base = chain(E, G, common, deps=[G])
    a = chain(E, G, left, start_after=base[-1], body=lambda s: {"branch": "a", "i": s})
    b = chain(E, G, right, start_after=base[-1], body=lambda s: {"branch": "b", "i": s})
    return base, a, b


def converged(x: MemoryLog, y: MemoryLog) -> None:
    assert x.all_ids(C) == y.all_ids(C)
    assert x.pending_ids(C) == y.pending_ids(C) == set()
    assert local_entries(x, C) == local_entries(y, C)  # same heights digest


def test_split_branches_with_honest_authors_on_each_converge_in_one_session():
    base, a, b = forked_chain(4, 6, 4)  # fork at seq 5: a5..a10 and b5..b8
    h1 = chain(key(2), G, 3, deps=[a[-1]])  # honest, built on branch a
    h2 = chain(key(3), G, 2, deps=[b[-1]])  # honest, built on branch b
    x, y = log_of([G, *base, *a, *h1]), log_of([G, *base, *b, *h2])
    union = x.all_ids(C) | y.all_ids(C)
    sx, sy = SyncSession(x, community=C), SyncSession(y)
    run_pair(sx, sy)
    assert sx.state == sy.state == "done"
    converged(x, y)
    assert x.all_ids(C) == union  # both branches on both sides
    for log in (x, y):
        [proof] = log.fork_proofs(C)
        assert proof.seq == 5  # the lowest fork seq
        assert log.heights(C)[proof.author] == (4, base[-1].id)
        assert {log.status[op.id] for op in h1 + h2} == {"applied"}
    assert sx.stats.wants_out > 0 and sy.stats.wants_out > 0


def test_divergent_push_finds_the_lowest_fork_seq_in_one_session():
    base, a, b = forked_chain(2, 7, 4)  # fork at seq 3; nobody built on either branch
    x, y = log_of([G, *base, *a]), log_of([G, *base, *b])
    sx, sy = SyncSession(x, community=C), SyncSession(y)
    run_pair(sx, sy)
    for log in (x, y):
        [proof] = log.fork_proofs(C)
        assert proof.seq == 3
        assert log.pending_ids(C) == set()
    assert local_entries(x, C) == local_entries(y, C)
    # y fetched x's branch below the op x pushed at y's height (6): a3..a5 came by GOT
    assert sy.stats.got_ops_in >= 3


def test_pending_ops_are_fetched_at_session_start_even_when_in_sync():
    base, a, b = forked_chain(4, 2, 3)
    y = log_of([G, *base, *a, *b])  # holds both branches and the proof
    x = log_of([G, *base, *a, b[0]])  # holds the proof too, and ...
    x.add([b[2]])  # ... b7 by gossip: it waits for b6
    assert x.missing(C, 10) == [b[1].id]
    sx, sy = SyncSession(x, community=C), SyncSession(y)
    run_pair(sx, sy)
    assert sx.stats.rounds == 0  # SAME: no reconciliation, nothing pushed
    assert sx.stats.wants_out == 1
    converged(x, y)


def test_deep_missing_branch_costs_depth_over_256_want_rounds():
    base, a, b = forked_chain(1, 1, 600)  # fork at seq 2; branch b is 600 ops deep
    h = chain(key(2), G, 1, deps=[b[-1]])
    x = log_of([G, *base, *a, b[0]])  # knows the fork (a2, b2), not the branch
    y = log_of([G, *base, *a, *b, *h])
    sx, sy = SyncSession(x, community=C), SyncSession(y)
    run_pair(sx, sy)
    converged(x, y)
    # b2..b601: 600 ops (b2, from the proof, comes again as the bottom of the last run)
    assert sx._fetch.rounds == 3  # 256 + 256 + 88
    assert sx.stats.got_ops_in == 600


def test_a_run_is_trimmed_at_the_requesters_announced_head():
    base, a, b = forked_chain(50, 2, 2)  # fork at 51
    h = chain(key(2), G, 1, deps=[b[-1]])  # honest, built on b52
    x = log_of([G, *base])  # E's entry: (50, e50)
    y = log_of([G, *base, *a, *b, *h])  # E's entry: (50, e50, forked)
    sx, sy = SyncSession(x, community=C), SyncSession(y)
    run_pair(sx, sy)
    assert local_entries(x, C) == local_entries(y, C) and not x.pending
    # a52 (void, and no op needs it) travels only on demand
    assert x.all_ids(C) == y.all_ids(C) - {a[-1].id}
    # the proof brought b51; x asked for b52, and y's run stopped above e50, which x announced
    assert sx.stats.wants_out == 1
    assert sx.stats.got_ops_in == 2  # b51, b52: not the 50 ops below


# ---- hostile answers are blamed -------------------------------------------------------


def _victim_waiting_for(wanted):
    """A responder-side victim that holds an op waiting for ``wanted`` and has just sent its
    WANT after an in-sync exchange with a hostile initiator."""
    base, a, b = forked_chain(4, 1, 3)
    victim = log_of([G, *base, *a, b[0]])
    victim.add([b[2]])  # waits for b[1]
    assert victim.missing(C, 5) == [wanted(b).id]
    entries = local_entries(victim, C)
    hostile = SyncSession(log_of([G, *base, *a, b[0]]), community=C)
    sv = SyncSession(victim)
    sv.receive_data(hostile.data_to_send())  # same digest: SAME END WANT
    msgs = wire.FrameReader().feed(sv.data_to_send())
    assert [type(m).__name__ for m in msgs] == ["Same", "End", "Want"]
    assert entries == local_entries(victim, C)
    sv.receive_data(wire.encode(wire.End()))
    return sv, base, a, b


def got(*runs) -> bytes:
    return wire.encode(wire.Got(tuple(tuple(o.raw for o in run) for run in runs)))


def test_run_not_ending_at_the_wanted_id_is_blamed():
    sv, base, a, b = _victim_waiting_for(lambda b: b[1])
    with pytest.raises(SyncError) as err:
        sv.receive_data(got([b[0]]))
    assert err.value.reason == "unexpected_op" and err.value.blame


def test_run_with_a_gap_is_blamed():
    sv, base, a, b = _victim_waiting_for(lambda b: b[1])
    with pytest.raises(SyncError) as err:
        sv.receive_data(got([base[2], b[1]]))
    assert err.value.reason == "chain_broken" and err.value.blame


def test_run_with_a_forged_op_is_blamed():
    sv, base, a, b = _victim_waiting_for(lambda b: b[1])
    forged = cbor2.loads(b[1].raw)
    forged["body"] = {"forged": True}
    raw = canonical(forged)
    with pytest.raises(SyncError) as err:
        sv.receive_data(wire.encode(wire.Got(((raw,),))))
    assert err.value.reason in ("unexpected_op", "bad_signature") and err.value.blame


def test_got_for_nothing_asked_is_blamed():
    sv, base, a, b = _victim_waiting_for(lambda b: b[1])
    with pytest.raises(SyncError) as err:
        sv.receive_data(got([b[1]], [b[1]]))
    assert err.value.reason == "unexpected" and err.value.blame


def test_an_empty_run_is_an_answer_not_a_fault():
    sv, base, a, b = _victim_waiting_for(lambda b: b[1])
    sv.receive_data(got([]))  # "I do not hold it"
    sv.receive_data(wire.encode(wire.Done()))
    tail = [type(m).__name__ for m in wire.FrameReader().feed(sv.data_to_send())]
    assert tail == ["Done"] and sv.state == "done"  # it does not ask again this session


def test_wanting_without_end_is_a_limit_not_blame():
    sv, base, a, b = _victim_waiting_for(lambda b: b[1])
    want = wire.encode(wire.Want(tuple(bytes([i % 256, i // 256]) * 16 for i in range(256))))
    with pytest.raises(SyncError) as err:
        for _ in range(100):
            sv.receive_data(want)
            sv.data_to_send()
    assert err.value.reason == "limit_wants" and not err.value.blame


# ---- any split of a forked history converges ----------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 6),
    st.integers(1, 8),
    st.integers(1, 8),
    st.lists(st.booleans(), min_size=6, max_size=6),
    st.booleans(),
)
def test_any_split_of_a_forked_history_converges(common, left, right, where, x_first):
    """Branches and honest ops built on them, spread over two logs in any way that each log
    could hold (causally closed): after one session both hold the union, nothing waits."""
    base, a, b = forked_chain(common, left, right)
    h1 = chain(key(2), G, 2, deps=[a[-1]])
    h2 = chain(key(3), G, 2, deps=[b[-1]])
    h3 = [next_op(key(4), first_op(key(4), G, [G]), deps=[a[0], b[0]])]
    h3 = [first_op(key(4), G, [G]), *h3]
    groups = [a, b, h1, h2, h3, h3]
    x_ops, y_ops = [G, *base], [G, *base]
    for group, to_x in zip(groups, where, strict=True):
        (x_ops if to_x else y_ops).extend(group)
    # make each side causally closed: add what its ops need from the other side
    need = {op.id: op for op in [G, *base, *a, *b, *h1, *h2, *h3]}
    for ops in (x_ops, y_ops):
        have = {op.id for op in ops}
        for op in list(ops):
            stack = [op]
            while stack:
                o = stack.pop()
                for d in [o.prev, *o.deps] if o.prev else o.deps:
                    if d not in have:
                        have.add(d)
                        ops.append(need[d])
                        stack.append(need[d])
    x, y = MemoryLog(), MemoryLog()
    x.add(sorted(set(x_ops), key=lambda o: o.lamport), verify=False)
    y.add(sorted(set(y_ops), key=lambda o: o.lamport), verify=False)
    assert not x.pending and not y.pending
    union = x.all_ids(C) | y.all_ids(C)
    sx, sy = SyncSession(x, community=C), SyncSession(y)
    run_pair(sx, sy) if x_first else run_pair(sy, sx)
    converged(x, y)
    assert x.all_ids(C) >= union


# ---- the same with real SQLite stores -------------------------------------------------------


def test_real_stores_with_split_branches_converge_in_one_session(tmp_path):
    """An equivocator's branches on two real stores, an honest member building on each: one
    session and both hold the same state, heights and proofs, nothing pending."""
    from node.service.storelog import StoreLog
    from node.store import Store

    founder, honest, x = key(10), key(11), key(12)
    a, b = Store.open(tmp_path / "a.db"), Store.open(tmp_path / "b.db")
    try:
        g = a.create_community(founder, {"name": "c", "membership": {"rule": "open"}})
        a.append(honest, g.id, "member.join", {})
        a.append(x, g.id, "member.join", {})
        b.ingest([raw for (raw,) in a._db.execute("SELECT raw FROM ops ORDER BY rowid")])
        xa = [a.append(x, g.id, "profile.set", {"display_name": f"a{i}"}) for i in range(3)]
        xb = [b.append(x, g.id, "profile.set", {"display_name": f"b{i}"}) for i in range(2)]
        ha = a.append(honest, g.id, "profile.set", {"display_name": "on a"})
        fb = b.append(founder, g.id, "profile.set", {"display_name": "on b"})
        assert xa[-1].id in ha.deps and xb[-1].id in fb.deps
        la, lb = (StoreLog(s, lambda ops, outs: None) for s in (a, b))
        sa, sb = SyncSession(la, community=g.id), SyncSession(lb)
        run_pair(sa, sb)
        assert sa.state == sb.state == "done"
        assert sorted(a.state.items()) == sorted(b.state.items())
        assert a.heights(g.id) == b.heights(g.id)
        assert a.forked(g.id) == b.forked(g.id) != {}
        assert a.pending_count() == b.pending_count() == 0
        for s in (a, b):
            assert s.status(ha.id)[0] == s.status(fb.id)[0] == "applied"
            assert {s.status(o.id)[0] for o in xa + xb} == {"void"}
    finally:
        a.close()
        b.close()
