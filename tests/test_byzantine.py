"""Byzantine eventual consistency with real stores (issue 9; ``specs/ops.md`` "Forks").

Whatever an equivocating member or a stranger signs, two honest stores that have exchanged
everything they hold end with the same state and heights, and no honest op waits in pending.
Here "exchanged" is done directly (every logged op and fork proof of one store ingested by the
other, in the order given); the sync protocol does the same over the wire.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.crdt.chain import ForkProof
from node.crdt.op import sign_op
from node.crdt.records.common import member_key
from node.protocol.sync import SyncSession
from node.service.storelog import StoreLog
from node.store import Store
from tests.factory import author, key, twin
from tests.sync_helpers import run_pair

OPEN = {"name": "c", "membership": {"rule": "open"}}
F, H, X, S = key(0), key(1), key(2), key(3)  # founder, honest member, equivocator, stranger


def logged(store: Store) -> list[bytes]:
    return [raw for (raw,) in store._db.execute("SELECT raw FROM ops ORDER BY rowid")]


def exchange(a: Store, b: Store, rng: random.Random | None = None) -> None:
    """Give each store everything the other holds (ops in any order the rng picks, then
    fork proofs), until neither learns anything new."""
    for _ in range(10):
        before = (len(logged(a)), len(logged(b)))
        for src, dst in ((a, b), (b, a)):
            raws = logged(src)
            if rng is not None:
                rng.shuffle(raws)
            dst.ingest(raws)
            for community in src.communities():
                for proof in src.fork_proofs(community):
                    dst.ingest_fork_proof(proof)
        if (len(logged(a)), len(logged(b))) == before:
            return


def same(a: Store, b: Store) -> None:
    assert sorted(a.state.items()) == sorted(b.state.items())
    for c in a.communities():
        assert a.heights(c) == b.heights(c)
        assert a.forked(c) == b.forked(c)
    assert a.pending_count() == b.pending_count() == 0


def two_nodes(tmp_path):
    """Stores A and B that both hold: the genesis by F, H and X joined."""
    a, b = Store.open(tmp_path / "a.db"), Store.open(tmp_path / "b.db")
    g = a.create_community(F, OPEN)
    a.append(H, g.id, "member.join", {})
    a.append(X, g.id, "member.join", {})
    exchange(a, b)
    return a, b, g.id


def x_op(store: Store, community: bytes, name: str):
    """X's next op as X's own node would write it on top of what ``store`` holds (not stored)."""
    return store.replica.compose(X, community, "profile.set", {"display_name": name})


def test_equivocation_does_not_split_honest_nodes(tmp_path):
    a, b, c = two_nodes(tmp_path)
    xa = x_op(a, c, "branch a")
    xb = twin(X, xa, body={"display_name": "branch b"})
    assert a.ingest([xa])[0].status == "applied"
    assert b.ingest([xb])[0].status == "applied"
    # H writes on B: B does not know the fork yet, so H's op names X's branch b as a dep.
    h1 = b.append(H, c, "profile.set", {"display_name": "honest"})
    assert xb.id in h1.deps
    h2 = b.append(H, c, "profile.set", {"display_name": "honest again"})
    exchange(a, b)
    same(a, b)
    for store in (a, b):
        assert store.status(h1.id) == ("applied", "")
        assert store.status(h2.id) == ("applied", "")
        assert store.status(xa.id) == store.status(xb.id) == ("void", "author forked")
        assert store.heights(c).get(author(X))[0] == xa.seq - 1  # the shared prefix
    # survives a restart unchanged
    state = sorted(a.state.items())
    a.close()
    with Store.open(tmp_path / "a.db") as again:
        assert sorted(again.state.items()) == state
        assert again.status(h2.id) == ("applied", "")
    b.close()


def test_deep_fork_on_many_branches_converges_in_any_order(tmp_path):
    """X runs three branches from one prefix, each 4 ops deep; honest H builds on one of
    them on each node. Any delivery order: same state, nothing honest pending."""
    a, b, c = two_nodes(tmp_path)
    base = x_op(a, c, "prefix")
    a.ingest([base])
    b.ingest([base])
    branches = []
    for n in range(3):
        ops, prev = [], base
        for i in range(4):
            op = sign_op(
                X,
                community=c,
                seq=prev.seq + 1,
                prev=prev.id,
                deps=[],
                lamport=prev.lamport + 1,
                ts=n * 100 + i,
                kind="profile.set",
                body={"display_name": f"branch {n} op {i}"},
            )
            ops.append(op)
            prev = op
        branches.append(ops)
    a.ingest(branches[0])
    b.ingest(branches[1])
    ha = a.append(H, c, "profile.set", {"display_name": "on a"})
    a.append(H, c, "profile.set", {"display_name": "again on a"})
    b.ingest(branches[2])
    hb = b.append(F, c, "profile.set", {"display_name": "founder on b"})
    assert branches[0][-1].id in ha.deps  # A does not know the fork yet
    # B holds two branches, so it knows the fork: it names no op of X any more
    assert not {op.id for ops in branches for op in ops} & set(hb.deps)
    exchange(a, b, random.Random(7))
    same(a, b)
    for store in (a, b):
        for ops in branches:
            for op in ops:
                assert store.status(op.id) == ("void", "author forked")
        assert [(p.author, p.seq) for p in store.fork_proofs(c)] == [(author(X), base.seq + 1)]
    a.close()
    b.close()


def test_stranger_ops_are_never_chosen_as_deps(tmp_path):
    a, b, c = two_nodes(tmp_path)
    s1 = sign_op(
        S,
        community=c,
        seq=1,
        prev=None,
        deps=[c],
        lamport=2,
        ts=0,
        kind="profile.set",
        body={"display_name": "stranger"},
    )
    assert b.ingest([s1])[0].status == "rejected"  # not a member
    h = b.append(H, c, "profile.set", {"display_name": "h"})
    assert s1.id not in h.deps
    a.close()
    b.close()


def test_forged_fork_proofs_cost_what_their_ops_cost_and_rebuild_nothing(tmp_path):
    """A fresh key's proof is two ops like any other: where they attach to the log they are
    logged (void, never applied), and the proof is kept and forwarded; where they name
    parents nobody has, they wait in the strangers' share of pending and the proof is not
    kept. No state is rebuilt either way, and one FORKS batch of 64 is one transaction."""
    a, _, c = two_nodes(tmp_path)
    rebuilds = []
    real = a.replica.rebuild
    a.replica.rebuild = lambda *x: rebuilds.append(x) or real(*x)
    state = sorted(a.state.items())
    proofs = []
    for i in range(64):
        k = key(40 + i)
        deps = [c] if i % 2 else [i.to_bytes(32, "big")]  # half attach, half are junk
        one = sign_op(k, community=c, seq=1, prev=None, deps=deps, lamport=2, ts=0,
                      kind="profile.set", body={"display_name": "1"})  # fmt: skip
        proofs.append(ForkProof.of(one, twin(k, one)))
    outcomes = a.ingest_fork_proofs([p.encode() for p in proofs])
    assert [o.status for o in outcomes] == ["ignored", "fork"] * 32
    assert rebuilds == [] and sorted(a.state.items()) == state
    kept = {p.author for p in a.fork_proofs(c)}
    assert kept == {p.author for p in proofs[1::2]}
    for p in proofs[1::2]:
        assert a.status(p.a.id) == a.status(p.b.id) == ("void", "author forked")
    assert a.pending_count() == 64  # the junk ops, each waiting for a dep nobody has
    a.replica.rebuild = real
    a.close()


def test_proof_voiding_only_rejected_ops_rebuilds_nothing(tmp_path):
    """A stranger whose ops were all rejected forks: statuses change, state does not."""
    a, b, c = two_nodes(tmp_path)
    s1 = sign_op(S, community=c, seq=1, prev=None, deps=[c], lamport=2, ts=0,
                 kind="profile.set", body={"display_name": "s"})  # fmt: skip
    s1b = twin(S, s1)
    a.ingest([s1])
    state = sorted(a.state.items())
    rebuilds = []
    real = a.replica.rebuild
    a.replica.rebuild = lambda *x: rebuilds.append(x) or real(*x)
    assert a.ingest([s1b])[0].status == "fork"
    assert rebuilds == []
    assert sorted(a.state.items()) == state
    assert a.status(s1.id) == a.status(s1b.id) == ("void", "author forked")
    a.close()
    b.close()


def test_member_fork_rebuilds_only_its_community(tmp_path):
    a, b, c = two_nodes(tmp_path)
    other = a.create_community(H, {"name": "other", "membership": {"rule": "open"}})
    a.append(F, other.id, "member.join", {})
    xa = x_op(a, c, "a")
    a.ingest([xa])
    scopes = []
    real = a.replica.rebuild
    a.replica.rebuild = lambda community=None: scopes.append(community) or real(community)
    assert a.ingest([twin(X, xa, body={"display_name": "b"})])[0].status == "fork"
    assert scopes == [c]
    fresh = Store.open(tmp_path / "fresh.db")
    fresh.ingest(logged(a))
    assert sorted(fresh.state.items()) == sorted(a.state.items())
    for s in (a, b, fresh):
        s.close()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), depth=st.integers(1, 4), writes=st.integers(1, 6))
def test_any_equivocation_any_order_same_state(tmp_path_factory, seed, depth, writes):
    rng = random.Random(seed)
    tmp = tmp_path_factory.mktemp("bec")
    a, b, c = two_nodes(tmp)
    # X writes a common prefix, then one branch per node, `depth` ops each
    for store in (a, b):
        store.ingest([x_op(a, c, "p")])
    for n, store in enumerate((a, b)):
        for i in range(depth):
            store.ingest([x_op(store, c, f"{n}-{i}")])
    for _ in range(writes):  # F writes on A, H on B (an honest key writes on one node)
        store, who = rng.choice(((a, F), (b, H)))
        store.append(who, c, "profile.set", {"display_name": f"w{rng.randrange(1000)}"})
    exchange(a, b, rng)
    same(a, b)
    a.close()
    b.close()


def _twenty_ops_watching_rebuilds(tmp_path):
    """Two nodes; X's ops x0..x19 on the first; the communities its rebuilds run for."""
    a, b, c = two_nodes(tmp_path)
    ops = [x_op(a, c, "x0")]
    a.ingest(ops)
    for i in range(1, 20):
        op = x_op(a, c, f"x{i}")
        a.ingest([op])
        ops.append(op)
    rebuilds: list = []
    real = a.replica.rebuild
    a.replica.rebuild = lambda community=None: rebuilds.append(community) or real(community)
    return a, b, c, ops, rebuilds


