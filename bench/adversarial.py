"""Small ops with large costs: the CPU of one op of each expensive kind, as the log grows.

``python -m bench adversarial [small] [large]`` (default 20,000 and 200,000 ops, in one run).

Setup (not timed): one open community of 500 members; early on, the last member proposes a
charter amendment (sealed by the charter's witnesses, members 1-3; open for ballots) and then goes quiet; then a mix of
profiles, offers and offer edits up to the log size. Deps are chosen as a node's writer chooses
them (``Replica.next_fields``: the referenced record, then the newest heads its chain has not
named, up to 16). The log goes into a real SQLite ``Store`` with the default handlers (records
+ governance) in bulk (signatures already checked). Until the replica calls
``CausalIndex.note``/``fork`` itself, this benchmark wires them on its store
(``wire_causal``).

Timed, per kind, on that store: ``time.process_time`` of one ``Store.ingest`` call of 8 fresh
ops of the kind (so the commit is shared, as in a sync batch), divided by 8, median of 5 calls;
alternately from bytes (decode, signature check, causal checks, handler, durable write: what a
node does when a peer sends them) and as verified ``Op`` objects (apply only). Kinds:

- ``profile.set`` by a member: the reference (a plain op);
- ``ballot.cast`` by a member whose proposal is only transitively in its past (thousands of
  ops between);
- ``decision.enact`` of the open proposal (rejected: no seals, ``not_final``);
- ``seal.create`` and ``proposal.edit`` by a key that is not a member;
- an op whose body is ~60 KiB of small integers (decode-bound; rejected); its "apply only"
  figure is the decode alone;
- a forged fork proof (``Store.ingest_fork_proof``): two ops at seq 1 by a fresh key that has
  no logged op (one per call: 3 calls on the small log, 1 on the large).

Each is reported as a ratio to the plain op measured the same way (target <= 10 x, flat as the
log grows). On a records log of the small size: one member's last 30 ops each get a twin, one
fork proof per call with the seq falling (community rebuilds and seconds; at most 2 rebuilds). Then the sync in-sync check (two ``SyncSession`` s over identical logs, wired in
memory) with 1,000, 10,000 and 100,000 authors: bytes and round trips, or ``fails: reason``.
Writes ``results/adversarial.json``.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nacl.signing

from bench.records import CATEGORIES, DAY, GEOHASHES, MEMBERS, T0, Writer
from node.crdt.chain import ForkProof
from node.crdt.op import (
    GENESIS_KIND,
    MAX_DEPS,
    NO_COMMUNITY,
    Op,
    OpError,
    canonical,
    decode_op,
    sign_op,
    signing_input,
)
from node.store import Store

RESULTS = Path(__file__).with_name("results") / "adversarial.json"
FAR = T0 + 10_000 * DAY  # the proposal stays open for ballots
PROPOSER = MEMBERS - 1
BATCH, BATCHES = 8, 5  # ops per timed ingest call (amortizes its commit), calls per kind
KINDS = (
    ("plain", "profile.set (reference)"),
    ("ballot", "ballot.cast, proposal only transitively in past"),
    ("enact", "decision.enact, rejected (not final)"),
    ("seal", "seal.create by a non-member"),
    ("edit", "proposal.edit by a non-member"),
    ("decode", "op with a ~60 KiB body of small ints"),
    ("fork", "forged fork proof, fresh key, no logged op"),
)


class NodeWriter(Writer):
    """``records.Writer`` with deps chosen as a node's writer chooses them
    (``Replica.next_fields``): the referenced records, then the newest heads of other authors
    that the author's own chain has not named yet, up to 16 deps."""

    def __init__(self, rnd: random.Random):
        self.named: dict[int, dict[bytes, int]] = {}  # author -> author -> highest seq named
        self.rnd = rnd
        self.keys = [nacl.signing.SigningKey(i.to_bytes(4, "big") * 8) for i in range(1, 501)]
        self.heads, self.recent, self.ops = {}, [], []
        charter = {  # open, and members 1-3 seal the decisions that act
            "name": "bench",
            "membership": {"rule": "open"},
            "witnesses": [bytes(k.verify_key) for k in self.keys[1:4]],
        }
        genesis = sign_op(self.keys[0], community=NO_COMMUNITY, seq=1, prev=None, lamport=1,
                          ts=T0, kind=GENESIS_KIND, body=charter)  # fmt: skip
        self.community = genesis.id
        self._add(0, genesis)

    def write(self, who: int, kind: str, body: dict, refs: tuple[Op, ...] = ()) -> Op:
        me = bytes(self.keys[who].verify_key)
        named = self.named.setdefault(who, {})
        deps = {r.id: r for r in refs if r.author != me}
        for r in reversed(self.recent):
            if len(deps) >= MAX_DEPS:
                break
            if r.author != me and named.get(r.author, 0) < r.seq:
                deps[r.id] = r
                named[r.author] = r.seq
        prev = self.heads.get(who)
        parents = [*deps.values(), *([prev] if prev else [])]
        op = sign_op(
            self.keys[who],
            community=self.community,
            seq=prev.seq + 1 if prev else 1,
            prev=prev.id if prev else None,
            deps=sorted(deps),
            lamport=max(p.lamport for p in parents) + 1,
            ts=T0 + len(self.ops) * 1000,
            kind=kind,
            body=body,
        )
        return self._add(who, op)


