"""Tally cost vs ingest cost: 100,000 ballots and 10,000 delegations, for every method.

Setup (not timed): one open community with 110,000 members (joins chained so that a
proposal's cut holds them all), 10,000 delegations (mostly to voters, some to other
delegators: chains and a few cycles), then one proposal per method.

Timed, per method: ingesting the 100,000 signed ballots into the Replica (records +
governance handlers, ops already decoded), then the full ``tally`` (cut, eligibility,
weights, delegation, method) provisional and final (three witnesses, seals in parts of
1,500 heads). Once, for basic: ingesting the same ballots as bytes into the SQLite store
(signature check + handlers + durable write). ``python -m bench tally [scale]``.
"""

from __future__ import annotations

import gc
import json
import random
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import nacl.signing

from node import governance
from node.crdt import records
from node.crdt.op import GENESIS_KIND, NO_COMMUNITY, Op, sign_op
from node.crdt.replica import Replica

HANDLERS = {**records.HANDLERS, **governance.HANDLERS}
OPTIONS = ["a", "b", "c", "d", "e"]
HOUR = 3_600_000
OPENS, CLOSES = 10 * HOUR, 20 * HOUR
METHODS = ["basic", "single", "approval", "score", "quadratic", "consent", "irv", "schulze"]


def keys(n: int) -> list[nacl.signing.SigningKey]:
    return [nacl.signing.SigningKey(i.to_bytes(4, "big") * 8) for i in range(1, n + 1)]


class Chain:
    """Signs ops with correct seq / prev / lamport, each op depending on the last one made."""

    def __init__(self):
        self.head: dict[int, Op] = {}
        self.last: Op | None = None
        self.cid = NO_COMMUNITY

    def op(self, k, i, kind, body, ts=0, deps=None) -> Op:
        prev = self.head.get(i)
        parents = [p for p in [self.last] if p is not None and p.author != k.verify_key.encode()]
        if deps is not None:
            parents = deps
        dep_ids = [p.id for p in parents if prev is None or p.id != prev.id]
        lam = max([p.lamport for p in parents] + ([prev.lamport] if prev else [0])) + 1
        op = sign_op(
            k,
            community=self.cid,
            seq=prev.seq + 1 if prev else 1,
            prev=prev.id if prev else None,
            deps=dep_ids,
            lamport=lam,
            ts=ts,
            kind=kind,
            body=body,
        )
        self.head[i] = op
        if deps is None:
            self.last = op
        return op


def choice(method: str, rng: random.Random):
    if method == "basic":
        return rng.choice(["yes", "yes", "no", None])
    if method == "consent":
        return rng.choice(["consent"] * 9 + ["object", None])
    if method == "single":
        return rng.choice(OPTIONS)
    if method == "approval":
        return rng.sample(OPTIONS, rng.randint(0, 3))
    if method == "score":
        return {o: rng.randint(0, 5) for o in rng.sample(OPTIONS, 3)}
    if method == "quadratic":
        return {o: rng.choice([-5, -2, 1, 3, 6]) for o in rng.sample(OPTIONS, 2)}
    return rng.sample(OPTIONS, rng.randint(1, 5))  # irv, schulze: (partial) rankings


def setup(voters: int, delegators: int):
    ks = keys(voters + delegators)
    pubs = [k.verify_key.encode() for k in ks]
    ch = Chain()
    # open membership: the bench measures tallies, not admission (the default asks two vouches)
    charter = {"name": "bench", "witnesses": pubs[:3], "membership": {"rule": "open"}}
    genesis = ch.op(ks[0], 0, GENESIS_KIND, charter)
    ch.cid = genesis.id
    ops = [genesis] + [ch.op(ks[i], i, "member.join", {}) for i in range(1, len(ks))]
    rng = random.Random(7)
    for i in range(voters, voters + delegators):
        to = rng.randrange(voters) if rng.random() < 0.9 else rng.randrange(voters, len(ks))
        if to != i:
            ops.append(ch.op(ks[i], i, "delegation.set", {"delegate": pubs[to]}))
    proposals = {}
    for m in METHODS:
        body = {"title": m, "method": m, "opens": OPENS, "closes": CLOSES, "quorum": [1, 4]}
        if m not in ("basic", "consent"):
            body["options"] = OPTIONS
        proposals[m] = ch.op(ks[0], 0, "proposal.create", body)
        ops.append(proposals[m])
    return ks, ch, ops, proposals