def test_a_batch_of_proofs_rebuilds_a_community_once(tmp_path):
    """A member who equivocates at every one of 20 seqs: proofs that each lower the fork seq,
    handed in as one batch (one FORKS frame), rebuild the community once, not 20 times. Two
    splits void the key from seq 1: its join too, so it is no member any more."""
    a, b, c, ops, rebuilds = _twenty_ops_watching_rebuilds(tmp_path)
    proofs = [ForkProof.of(op, twin(X, op)) for op in reversed(ops)]  # seq falls each time
    outcomes = a.ingest_fork_proofs([p.encode() for p in proofs])
    assert [o.status for o in outcomes] == ["fork"] * 20
    assert [o.reason for o in outcomes[2:]] == ["already known"] * 18
    assert rebuilds == [c]
    assert [p.seq for p in a.fork_proofs(c)] == [ops[-2].seq, ops[-1].seq]  # the first two
    assert a.forked(c) == {author(X): 1}
    for op in ops:
        assert a.status(op.id) == ("void", "author forked")
    assert a.status(a.replica.positions.get((c, author(X), 1)))[0] == "void"  # the join
    fresh = Store.open(tmp_path / "fresh.db")  # the same ops and proofs, from scratch
    fresh.ingest(logged(a))
    fresh.ingest_fork_proofs(a.fork_proofs(c))
    assert sorted(fresh.state.items()) == sorted(a.state.items())
    for s in (a, b, fresh):
        s.close()