def build(total: int, seed: int = 11) -> tuple[Writer, Op]:
    """The log (in ``w.ops``) and the proposal."""
    rnd = random.Random(seed)
    w = NodeWriter(rnd)
    for i in range(1, MEMBERS):
        w.write(i, "member.join", {})
    body = {
        "title": "longer half-life",
        "method": "basic",
        "opens": T0,
        "closes": FAR,
        "action": {"kind": "charter.amend", "changes": {"half_life_days": 90}},
    }
    # The proposer goes quiet afterwards: no later op of its own chain shortcuts the question
    # "is the proposal in this op's past".
    proposal = w.write(PROPOSER, "proposal.create", body)
    offers: list[tuple[int, Op]] = []
    while len(w.ops) < total:
        a, r = rnd.randrange(PROPOSER), rnd.random()
        if r < 0.4:
            w.write(a, "profile.set", {"display_name": f"m{a} {len(w.ops)}"})
        elif r < 0.7 or not offers:
            listing = {
                "title": f"offer {len(w.ops)}",
                "category": rnd.choice(CATEGORIES),
                "action": rnd.choice(("lend", "give", "share-use")),
                "geohash": rnd.choice(GEOHASHES),
                "radius_m": 1000,
                "expires": T0 + 300 * DAY,
            }
            offers.append((a, w.write(a, "offer.create", listing)))
        else:
            author, o = rnd.choice(offers[-5000:])
            w.write(author, "offer.update", {"id": o.id, "set": {"title": f"e{len(w.ops)}"}}, (o,))
    return w, proposal


