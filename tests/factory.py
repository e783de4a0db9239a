"""One shared way for tests (and vector generators) to build valid ops.

Everything here is deterministic: the same call gives byte-identical ops, so tests can compare
histories across runs and vector files stay stable.

    key(i) / keys(n, start=0)          deterministic Ed25519 signing keys (seed = bytes([i+1])*32)
    author(k)                          the 32-byte author id of a key
    genesis(k, ts=0, **charter)        a community.create op (body = charter, default name "c")
    next_op(k, after, kind=, body=, deps=(), ts=None)
                                       the op that follows ``after`` in k's chain (seq, prev,
                                       lamport chosen by the chain rules); two calls with
                                       different bodies make a fork
    first_op(k, community_or_genesis, deps, kind=, body=, ts=0)
                                       seq 1 of a non-founder (needs >= 1 dep, given as Ops)
    chain(k, community, n, kind=, body=, start_after=None, deps=(), ts=None)
                                       n more ops of k's chain in ``community``
    twin(k, op, body=None, ts=None, kind=None)
                                       another op at op's exact chain position (a fork of it)
    community(k, n, kind=, body=, **charter)
                                       [genesis, *chain]: one author's whole log
    history(n_authors, n_ops, seed=0)  (community id, ops) of several authors with random deps
    put_handler / PUT_HANDLERS         a small last-writer-wins register used by replica/store
                                       tests (negative values are Rejected)

``body`` may be a dict (same body for every op) or a function ``seq -> dict``; by default an op's
body is ``{"i": seq}`` and its ``ts`` is its seq.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import nacl.signing

from node.crdt.op import GENESIS_KIND, NO_COMMUNITY, Op, sign_op
from node.crdt.state import Rejected

Body = Mapping[str, Any] | Callable[[int], Mapping[str, Any]] | None


def key(i: int) -> nacl.signing.SigningKey:
    """Key number ``i`` (0-based). Keys 0-254 use the seed ``bytes([i + 1]) * 32``, the seeds
    the tests and vectors have always used; later ones hash ``i``."""
    if 0 <= i < 255:
        return nacl.signing.SigningKey(bytes([i + 1]) * 32)
    return nacl.signing.SigningKey(hashlib.sha256(b"we-test-key %d" % i).digest())


def keys(n: int, start: int = 0) -> list[nacl.signing.SigningKey]:
    return [key(i) for i in range(start, start + n)]


def author(k: nacl.signing.SigningKey) -> bytes:
    return bytes(k.verify_key)


def _body(body: Body, seq: int) -> Mapping[str, Any]:
    if body is None:
        return {"i": seq}
    return body(seq) if callable(body) else body


def genesis(k: nacl.signing.SigningKey, ts: int = 0, **charter: Any) -> Op:
    """A community.create op; the community id is its ``.id``."""
    return sign_op(
        k,
        community=NO_COMMUNITY,
        seq=1,
        prev=None,
        lamport=1,
        ts=ts,
        kind=GENESIS_KIND,
        body=charter or {"name": "c"},
    )


def next_op(
    k: nacl.signing.SigningKey,
    after: Op,
    *,
    kind: str = "note",
    body: Body = None,
    deps: Sequence[Op] = (),
    ts: int | None = None,
) -> Op:
    """The op after ``after`` (k's own op) with ``deps`` (Ops, so the lamport can be chosen)."""
    seq = after.seq + 1
    return sign_op(
        k,
        community=after.community_id,
        seq=seq,
        prev=after.id,
        deps=[d.id for d in deps if d.id != after.id],
        lamport=max([after.lamport, *(d.lamport for d in deps)]) + 1,
        ts=seq if ts is None else ts,
        kind=kind,
        body=_body(body, seq),
    )


def first_op(
    k: nacl.signing.SigningKey,
    community: bytes | Op,
    deps: Sequence[Op],
    *,
    kind: str = "note",
    body: Body = None,
    ts: int = 0,
) -> Op:
    """Seq 1 of an author joining ``community`` (an id or its genesis op): it must name a dep."""
    if isinstance(community, Op):
        community = community.community_id
    return sign_op(
        k,
        community=community,
        seq=1,
        prev=None,
        deps=[d.id for d in deps],
        lamport=max(d.lamport for d in deps) + 1,
        ts=ts,
        kind=kind,
        body=_body(body, 1),
    )


def chain(
    k: nacl.signing.SigningKey,
    community: bytes | Op,
    n: int,
    *,
    kind: str = "note",
    body: Body = None,
    start_after: Op | None = None,
    deps: Sequence[Op] = (),
    ts: int | None = None,
) -> list[Op]:
    """``n`` ops of k's chain: after ``start_after`` (k's latest op), or from seq 1 (then
    ``deps`` must be given). ``deps`` go on the first op only."""
    if n <= 0:
        return []
    if start_after is None:
        op = first_op(k, community, deps, kind=kind, body=body, ts=ts or 0)
    else:
        op = next_op(k, start_after, kind=kind, body=body, deps=deps, ts=ts)
    ops = [op]
    for _ in range(n - 1):
        ops.append(next_op(k, ops[-1], kind=kind, body=body, ts=ts))
    return ops


def twin(
    k: nacl.signing.SigningKey,
    op: Op,
    *,
    body: Mapping[str, Any] | None = None,
    ts: int | None = None,
    kind: str | None = None,
) -> Op:
    """An op at ``op``'s position (same community, seq, prev, deps, lamport) with a different
    body / ts / kind: together with ``op`` it proves that k forked. By default only the ts
    differs (ts + 1)."""
    if body is None and ts is None and kind is None:
        ts = op.ts + 1
    return sign_op(
        k,
        community=op.community,
        seq=op.seq,
        prev=op.prev,
        deps=op.deps,
        lamport=op.lamport,
        ts=op.ts if ts is None else ts,
        kind=op.kind if kind is None else kind,
        body=op.body if body is None else body,
    )


def community(
    k: nacl.signing.SigningKey, n: int, *, kind: str = "note", body: Body = None, **charter: Any
) -> list[Op]:
    """One author's whole log: its genesis then ``n - 1`` more ops (``n`` ops in all)."""
    g = genesis(k, **charter)
    return [g, *chain(k, g.id, n - 1, kind=kind, body=body, start_after=g)]


def history(n_authors: int, n_ops: int, seed: int = 0) -> tuple[bytes, list[Op]]:
    """A community created by key(0), then ``n_ops`` ops (kind "note", body {"i": i}) by
    random authors, each naming up to 2 other authors' latest ops. Causal (creation) order."""
    rng = random.Random(seed)
    ks = keys(n_authors)
    g = genesis(ks[0])
    ops = [g]
    heads: dict[bytes, Op] = {g.author: g}
    for i in range(n_ops):
        k = ks[rng.randrange(n_authors)]
        prev = heads.get(author(k))
        others = [o for a, o in heads.items() if a != author(k)]
        deps = rng.sample(others, min(len(others), rng.randrange(3)))
        body = {"i": i}
        if prev is None:  # a first op must name a dep: the genesis if none was drawn
            op = first_op(k, g.id, deps or [g], body=body, ts=i)
        else:
            op = next_op(k, prev, body=body, deps=deps, ts=i)
        heads[op.author] = op
        ops.append(op)
    return g.id, ops


# ---- a tiny handler set for replica / store tests ------------------------------------------


def put_handler(op: Op, ctx: Any) -> None:
    """A last-writer-wins register per name; negative values are rejected (before any write)."""
    if op.body.get("value", 0) < 0:
        raise Rejected("negative", "values must be >= 0")
    current = ctx.state.get("reg", op.body["name"])
    if current is None or tuple(current["order"]) < op.order_key:
        ctx.state.put(
            "reg", op.body["name"], {"value": op.body["value"], "order": list(op.order_key)}
        )


PUT_HANDLERS = {GENESIS_KIND: lambda op, ctx: None, "put": put_handler}


def ops_in_file(path) -> int:
    """The ops another reader of the store file at ``path`` sees: what is committed."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT count(*) FROM ops").fetchone()[0]
    finally:
        db.close()