def test_proofs_at_falling_seqs_one_at_a_time_rebuild_a_community_at_most_twice(tmp_path):
    """The same 20 equivocations as above, each proof delivered on its own (gossip, or one
    sync session each): one member key cannot force a rebuild of the whole community per op
    it ever wrote (a rebuild at 1,000,000 ops takes minutes). The first split voids from its
    seq, the second from seq 1, and then nothing can change: 2 rebuilds, not 19."""
    a, b, c, ops, rebuilds = _twenty_ops_watching_rebuilds(tmp_path)
    void_from = []
    for op in reversed(ops):  # the fork seq falls with each proof
        assert a.ingest_fork_proofs([ForkProof.of(op, twin(X, op)).encode()])[0].status == "fork"
        void_from.append(a.forked(c)[author(X)])
    assert rebuilds == [c, c]
    assert void_from == [ops[-1].seq] + [1] * 19
    a.close()
    b.close()


def test_after_a_restart_pending_holds_only_what_the_rules_allow(tmp_path):
    """Junk parked under generous bounds is re-parked under today's at open: the file and the
    memory agree, and what went stays gone."""
    a, b, c = two_nodes(tmp_path)
    b.close()
    junk = [
        sign_op(k, community=c, seq=1, prev=None, deps=[i.to_bytes(32, "big")], lamport=9,
                ts=0, kind="profile.set", body={"display_name": "j", "bio": "x" * 1500})
        for i, k in enumerate(key(100 + i) for i in range(60))
    ]  # fmt: skip
    assert {o.status for o in a.ingest(junk)} == {"pending"}
    a.close()

    def rows(store):
        return store._db.execute("SELECT count(*) FROM pending").fetchone()[0]

    with Store.open(tmp_path / "a.db", pending_bytes=64 * 1024) as small:
        kept = small.pending_count()
        assert 0 < kept < 60 and rows(small) == kept
    with Store.open(tmp_path / "a.db") as again:
        assert again.pending_count() == rows(again) == kept