class Probe:
    """Makes fresh ops of each kind against the built log and times their ingest."""

    def __init__(self, w: Writer, proposal: Op, store: Store):
        self.w, self.proposal, self.store = w, proposal, store
        self.rnd = random.Random(5)
        self.strangers = 0

    def member(self) -> int:
        return 10 + self.rnd.randrange(PROPOSER - 10)

    def stranger(self) -> int:
        """A fresh key (not a member): appended to the writer's keys."""
        self.strangers += 1
        self.w.keys.append(
            nacl.signing.SigningKey(b"stranger" + self.strangers.to_bytes(24, "big"))
        )
        return len(self.w.keys) - 1

    def make(self, kind: str) -> Op:
        w, pid = self.w, self.proposal.id
        ts = T0 + len(w.ops) * 1000
        if kind == "plain":
            return w.write(self.member(), "profile.set", {"display_name": f"p{ts}"})
        if kind == "ballot":
            return w.write(self.member(), "ballot.cast", {"proposal": pid, "choice": "yes"})
        if kind == "enact":
            return w.write(self.member(), "decision.enact", {"proposal": pid})
        if kind == "seal":
            return w.write(self.stranger(), "seal.create", {"proposal": pid})
        if kind == "edit":
            return w.write(self.stranger(), "proposal.edit", {"proposal": pid, "changes": {}})
        raise ValueError(kind)

    def heavy(self) -> bytes:
        """~60 KiB of one-byte integers: the most items per byte a body can hold. Signed by a
        fresh key at seq 1 (built by hand: ``sign_op`` refuses what decoding refuses)."""
        k, dep = self.w.keys[self.stranger()], self.w.recent[-1]
        unsigned = {
            "v": 1, "community": self.w.community, "author": bytes(k.verify_key), "seq": 1,
            "deps": [dep.id], "lamport": dep.lamport + 1, "ts": T0, "kind": "profile.set",
            "body": {"x": [1] * 60_000},
        }  # fmt: skip
        return canonical({**unsigned, "sig": k.sign(signing_input(unsigned)).signature})

    def forged_fork(self) -> bytes:
        """Two ops at seq 1 by a fresh key, never ingested: only the proof arrives."""
        k = self.w.keys[self.stranger()]
        dep = self.w.recent[-1]
        a, b = (
            sign_op(k, community=self.w.community, seq=1, prev=None, deps=[dep.id],
                    lamport=dep.lamport + 1, ts=i, kind="profile.set", body={})
            for i in (1, 2)
        )  # fmt: skip
        return ForkProof.of(a, b).encode()

    def time_kind(self, kind: str, batches: int) -> dict:
        """Median over ``batches`` ingest calls of CPU per op: ``BATCH`` fresh ops per call (so
        the transaction's commit is shared), alternately from bytes (the full path) and as
        verified Op objects (apply only). For ``decode`` the apply-only figure is the decode
        alone; a fork proof is ingested one per call."""
        full, apply_only, outcomes = [], [], set()
        for i in range(batches * 2):
            if kind == "fork":
                if i % 2:
                    continue
                proof = self.forged_fork()
                c = time.process_time()
                out = self.store.ingest_fork_proof(proof)
                full.append(time.process_time() - c)
                outcomes.add(f"{out.status} {out.reason}".strip())
                continue
            if kind == "decode":
                raws = [self.heavy() for _ in range(BATCH)]
                ops = []
            else:
                ops = [self.make(kind) for _ in range(BATCH)]
                raws = [op.raw for op in ops]
            if i % 2 == 0:
                c = time.process_time()
                outs = self.store.ingest(raws)
                full.append((time.process_time() - c) / BATCH)
            elif kind == "decode":
                c = time.process_time()
                for raw in raws:
                    try:
                        decode_op(raw, verify=False)
                    except OpError:
                        pass
                apply_only.append((time.process_time() - c) / BATCH)
                outs = self.store.ingest(raws)
            else:
                c = time.process_time()
                outs = self.store.ingest(ops, verified=True)
                apply_only.append((time.process_time() - c) / BATCH)
            outcomes.update(f"{o.status} {o.reason}".strip()[:60] for o in outs)
        return {
            "full_s": statistics.median(full),
            "apply_s": statistics.median(apply_only) if apply_only else None,
            "outcomes": sorted(outcomes),
        }


def measure(total: int, tmp: Path) -> dict:
    t = time.perf_counter()
    w, proposal = build(total)
    built = time.perf_counter() - t
    store = Store.open(tmp / f"log{total}.db")
    t = time.perf_counter()
    for i in range(0, len(w.ops), 5000):
        store.ingest(w.ops[i : i + 5000], verified=True)
    loaded = time.perf_counter() - t
    print(f"  {len(w.ops)} ops: built {built:.1f}s, ingested {loaded:.1f}s", file=sys.stderr)
    gc.collect()
    gc.freeze()
    probe = Probe(w, proposal, store)
    out: dict = {"ops": total}
    try:
        for kind, _ in KINDS:
            batches = BATCHES if kind != "fork" else (3 if total <= 50_000 else 1)
            out[kind] = probe.time_kind(kind, batches)
        causal = store.replica.causal
        out["causal_memory"] = causal.memory() if hasattr(causal, "memory") else None
    finally:
        store.close()
        gc.unfreeze()
    return out


