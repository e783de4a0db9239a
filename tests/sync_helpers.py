"""Shared helpers for the sync tests: signed op histories and in-memory session wiring."""

from __future__ import annotations

import random

import nacl.signing

from node.crdt.op import NO_COMMUNITY, Op, sign_op
from node.protocol.sync import SyncSession


def key(i: int) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(bytes([i + 1]) * 32)


def history(n_authors: int, n_ops: int, seed: int = 0) -> tuple[bytes, list[Op]]:
    """A community created by author 0, then ``n_ops`` ops by random authors with deps on
    other authors' latest ops. Returned in a causal (creation) order."""
    rng = random.Random(seed)
    keys = [key(i) for i in range(n_authors)]
    genesis = sign_op(
        keys[0],
        community=NO_COMMUNITY,
        seq=1,
        prev=None,
        lamport=1,
        ts=0,
        kind="community.create",
        body={"name": "c"},
    )
    c = genesis.id
    ops = [genesis]
    heads: dict[bytes, Op] = {genesis.author: genesis}
    for i in range(n_ops):
        k = keys[rng.randrange(n_authors)]
        a = bytes(k.verify_key)
        prev = heads.get(a)
        others = [o for au, o in heads.items() if au != a]
        deps = rng.sample(others, min(len(others), rng.randrange(3)))
        lam = max([o.lamport for o in deps] + [prev.lamport if prev else 0]) + 1
        op = sign_op(
            k,
            community=c,
            seq=(prev.seq + 1) if prev else 1,
            prev=prev.id if prev else None,
            deps=[d.id for d in deps if prev is None or d.id != prev.id],
            lamport=lam,
            ts=i,
            kind="note",
            body={"i": i},
        )
        heads[a] = op
        ops.append(op)
    return c, ops


def run_pair(a: SyncSession, b: SyncSession, max_steps: int = 100_000) -> int:
    """Shuttle bytes between two sessions until both are done; returns the number of
    half round trips (steps in which something moved)."""
    steps = 0
    for _ in range(max_steps):
        x = a.data_to_send()
        if x:
            b.receive_data(x)
        y = b.data_to_send()
        if y:
            a.receive_data(y)
        if x or y:
            steps += 1
        if a.done and b.done and not x and not y:
            return steps
    raise AssertionError("sessions did not finish")