def test_a_forked_author_below_its_fork_seq_keeps_its_height(tmp_path):
    """A node that holds only the first ops of an author (below the fork seq it has a proof
    for) announces those: they are one branch, and peers must still fetch them."""
    a, b, c = two_nodes(tmp_path)
    ops = []
    for i in range(6):
        op = x_op(a, c, f"x{i}")
        a.ingest([op])
        ops.append(op)
    proof = ForkProof.of(ops[-1], twin(X, ops[-1]))
    b.ingest([op.raw for op in ops[:2]])
    assert b.ingest_fork_proof(proof.encode()).status == "fork"
    assert b.heights(c)[author(X)] == (ops[1].seq, ops[1].id)
    a.ingest_fork_proof(proof)
    assert a.heights(c)[author(X)] == (ops[-2].seq, ops[-2].id)
    a.close()
    b.close()


def test_a_conversation_catches_up_in_one_session_despite_junk_pending(tmp_path):
    """Case 4: a node whose pending area is full of junk from random keys still catches up a
    600-op conversation of two members in ONE sync session."""
    from node.protocol.sync import SyncSession
    from node.service.storelog import StoreLog
    from tests.sync_helpers import run_pair

    a, b, c = two_nodes(tmp_path)
    junk = [
        sign_op(key(300 + i), community=c, seq=1, prev=None, deps=[i.to_bytes(32, "big")],
                lamport=2, ts=0, kind="profile.set", body={"display_name": "junk"})
        for i in range(2_000)
    ]  # fmt: skip
    assert {o.status for o in b.ingest(junk)} <= {"pending", "dropped"}
    for i in range(300):
        a.append(H, c, "profile.set", {"display_name": f"h{i}"})
        a.append(X, c, "profile.set", {"display_name": f"x{i}"})
    initiator = SyncSession(StoreLog(b, lambda *x: None), community=c)
    run_pair(initiator, SyncSession(StoreLog(a, lambda *x: None)))
    assert b.heights(c) == a.heights(c)
    assert sorted(b.state.items()) == sorted(a.state.items())
    a.close()
    b.close()