def in_sync(authors: int, tmp: Path) -> dict:
    """Bytes and frames of the in-sync check between two sessions over identical logs."""
    from bench.sync import LogOf  # imports the network stack: only when needed
    from node.protocol.sync import SyncError, SyncSession

    founder = nacl.signing.SigningKey(b"\x07" * 32)
    genesis = sign_op(founder, community=NO_COMMUNITY, seq=1, prev=None, lamport=1, ts=0,
                      kind=GENESIS_KIND, body={"name": "wide"})  # fmt: skip
    ops = [genesis]
    for i in range(authors - 1):
        k = nacl.signing.SigningKey(b"author" + i.to_bytes(26, "big"))
        ops.append(sign_op(k, community=genesis.id, seq=1, prev=None, deps=[genesis.id],
                           lamport=2, ts=0, kind="member.join", body={}))  # fmt: skip
    store = Store.open(tmp / f"wide{authors}.db", handlers={})
    try:
        for i in range(0, len(ops), 10_000):
            store.ingest(ops[i : i + 10_000], verified=True)
        a = SyncSession(LogOf(store), community=genesis.id)
        b = SyncSession(LogOf(store))
        moved, frames = 0, 0
        try:
            for _ in range(100):
                x = a.data_to_send()
                if x:
                    b.receive_data(x)
                y = b.data_to_send()
                if y:
                    a.receive_data(y)
                moved += len(x) + len(y)
                frames += bool(x) + bool(y)
                if a.done and b.done and not x and not y:
                    break
        except SyncError as exc:
            return {"authors": authors, "fails": str(exc)[:120]}
        if a.state != "done" or b.state != "done":
            return {"authors": authors, "fails": f"ended {a.state}/{b.state}"}
        return {"authors": authors, "bytes": moved, "messages": frames}
    finally:
        store.close()