def ballots(ks, ch, proposal, method, voters):
    rng = random.Random(method)
    return [
        ch.op(
            ks[i],
            i,
            "ballot.cast",
            {"proposal": proposal.id, "choice": choice(method, rng)},
            ts=OPENS + i,
            deps=[proposal],
        )  # fmt: skip
        for i in range(voters)
    ]


def seals(ks, ch, proposal, cast):
    heads = [[b.author, b.seq] for b in cast]
    out = []
    for w in range(3):
        parts = [heads[j : j + 1500] for j in range(0, len(heads), 1500)] or [[]]
        for n, part in enumerate(parts):
            body = {"proposal": proposal.id, "heads": part, "final": n == len(parts) - 1}
            out.append(ch.op(ks[w], w, "seal.create", body, ts=CLOSES, deps=[proposal]))
    return out


def clock(fn):
    """Run ``fn`` once; return ((cpu seconds, wall seconds), result). CPU time of this
    process is the figure compared: the machine may be shared, and CPU time does not count
    the time spent waiting for a core (wall time is kept alongside). Garbage is collected and
    frozen first so that a full collection of the large, long-lived op graph does not land
    inside one timing at random (the same for ingest and tally, so the ratio is fair)."""
    gc.collect()
    gc.freeze()
    c, w = time.process_time(), time.perf_counter()
    result = fn()
    return (time.process_time() - c, time.perf_counter() - w), result


def run(voters: int = 100_000, delegators: int = 10_000) -> dict:
    ks, ch, base, proposals = setup(voters, delegators)
    electorate = governance.from_records()
    rows = []
    store = None
    base_heads = dict(ch.head)
    for m in METHODS:
        ch.head = dict(base_heads)  # each method's ballots follow only the shared setup
        r = None  # drop the previous method's replica before building the next
        gc.unfreeze()
        cast = ballots(ks, ch, proposals[m], m, voters)
        r = Replica(HANDLERS)
        r.ingest_many(base)
        ingest, outs = clock(partial(r.ingest_many, cast))
        assert all(o.status == "applied" for o in outs), outs[0]
        count = partial(governance.tally, r.state, r.causal, proposals[m].id, electorate)
        prov, _ = clock(count)
        r.ingest_many(seals(ks, ch, proposals[m], cast))
        final, fin = clock(count)
        assert fin.final and len(fin.counted) == voters and fin.flow.delegated > 0
        rows.append(
            {
                "method": m,
                "ballots": voters,
                "delegations": delegators,
                "ingest_cpu_s": ingest[0],
                "ingest_wall_s": ingest[1],
                "tally_provisional_cpu_s": prov[0],
                "tally_final_cpu_s": final[0],
                "tally_final_wall_s": final[1],
                "final_over_ingest_cpu": final[0] / ingest[0],
                "winner": fin.outcome.winner,
                "passed": fin.passed,
                "delegated_weight": str(fin.flow.delegated),
            }
        )
        print(f"  {m}: ingest {ingest[0]:.2f}s, tally {final[0]:.2f}s (cpu)", file=sys.stderr)
        if m == "basic":
            store = store_ingest(base, cast)
    return {
        "rows": rows,
        "store_ingest_basic_cpu_s": store[0],
        "store_ingest_basic_wall_s": store[1],
        "voters": voters,
    }


def store_ingest(base, cast) -> tuple[float, float]:
    from node.store.store import Store

    with tempfile.TemporaryDirectory() as d, Store.open(Path(d) / "bench.db") as s:
        s.ingest([op.raw for op in base])
        t, outs = clock(lambda: s.ingest([op.raw for op in cast]))
        assert all(o.status == "applied" for o in outs)
        return t


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    result = run(int(100_000 * scale), int(10_000 * scale))
    print(f"CPU seconds; {result['voters']:,} ballots, {int(10_000 * scale):,} delegations")
    print(
        f"{'method':<10} {'ingest':>8} {'tally prov':>11} {'tally final':>12} {'final/ingest':>13}"
    )
    for row in result["rows"]:
        print(
            f"{row['method']:<10} {row['ingest_cpu_s']:>8.2f} {row['tally_provisional_cpu_s']:>11.2f}"
            f" {row['tally_final_cpu_s']:>12.2f} {row['final_over_ingest_cpu']:>13.3f}"
        )
    s = result["store_ingest_basic_cpu_s"]
    basic = result["rows"][0]
    print(f"store ingest (bytes, signature check, SQLite) of the basic ballots: {s:.2f}s cpu,"
          f" {result['store_ingest_basic_wall_s']:.2f}s wall;"
          f" basic final tally / store ingest = {basic['tally_final_cpu_s'] / s:.3f}")  # fmt: skip
    out = Path(__file__).parent / "results" / "tally.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