def test_a_fork_rebuild_reads_the_log_op_by_op(tmp_path, monkeypatch):
    """A fork that voids applied ops rebuilds the community from the log, which the store
    reads and decodes one op at a time as the rebuild reaches it (a rebuild of a community
    with a million ops holds no history in memory); the state is a fresh store's."""
    import node.store.store as store_module

    a, b, c = two_nodes(tmp_path)
    for i in range(150):
        a.append(H, c, "profile.set", {"display_name": f"h{i}"})
        a.append(X, c, "profile.set", {"display_name": f"x{i}"})
    xa = x_op(a, c, "a")
    a.ingest([xa])
    decoded, at_first_handler = [0], []
    real_decode, real_run = store_module.decode_op, a.replica._run_handler

    def counting_decode(raw, verify=True):
        decoded[0] += 1
        return real_decode(raw, verify=verify)

    def first_handler(op, meta):
        if a.replica._pass is not None and not at_first_handler:
            at_first_handler.append(decoded[0])
        return real_run(op, meta)

    monkeypatch.setattr(store_module, "decode_op", counting_decode)
    a.replica._run_handler = first_handler
    assert a.ingest([twin(X, xa, body={"display_name": "b"})])[0].status == "fork"
    assert decoded[0] > 300 and at_first_handler == [1]
    monkeypatch.undo()
    fresh = Store.open(tmp_path / "fresh.db")
    fresh.ingest(logged(a))
    assert sorted(fresh.state.items()) == sorted(a.state.items())
    for s in (a, b, fresh):
        s.close()


def _watch_rebuilds(store: Store) -> list:
    seen: list = []
    real = store.replica.rebuild
    store.replica.rebuild = lambda community=None: seen.append(community) or real(community)
    return seen


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_splits_in_any_order_one_verdict_and_at_most_two_rebuilds(tmp_path_factory, data):
    """X writes 6 ops, then splits its chain at some of them; a split's branch may go on (an
    op naming the twin: two ops at the next seq that name different prevs, no split there).
    Each piece (a twin op, a proof, a branch op, a proof of branch and chain op) reaches two
    nodes one at a time, in two orders: both end with one verdict, the rule's (no split:
    nothing void; one: void from its seq; two or more: void from seq 1), the same state, and
    neither rebuilt the community more than twice."""
    tmp = tmp_path_factory.mktemp("splits")
    a, b, c = two_nodes(tmp)
    chain = []
    for i in range(6):
        chain.append(x_op(a, c, f"x{i}"))
        a.ingest(chain[-1:])
    d = Store.open(tmp / "d.db")
    for s in (b, d):
        s.ingest(logged(a))
    splits = sorted(data.draw(st.sets(st.integers(0, 5), max_size=3), label="split at"))
    pieces = []
    for i in splits:
        t = twin(X, chain[i], body={"display_name": f"twin {i}"})
        pieces += [("op", t), ("proof", ForkProof.of(chain[i], t))]
        if i < 5 and data.draw(st.booleans(), label=f"branch goes on after {i}"):
            on = sign_op(X, community=c, seq=t.seq + 1, prev=t.id, deps=[], lamport=t.lamport + 1,
                         ts=7, kind="profile.set", body={"display_name": f"on {i}"})  # fmt: skip
            pieces += [("op", on), ("proof", ForkProof.of(chain[i + 1], on))]
    rebuilds = {}
    for s in (b, d):
        rebuilds[s] = _watch_rebuilds(s)
        for kind, x in data.draw(st.permutations(pieces)):
            if kind == "op":
                s.ingest([x])
            else:
                s.ingest_fork_proofs([x.encode()])
    want = {} if not splits else {author(X): chain[splits[0]].seq if len(splits) == 1 else 1}
    assert b.forked(c) == d.forked(c) == want
    assert sorted(b.state.items()) == sorted(d.state.items())
    assert b.pending_count() == d.pending_count() == 0
    assert len(rebuilds[b]) <= 2 and len(rebuilds[d]) <= 2
    for s in (a, b, d):
        s.close()