def byzantine_world(seeds: int, steps: int, nodes: int, tmp: Path) -> dict:
    """The long profile of ``tests/test_byzantine_sync.py``: honest stores, an equivocating
    member, a stranger, junk, forged proofs, restarts and partitions, synced through real
    ``SyncSession`` s; every seed must end converged (state, heights, proofs, tally)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.byzantine_world import run

    t, syncs, failed = time.perf_counter(), 0, []
    for seed in range(seeds):
        try:
            syncs += run(tmp / f"world{seed}", seed, steps, n_nodes=nodes).syncs
        except AssertionError as exc:
            failed.append([seed, str(exc)[:200]])
    return {
        "seeds": seeds,
        "steps": steps,
        "nodes": nodes,
        "syncs": syncs,
        "failed": failed,
        "seconds": round(time.perf_counter() - t, 1),
    }


def falling_forks(total: int, proofs: int, tmp: Path) -> dict:
    """The records workload of ``total`` ops; the member with the most ops gets a twin of each
    of its last ``proofs`` applied ops, one proof per call, the seq falling (each proof, under
    a rule of the lowest fork seq, voided more of the chain). Counted: community rebuilds,
    their seconds, and the seconds of all the calls."""
    from bench.records import workload

    _, ops, _ = workload(total, seed=3)
    keys = {bytes(k.verify_key): k for k in Writer(random.Random(0)).keys}
    store = Store.open(tmp / f"forks-{total}.db")
    try:
        store.ingest([o.raw for o in ops])
        counts: dict[bytes, int] = {}
        for o in ops[1:]:
            counts[o.author] = counts.get(o.author, 0) + 1
        x = max(counts, key=counts.__getitem__)
        mine = [o for o in ops if o.author == x and store.status(o.id)[0] == "applied"]
        rebuilds: list[float] = []
        real = store.replica.rebuild

        def timed(community=None):
            t = time.perf_counter()
            real(community)
            rebuilds.append(time.perf_counter() - t)

        store.replica.rebuild = timed
        t0 = time.perf_counter()
        for o in reversed(mine[-proofs:]):
            tw = sign_op(keys[x], community=o.community,
                         seq=o.seq, prev=o.prev, deps=o.deps, lamport=o.lamport, ts=o.ts + 1,
                         kind=o.kind, body=o.body)  # fmt: skip
            store.ingest_fork_proofs([ForkProof.of(o, tw).encode()])
        return {
            "ops": total,
            "proofs": proofs,
            "rebuilds": len(rebuilds),
            "rebuild_s": round(sum(rebuilds), 2),
            "seconds": round(time.perf_counter() - t0, 2),
            "void_from": store.forked(store.communities()[0])[x],
        }
    finally:
        store.close()


def main() -> None:
    sizes = [int(x) for x in sys.argv[1:3]] or [20_000, 200_000]
    results: dict = {"sizes": sizes, "logs": [], "in_sync": []}
    with tempfile.TemporaryDirectory() as d:
        results["falling_forks"] = falling_forks(sizes[0], 30, Path(d))
        results["byzantine_world"] = byzantine_world(100, 200, 4, Path(d))
        for total in sizes:
            results["logs"].append(measure(total, Path(d)))
        for authors in (1_000, 10_000, 100_000):
            results["in_sync"].append(in_sync(authors, Path(d)))
    logs = results["logs"]
    head = "".join(f" | {n:>7,} ops: x plain (us)" for n in sizes)
    print(f"adversarial ops: CPU per op as a ratio to a plain op (target <= 10 x, flat){'':<4}")
    print(f"{'kind':<48}{head}")
    for kind, label in KINDS:
        cells = []
        for r in logs:
            ratio = r[kind]["full_s"] / r["plain"]["full_s"]
            cells.append(f" | {ratio:>9.1f} x ({r[kind]['full_s'] * 1e6:>8.0f})")
        print(f"{label:<48}{''.join(cells)}")
    print("apply only (no decode / signature; decode row: decode alone):")
    for kind, label in KINDS:
        cells = []
        for r in logs:
            if r[kind]["apply_s"] is None:
                cells.append(f" | {'-':>22}")
                continue
            ratio = r[kind]["apply_s"] / r["plain"]["apply_s"]
            cells.append(f" | {ratio:>9.1f} x ({r[kind]['apply_s'] * 1e6:>8.0f})")
        print(f"{label:<48}{''.join(cells)}")
    for kind, _ in KINDS:
        print(f"  outcomes {kind}: {' / '.join(logs[-1][kind]['outcomes'])}")
    for r in logs:
        mem = r.get("causal_memory")
        if mem:
            print(
                f"  causal memos at {r['ops']:,} ops: {mem['clocks']} clocks, "
                f"{mem['clock_entries']:,} entries, ~{mem['clock_bytes'] / 1e6:.1f} MB; "
                f"{mem['targets']} targets, {mem['target_ids']} ids"
            )
    print("sync in-sync check (identical logs):")
    for r in results["in_sync"]:
        what = r.get("fails") and f"fails: {r['fails']}"
        what = what or f"{r['bytes']:,} bytes in {r['messages']} messages"
        print(f"  {r['authors']:>7,} authors: {what}")
    f = results["falling_forks"]
    print(
        f"fork proofs at falling seqs, one at a time, on {f['ops']:,} ops: {f['proofs']} proofs"
        f" -> {f['rebuilds']} community rebuilds ({f['rebuild_s']} s), {f['seconds']} s in all"
        f" (void from seq {f['void_from']}; one rebuild per proof before schema 6)"
    )
    w = results["byzantine_world"]
    print(
        f"byzantine world: {w['seeds']} seeds x {w['steps']} steps on {w['nodes']} nodes, "
        f"{w['syncs']:,} sessions: {w['seeds'] - len(w['failed'])} converged, "
        f"{len(w['failed'])} failed ({w['seconds']} s)"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
