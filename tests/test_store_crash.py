"""Crash safety: SIGKILL a process that is ingesting and appending, many times, at random points.

Some of the child's ingests share a commit (``Store.batched``). After every kill the store
must open cleanly, hold every op whose ``append`` had returned
(the child prints an op's id only after ``append`` returns), and show nothing half-written:
the persisted state rows and op statuses must equal what a fresh replica computes from the
persisted ops and fork proofs.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cbor2

from node.crdt.replica import Replica
from node.crdt.state import Rejected
from node.store import Store
from node.store import store as store_module
from node.store.schema import STATUS_NAMES
from tests.factory import keys, twin
from tests.factory import put_handler as register_put

KEYS = keys(4)
LOCAL = KEYS[3]
KILLS = 25


def put_handler(op, ctx):
    register_put(op, ctx)
    ctx.state.put("count", op.author, ctx.state.get("count", op.author, 0) + 1)


HANDLERS = {"community.create": lambda op, ctx: None, "put": put_handler}


def make_remote(genesis) -> list[bytes]:
    """Ops by two remote authors, including a fork of the first one at seq 3."""
    r = Replica(HANDLERS)
    r.ingest(genesis)
    ops = []
    for i in range(60):
        k = KEYS[1 + i % 2]
        op = r.compose(k, genesis.id, "put", {"name": "abc"[i % 3], "value": i % 7 - 1}, ts=i)
        r.ingest(op)
        ops.append(op)
    third = [o for o in ops if o.author == bytes(KEYS[1].verify_key)][2]
    fork = twin(KEYS[1], third, ts=12345, body={"name": "z", "value": 1})
    return [op.raw for op in ops] + [fork.raw]


def child(db_path: str, remote_path: str, seed: str) -> None:
    rnd = random.Random(seed)
    remote = cbor2.loads(Path(remote_path).read_bytes())
    store = Store.open(db_path, HANDLERS)
    community = store.communities()[0]
    # spans (``Store.batched``, a sync session's) open and end at random, some long enough
    # to commit on their own: a kill may land inside one
    store_module.SPAN_OPS = rnd.choice((10, 50, 10**6))
    span: contextlib.AbstractContextManager | None = None
    print("ready", flush=True)
    while True:
        if rnd.random() < 0.1:
            if span is None:
                span = store.batched()
                span.__enter__()
            else:
                span.__exit__(None, None, None)
                span = None
        if rnd.random() < 0.5:
            batch = [rnd.choice(remote) for _ in range(rnd.randint(1, 25))]
            store.ingest(batch)
        else:
            body = {"name": rnd.choice("abcd"), "value": rnd.randint(-1, 50)}
            try:
                op = store.append(LOCAL, community, "put", body)
            except Rejected:
                continue
            print(op.id.hex(), flush=True)


def check_consistent(path: Path) -> set[bytes]:
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    with Store.open(path, HANDLERS) as store:
        rows = [  # statuses by name (the file keeps a letter: schema.STATUS_CODES)
            (raw, STATUS_NAMES[status], reason)
            for raw, status, reason in store._db.execute(
                "SELECT raw, status, reason FROM ops ORDER BY rowid"
            )
        ]
        fresh = Replica(HANDLERS)
        from node.crdt.op import decode_op

        ops = [decode_op(raw) for raw, _, _ in rows]  # every stored op is authentic
        for op in ops:
            assert fresh.ingest(op).status in ("applied", "rejected", "void", "fork")
        for community in store.communities():
            for proof in store.fork_proofs(community):
                fresh.add_fork_proof(proof)
        assert sorted(fresh.state.items()) == sorted(store.state.items())
        for op, (_, status, reason) in zip(ops, rows, strict=True):
            meta = fresh.meta(op.id)
            if fresh.is_void(meta):
                assert (status, reason) == ("void", "author forked")
            elif op.id in fresh.rejections:
                assert (status, reason) == ("rejected", fresh.rejections[op.id])
            else:
                assert (status, reason) == ("applied", "")
        for community in store.communities():
            assert store.heights(community) == {
                a: (h.seq, h.id) for a, h in fresh.heights(community).items()
            }
        heads = store._db.execute("SELECT community, author, seq, id FROM heads").fetchall()
        assert sorted(heads) == sorted(
            (c, a, h.seq, h.id) for c, hs in fresh.heads.items() for a, h in hs.items()
        )
        pending = store._db.execute("SELECT id FROM pending").fetchall()
        assert all(store.status(oid) == ("pending", "") for (oid,) in pending)
        return {op.id for op in ops}


def test_sigkill_at_random_points(tmp_path):
    path = tmp_path / "node.db"
    with Store.open(path, HANDLERS) as store:
        genesis = store.create_community(KEYS[0], {"name": "crash"})
    remote_path = tmp_path / "remote.cbor"
    remote_path.write_bytes(cbor2.dumps(make_remote(genesis)))
    rnd = random.Random(7)
    returned: list[bytes] = []
    for i in range(KILLS):
        out_path = tmp_path / f"out{i}.txt"
        with open(out_path, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, __file__, str(path), str(remote_path), str(i)],
                stdout=out,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
            )
        try:
            deadline = time.monotonic() + 20
            while not out_path.read_text().startswith("ready"):
                assert proc.poll() is None, "child died before it was ready"
                assert time.monotonic() < deadline
                time.sleep(0.005)
            time.sleep(rnd.uniform(0.0, 0.25))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        lines = out_path.read_text().split("\n")
        # the last line may be cut by the kill; every complete line is a returned append
        returned += [bytes.fromhex(x) for x in lines[1:-1]]
        stored = check_consistent(path)
        missing = [x.hex() for x in returned if x not in stored]
        assert not missing, f"appends that returned but are gone after kill {i}: {missing}"
    assert len(returned) >= KILLS // 2  # the kills landed in the middle of real work
    with Store.open(path, HANDLERS) as store:
        assert store.fork_proofs(genesis.id)  # the fork arrived at some point
        assert store.status(returned[-1]) == ("applied", "")


if __name__ == "__main__":
    child(*sys.argv[1:4])