def test_three_ops_at_one_seq_make_the_same_splits_in_any_order(tmp_path):
    """Ops p, q (both on X's op at seq 2) and r (on a twin of it) at seq 3: p and q are a
    split at 3, r continues the split at 2. A node that logs r first still finds p and q's
    split (it compares each op with every op at the position, not with the first only)."""
    a, b, c = two_nodes(tmp_path)
    x2 = x_op(a, c, "x2")
    a.ingest([x2])
    x2b = twin(X, x2, body={"display_name": "x2 twin"})

    def on(prev, name):
        return sign_op(X, community=c, seq=prev.seq + 1, prev=prev.id, deps=[],
                       lamport=prev.lamport + 1, ts=1, kind="profile.set",
                       body={"display_name": name})  # fmt: skip

    p, q, r = on(x2, "p"), on(x2, "q"), on(x2b, "r")
    verdicts = []
    for n, order in enumerate(([x2b, r, p, q], [x2b, p, q, r], [p, x2b, r, q])):
        s = Store.open(tmp_path / f"{n}.db")
        s.ingest(logged(b))
        s.ingest([x2])
        for op in order:
            s.ingest([op])
        verdicts.append((s.forked(c), sorted(p.seq for p in s.fork_proofs(c))))
        s.close()
    assert verdicts == [({author(X): 1}, [x2.seq, p.seq])] * 3
    a.close()
    b.close()


def test_a_founder_split_twice_keeps_the_genesis_and_the_community_lives(tmp_path):
    """Two splits void a key from seq 1, except the founder's genesis: it is the community.
    The founder's other ops are void, the members go on, and a new node catches up (the
    genesis then travels by id, as the founder has no height)."""
    a, b, c = two_nodes(tmp_path)
    f = [a.append(F, c, "profile.set", {"display_name": f"f{i}"}) for i in range(3)]
    for op in (f[2], f[0]):
        a.ingest([twin(F, op, body={"display_name": "twin"})])
    assert a.forked(c) == {author(F): 1}
    assert a.status(c) == ("applied", "")
    assert {a.status(op.id) for op in f} == {("void", "author forked")}
    assert author(F) not in a.heights(c)
    h = a.append(H, c, "profile.set", {"display_name": "still here"})
    assert a.status(h.id) == ("applied", "")
    exchange(a, b)
    same(a, b)
    fresh = Store.open(tmp_path / "fresh.db")  # through the sync protocol, from nothing
    pair = (
        SyncSession(StoreLog(a, lambda *_: None), community=c),
        SyncSession(StoreLog(fresh, lambda *_: None)),
    )
    run_pair(*pair)
    assert [s.state for s in pair] == ["done", "done"]
    same(a, fresh)
    for s in (a, b, fresh):
        s.close()


def test_two_nodes_each_knowing_one_split_agree_on_seq_1_after_one_sync(tmp_path):
    """A knows X's split at one seq, B at another: their entries for X differ (heights below
    different splits), so a sync session swaps the proofs and both void X from seq 1."""
    a, b, c = two_nodes(tmp_path)
    xs = []
    for i in range(4):
        xs.append(x_op(a, c, f"x{i}"))
        a.ingest(xs[-1:])
    b.ingest(logged(a))
    a.ingest([twin(X, xs[3])])
    b.ingest([twin(X, xs[1])])
    assert (a.forked(c), b.forked(c)) == ({author(X): xs[3].seq}, {author(X): xs[1].seq})
    pair = (
        SyncSession(StoreLog(a, lambda *_: None), community=c),
        SyncSession(StoreLog(b, lambda *_: None)),
    )
    run_pair(*pair)
    assert [s.state for s in pair] == ["done", "done"]
    assert a.forked(c) == b.forked(c) == {author(X): 1}
    same(a, b)
    a.close()
    b.close()


def test_rebuilds_are_spaced_out_and_the_ones_put_off_survive_a_restart(tmp_path):
    """Many keys can each cost a rebuild of the community (a member can mint device keys):
    after a rebuild that took T seconds, the next waits 3 x (T - 0.5 s). Meanwhile the state
    (and the ops' statuses) still show what the void ops did, and the file says a rebuild
    waits; once due, or at the next open, the state is what a fresh store computes from the
    same ops and proofs."""
    a, b, c = two_nodes(tmp_path)
    y = key(4)
    a.append(y, c, "member.join", {})
    xa, ya = x_op(a, c, "x"), a.replica.compose(y, c, "profile.set", {"display_name": "y"})
    a.ingest([xa, ya])
    now = [1000.0]
    a._clock = lambda: now[0]
    real = a.replica.settle

    def slow_settle():  # a rebuild that takes 10 s
        real()
        now[0] += 10

    a.replica.settle = slow_settle
    a.ingest([twin(X, xa, body={"display_name": "x twin"})])  # rebuilt at once
    assert not a.rebuild_pending and author(X) in a.forked(c)
    a.ingest([twin(y, ya, body={"display_name": "y twin"})])  # put off: 28.5 s to wait
    assert a.rebuild_pending and a.forked(c)[author(y)] == ya.seq
    assert a.status(ya.id) == ("applied", "")  # its effect is still in the state
    assert a.state.get("profile", member_key(c, author(y)))["display_name"] == "y"
    assert a._db.execute("SELECT 1 FROM meta WHERE key = 'stale'").fetchone()
    fresh = Store.open(tmp_path / "fresh.db")
    fresh.ingest(logged(a))
    for p in a.fork_proofs(c):
        fresh.ingest_fork_proof(p)
    now[0] += 20
    assert not a.settle_due() and a.rebuild_pending  # 20 s of 28.5
    a.close()
    again = Store.open(tmp_path / "a.db")  # a restart rebuilds what waited
    assert not again.rebuild_pending
    assert sorted(again.state.items()) == sorted(fresh.state.items())
    assert again.state.get("profile", member_key(c, author(y))) is None
    assert again.status(ya.id) == ("void", "author forked")
    assert not again._db.execute("SELECT 1 FROM meta WHERE key = 'stale'").fetchone()
    # the same wait, then settle_due once it is over
    z = key(5)
    again.append(z, c, "member.join", {})
    za = again.replica.compose(z, c, "profile.set", {"display_name": "z"})
    again.ingest([za])
    again._rebuild_after, clock = 100.0, [50.0]
    again._clock = lambda: clock[0]
    again.ingest([twin(z, za, body={"display_name": "z twin"})])
    assert again.rebuild_pending and not again.settle_due()
    clock[0] = 100.0
    assert again.settle_due() and not again.rebuild_pending
    assert again.state.get("profile", member_key(c, author(z))) is None
    for s in (again, b, fresh):
        s.close()


def test_a_founder_op_at_seq_1_beside_the_genesis_is_void_and_the_genesis_stands(tmp_path):
    """The founder signs a non-genesis op at seq 1 in its own community: with the genesis it
    is a split at seq 1 (both name no prev). The op is void; the genesis is not."""
    a, b, c = two_nodes(tmp_path)
    beside = sign_op(F, community=c, seq=1, prev=None, deps=[c], lamport=2, ts=0,
                     kind="profile.set", body={"display_name": "beside"})  # fmt: skip
    assert a.ingest([beside])[0].status == "fork"
    assert a.forked(c) == {author(F): 1}
    assert a.status(beside.id) == ("void", "author forked")
    assert a.status(c) == ("applied", "")
    assert a.state.get("profile", member_key(c, author(F))) is None
    h = a.append(H, c, "profile.set", {"display_name": "still here"})
    assert a.status(h.id) == ("applied", "")
    exchange(a, b)
    same(a, b)
    a.close()
    b.close()
