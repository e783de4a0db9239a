"""Sync and gossip over real libp2p hosts on loopback (TCP + Noise + Yamux), in one run.

``python -m bench sync [authors] [ops_per_author]`` (default 50 x 1000 = 50,000 ops).

1. Local ingest of the ops into an empty SQLite store (``Store.ingest_range`` per author range:
   one signature per range) from their bytes — the ceiling for any catch-up, which receives
   bytes; also from already decoded Op objects (the store's share alone, reported beside it;
   until issue 13 the ratio in (2) was taken against this one). The ranges share commits as a
   catch-up's batches do (``Store.batched``); the rate with a commit per range (the reference
   before commit spans) is reported beside it.
2. Catch-up: the same ops from a full store to an empty one over one ``/we/sync/2.1.0`` stream
   between two hosts (sender pushes in causal order, window 4 x 512-op batches), with both
   hosts in this process, and with the sender in another process (as between two nodes; it
   alternates with (1) ``ROUNDS`` times, and each reports its best run). Reported:
   ops/s, its ratio to (1), and sync bytes / encoded op bytes (framing, and since 2.1 the
   compression of OPS batches: below 1; before compression the target was <= 1.15 for the
   framing alone; Noise adds 16 bytes and Yamux 12 per transport frame on top, < 0.1 %).
   Then the same over a ``LINK_RATE`` link (a network namespace with its loopback shaped; root
   only), as 2.0 (plain) and 2.1 (compressed): what a member behind a home connection waits.
3. The in-sync check afterwards: bytes and round trips.
4. Gossip propagation across 10 hosts (ring + chords): p50 / p99 from publish to delivery.
5. pycrdt (Yjs/Yrs) state-vector sync of an equivalent document (one Y.Array entry per op
   holding the same fields, one Yjs client per author writing in the same causal order) from a
   full doc to an empty one: update bytes and time (best of ``ROUNDS``), and the in-sync
   check's bytes.
6. Floors: the same ops' rows written alone into a store's ``ops`` table, and each op decoded
   and hashed alone (native code both), as ratios to pycrdt's time: what a receiver keeping
   these ops in our store pays at the least, whatever its own code.

Both stores run with no record handlers (pure log), so (1) and (2) measure the same work.
Both hosts of (2) run in this one process and thread: sender, receiver and both ends of Noise
share one core, so the ratio in (2) is a lower bound for two machines. The receiver decodes
every op once (to check it against the announced ranges; ``Store.ingest_ranges`` takes the
Ops); the sender decodes nothing (``Store.entries_from``). The fixtures are frozen out of the
garbage collector before anything is timed.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import libipld
import trio

from bench.ingest import make_ops
from node.crdt.op import Op, op_id
from node.identity import Identity
from node.protocol.gossip import Gossip
from node.protocol.host import Host
from node.protocol.sync import SyncSession
from node.protocol.syncnet import drive, session_on
from node.protocol.wire import PROTOCOL_ID, PROTOCOL_PLAIN, PROTOCOLS
from node.store import Store, schema
from node.store.flush import INSERT_OP

RESULTS = Path(__file__).with_name("results") / "sync.json"
LINK_RATE = "20mbit"  # a home connection's uplink, shared by both directions here
LINK_SHAPE = ("tbf", "rate", LINK_RATE, "burst", "256kb", "latency", "400ms")  # tc qdisc
ROUNDS = 3  # local ingest, the two-process catch-up and pycrdt's sync: the best of this many


class LogOf:
    """A Store as the sync protocol's LocalLog (fork proofs go to the store too)."""

    def __init__(self, store: Store):
        self.s = store

    def heights(self, c):
        return self.s.heights(c)

    def ops_from(self, c, a, f, n):
        return self.s.ops_from(c, a, f, n)

    def ingest_range(self, ops):
        return self.s.ingest_range(ops)

    def raw_from(self, c, a, f, n):
        return self.s.raw_from(c, a, f, n)

    def entries_from(self, c, a, f, n):
        return self.s.entries_from(c, a, f, n)

    def ingest_ranges(self, runs):
        return self.s.ingest_ranges(runs)

    def fork_proofs(self, c):
        return self.s.fork_proofs(c)

    def add_fork_proof(self, p):
        self.s.ingest_fork_proof(p)


def local_ingest(
    ranges: list[list[Op]], path: Path, *, decoded: bool = False, span: bool = True
) -> float:
    """Seconds to ingest the ranges with ``Store.ingest_range``: from their bytes (what a
    catch-up receives, and what ``bench ingest`` calls bulk ingest), or ``decoded`` from the
    Op objects (no decoding at all: the store's share alone). The ranges share commits as a
    catch-up's batches do (``Store.batched``), unless not ``span`` (each range committed:
    the reference before commit spans)."""
    items = ranges if decoded else [[o.raw for o in r] for r in ranges]
    with Store.open(path, handlers={}) as store:
        start = time.perf_counter()
        with store.batched() if span else contextlib.nullcontext():
            for r in items:
                store.ingest_range(r)
        elapsed = time.perf_counter() - start
    return elapsed


async def catch_up(ranges, community, tmp: Path) -> dict:
    src = Store.open(tmp / "src.db", handlers={})
    for r in ranges:
        src.ingest_range(r)
    dst = Store.open(tmp / "dst.db", handlers={})
    total = sum(len(r) for r in ranges)
    op_bytes = sum(len(o.raw) for r in ranges for o in r)
    out: dict = {}
    try:
        async with (
            Host(Identity.from_seed(b"\x01" * 32).libp2p_keypair()).run() as a,
            Host(Identity.from_seed(b"\x02" * 32).libp2p_keypair()).run() as b,
        ):
            served: list[SyncSession] = []

            async def serve(stream, peer):
                s = session_on(stream, LogOf(src), peer=peer.encode())
                served.append(s)
                await drive(stream, s)

            for protocol in PROTOCOLS:  # 2.1, and 2.0 as the daemon serves it
                a.set_handler(protocol, serve)
            await b.connect(a.listen_addrs[0])
            stream = await b.open_stream(a.peer_id, PROTOCOL_ID)
            session = session_on(stream, LogOf(dst), community=community)
            start = time.perf_counter()
            with dst.batched():  # as the daemon's sessions (``Service`` syncing)
                await drive(stream, session)
            elapsed = time.perf_counter() - start
            got = sum(h[0] for h in dst.heights(community).values())
            assert got == total, (got, total)
            st = session.stats
            out["catchup_s"] = elapsed
            out["catchup_ops_per_s"] = total / elapsed
            out["wire_bytes"] = st.bytes_in + st.bytes_out
            out["op_bytes"] = op_bytes
            out["wire_per_op_ratio"] = (st.bytes_in + st.bytes_out) / op_bytes
            out["batches"] = st.frames_in
            # the in-sync check
            stream = await b.open_stream(a.peer_id, PROTOCOL_ID)
            again = session_on(stream, LogOf(dst), community=community)
            start = time.perf_counter()
            await drive(stream, again)
            out["in_sync_s"] = time.perf_counter() - start
            out["in_sync_bytes"] = again.stats.bytes_in + again.stats.bytes_out
            out["in_sync_round_trips"] = 1  # HELLO -> HELLO+END (END back is fire-and-forget)
            out["in_sync_authors"] = len(dst.heights(community))
            assert again.stats.ops_in == 0, again.stats
            out["in_sync_frames_in"] = again.stats.frames_in
    finally:
        src.close()
        dst.close()
    return out


async def serve_store(path: Path) -> None:
    """The sending peer of the two-process catch-up (``python -m bench.sync --serve PATH``):
    serves the store at ``path`` over sync, prints its address and peer id, and stops when
    its stdin closes."""
    src = Store.open(path, handlers={})
    try:
        async with Host(Identity.from_seed(b"\x01" * 32).libp2p_keypair()).run() as a:

            async def serve(stream, peer):
                session = session_on(stream, LogOf(src), peer=peer.encode())
                await drive(stream, session)

            for protocol in PROTOCOLS:  # 2.1, and 2.0 as the daemon serves it
                a.set_handler(protocol, serve)
            print(a.listen_addrs[0], a.peer_id, flush=True)
            await trio.to_thread.run_sync(sys.stdin.read)
    finally:
        src.close()


async def catch_up_from_process(
    src_path: Path, community: bytes, dst_path: Path, protocol: str = PROTOCOL_ID
) -> dict:
    """Catch-up as between two nodes: the sender is another process (another core when one is
    free), so the receiver's rate is not shared with the sender's CPU."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.sync", "--serve", str(src_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        line = await trio.to_thread.run_sync(proc.stdout.readline)
        addr, peer = line.decode().split()
        with Store.open(dst_path, handlers={}) as dst:
            async with Host(Identity.from_seed(b"\x03" * 32).libp2p_keypair()).run() as b:
                await b.connect(addr)
                stream = await b.open_stream(peer, protocol)
                session = session_on(stream, LogOf(dst), community=community)
                start = time.perf_counter()
                with dst.batched():  # as the daemon's sessions (``Service`` syncing)
                    await drive(stream, session)
                elapsed = time.perf_counter() - start
            got = sum(h[0] for h in dst.heights(community).values())
        wire_bytes = session.stats.bytes_in + session.stats.bytes_out
        return {"catchup_2proc_s": elapsed, "catchup_2proc_ops": got, "wire_bytes": wire_bytes}
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


def over_link(
    src_path: Path,
    community: bytes,
    tmp: Path,
    shape: tuple[str, ...] = LINK_SHAPE,
    loss: float = 0.0,
) -> dict:
    """The two-process catch-up over a shaped link (a network namespace whose loopback, MTU
    1500, gets the tc qdisc ``shape``: by default LINK_RATE; and, with ``loss``, drops that
    share of packets at random, by iptables), as 2.0 (plain) and as 2.1 (compressed): what a
    member behind a home connection waits. Needs root (namespaces) and tc; otherwise says why
    not."""
    from bench import natlab

    why = natlab.unavailable()
    if why is not None or not shutil.which("tc"):
        return {"link": why or "needs tc (iproute2)"}
    ns = f"we-bench-link-{os.getpid()}"
    natlab.sh("ip", "netns", "add", ns)
    try:
        natlab.sh("ip", "-n", ns, "link", "set", "lo", "mtu", "1500", "up")
        natlab.sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root", *shape)
        if loss:
            drop = ["-m", "statistic", "--mode", "random", "--probability", str(loss), "-j", "DROP"]
            natlab.sh("ip", "netns", "exec", ns, "iptables", "-A", "INPUT", *drop)
        run = [sys.executable, "-m", "bench.sync", "--link", str(src_path), community.hex()]
        got = subprocess.run(
            ["ip", "netns", "exec", ns, *run, str(tmp)], check=True, capture_output=True
        )
        result = json.loads(got.stdout.decode().splitlines()[-1])
        return {"link_shape": " ".join(shape), "link_loss": loss, **result}
    finally:
        natlab.sh("ip", "netns", "delete", ns)


def link_child(src_path: Path, community: bytes, tmp: Path) -> None:
    """Inside the shaped namespace: one catch-up per protocol version, each of every op the
    source holds, as one JSON line."""
    with Store.open(src_path, handlers={}) as src:
        total = sum(h[0] for h in src.heights(community).values())
    out = {"link_ops": total}
    for name, protocol in (("plain", PROTOCOL_PLAIN), ("compressed", PROTOCOL_ID)):
        got = trio.run(catch_up_from_process, src_path, community, tmp / f"{name}.db", protocol)
        assert got["catchup_2proc_ops"] == total, (name, got)
        out[f"link_{name}_s"] = got["catchup_2proc_s"]
        out[f"link_{name}_wire_bytes"] = got["wire_bytes"]
    print(json.dumps(out))


async def gossip_latency(ops: list[Op], n_hosts: int = 10) -> dict:
    community = ops[0].community_id
    arrivals: dict[tuple[int, bytes], float] = {}  # (host, op id) -> first delivery
    sent: dict[bytes, tuple[float, int]] = {}  # op id -> (publish time, publishing host)
    async with trio.open_nursery() as nursery:
        hosts = []
        gossips = []
        from contextlib import AsyncExitStack

        async with AsyncExitStack() as stack:
            for i in range(n_hosts):
                h = Host(Identity.from_seed(bytes([10 + i]) * 32).libp2p_keypair())
                await stack.enter_async_context(h.run())
                hosts.append(h)

                def deliver(peer, got, i=i):
                    now = time.perf_counter()
                    for op in got:
                        arrivals.setdefault((i, op.id), now)

                g = Gossip(h, nursery, deliver)
                await g.join(community)
                gossips.append(g)
            for i in range(n_hosts):  # ring + chords
                for j in (i + 1, i + 3):
                    await hosts[i].connect(hosts[j % n_hosts].listen_addrs[0])
            await trio.sleep(3)  # meshes form on the heartbeat
            for k, op in enumerate(ops):
                sent[op.id] = (time.perf_counter(), k % n_hosts)
                gossips[k % n_hosts].publish(op)
                await trio.sleep(0.1)
            await trio.sleep(3)
            nursery.cancel_scope.cancel()
    lat = sorted(
        (t - sent[oid][0]) * 1000
        for (i, oid), t in arrivals.items()
        if oid in sent and sent[oid][1] != i
    )
    expected = len(ops) * (n_hosts - 1)
    return {
        "gossip_hosts": n_hosts,
        "gossip_ops": len(ops),
        "gossip_delivered": len(lat),
        "gossip_delivery_ratio": len(lat) / expected,
        "gossip_p50_ms": statistics.median(lat) if lat else None,
        "gossip_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
    }


def floors(ranges: list[list[Op]], path: Path) -> dict:
    """What any receiver that keeps these ops in our store pays at the least, whatever its own
    code: seconds to write the ops' rows alone into a store's ``ops`` table (its indexes,
    pragmas and statement, 512 rows a call, all in one transaction as a catch-up's span; the
    least of the ways measured: a commit per batch costs ~1.5 x, one ``json_each`` statement
    per batch ~1.1 x), and to decode and hash each op once (libipld and hashlib, both
    native). Best of ``ROUNDS`` each."""
    raws = [o.raw for r in ranges for o in r]
    chains: dict[tuple[bytes, bytes], int] = {}  # numbered as the store numbers them
    rows = []
    for r in ranges:
        for o in r:
            chain = chains.setdefault((o.community_id, o.author), len(chains) + 1)
            rows.append((op_id(o.raw), chain, o.seq, o.lamport, "a", "", o.raw))
    rows_runs, decode_runs = [], []
    for i in range(ROUNDS):
        db = schema.connect(path.with_name(f"{path.name}{i}"))
        start = time.perf_counter()
        db.execute("BEGIN")
        for k in range(0, len(rows), 512):
            db.executemany(INSERT_OP, rows[k : k + 512])
        db.execute("COMMIT")
        rows_runs.append(time.perf_counter() - start)
        db.close()
        start = time.perf_counter()
        for raw in raws:
            libipld.decode_dag_cbor(raw)
            op_id(raw)
        decode_runs.append(time.perf_counter() - start)
    return {"floor_rows_s": min(rows_runs), "floor_decode_hash_s": min(decode_runs)}


def pycrdt_sync(ranges: list[list[Op]]) -> dict:
    try:
        import pycrdt
    except ImportError:
        return {"pycrdt": "not installed (pip install pycrdt)"}
    # One Yjs client per author, writing its ranges in the same causal order as the ops, so
    # the document has as many clients (state-vector entries) as our log has authors.
    full = pycrdt.Doc()
    writers: dict[bytes, Any] = {}
    for r in ranges:
        author = r[0].author
        w = writers.get(author)
        if w is None:
            w = writers[author] = pycrdt.Doc(client_id=len(writers) + 1)
        w.apply_update(full.get_update(w.get_state()))
        log = w.get("log", type=pycrdt.Array)
        with w.transaction():
            for op in r:
                log.append(
                    pycrdt.Map(
                        {
                            "author": op.author.hex(),
                            "seq": op.seq,
                            "lamport": op.lamport,
                            "ts": op.ts,
                            "kind": op.kind,
                            "text": op.body.get("text", ""),
                            "n": op.body.get("n", 0),
                        }
                    )
                )
        full.apply_update(w.get_update(full.get_state()))
    ops = [o for r in ranges for o in r]
    runs = []  # the first is ~3-4 x slower than the next (Yrs warming up in this process)
    for _ in range(ROUNDS):
        empty = pycrdt.Doc()
        start = time.perf_counter()
        sv = empty.get_state()
        update = full.get_update(sv)
        empty.apply_update(update)
        runs.append(time.perf_counter() - start)
    elapsed = min(runs)
    assert len(empty.get("log", type=pycrdt.Array)) == len(ops)
    sv_after = empty.get_state()  # the in-sync check: a state vector out, an empty update back
    in_sync = full.get_update(sv_after)
    return {
        "pycrdt_version": getattr(pycrdt, "__version__", "?"),
        "pycrdt_catchup_s": elapsed,
        "pycrdt_runs_s": runs,
        "pycrdt_ops_per_s": len(ops) / elapsed,
        "pycrdt_update_bytes": len(update),
        "pycrdt_bytes_per_op": len(update) / len(ops),
        "pycrdt_in_sync_bytes": len(sv_after) + len(in_sync),
        "pycrdt_note": "no signatures, no per-author verification: a lower bound on work",
    }


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    authors = int(args[0]) if args else 50
    per_author = int(args[1]) if len(args) > 1 else 1000
    ranges = make_ops(authors, per_author)
    ops = [o for r in ranges for o in r]
    community = ops[0].community_id
    total = len(ops)
    gc.collect()
    gc.freeze()  # the fixtures live all run long: keep the collector's full passes off them
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        decoded_s = local_ingest(ranges, tmp / "decoded.db", decoded=True)
        each_s = local_ingest(ranges, tmp / "each.db", span=False)
        res = trio.run(catch_up, ranges, community, tmp)
        # Local ingest and the two-process catch-up alternate ROUNDS times and each reports
        # its best: on a shared machine, load from elsewhere flatters neither side's ratio.
        local_runs, remote_runs = [], []
        for i in range(ROUNDS):
            local_runs.append(local_ingest(ranges, tmp / f"local{i}.db"))
            got = trio.run(catch_up_from_process, tmp / "src.db", community, tmp / f"dst{i}.db")
            assert got["catchup_2proc_ops"] == total, got
            remote_runs.append(got["catchup_2proc_s"])
        local_s = min(local_runs)
        res["local_ingest_runs_s"] = local_runs
        res["catchup_2proc_runs_s"] = remote_runs
        res["catchup_2proc_s"] = min(remote_runs)
        decoded_s = min(decoded_s, local_ingest(ranges, tmp / "decoded2.db", decoded=True))
        res.update(over_link(tmp / "src.db", community, tmp))
        res.update(floors(ranges, tmp / "floor.db"))
    res.update(
        {
            "ops": total,
            "authors": authors,
            "mean_op_bytes": res["op_bytes"] / total,
            "local_ingest_s": local_s,
            "local_ingest_ops_per_s": total / local_s,
            "local_ingest_decoded_ops_per_s": total / decoded_s,
            "local_ingest_each_committed_ops_per_s": total / each_s,
        }
    )
    res["catchup_2proc_ops_per_s"] = total / res["catchup_2proc_s"]
    if "link_plain_s" in res:
        res["link_compressed_vs_plain"] = res["link_plain_s"] / res["link_compressed_s"]
    res["catchup_2proc_vs_local"] = res["catchup_2proc_ops_per_s"] / res["local_ingest_ops_per_s"]
    res["catchup_vs_local"] = res["catchup_ops_per_s"] / res["local_ingest_ops_per_s"]
    res["catchup_vs_local_decoded"] = (
        res["catchup_ops_per_s"] / res["local_ingest_decoded_ops_per_s"]
    )
    res.update(trio.run(gossip_latency, ops[1:101]))
    res.update(pycrdt_sync(ranges))
    if "pycrdt_catchup_s" in res:
        res["bytes_vs_pycrdt"] = res["wire_bytes"] / res["pycrdt_update_bytes"]
        res["time_vs_pycrdt"] = res["catchup_s"] / res["pycrdt_catchup_s"]
        res["time_2proc_vs_pycrdt"] = res["catchup_2proc_s"] / res["pycrdt_catchup_s"]
        res["time_2proc_vs_pycrdt_first"] = res["catchup_2proc_s"] / res["pycrdt_runs_s"][0]
        res["floor_rows_vs_pycrdt"] = res["floor_rows_s"] / res["pycrdt_catchup_s"]
        res["floor_decode_hash_vs_pycrdt"] = res["floor_decode_hash_s"] / res["pycrdt_catchup_s"]
    rows = [
        ("ops (authors)", f"{total} ({authors})"),
        ("local ingest_range (bytes)", f"{res['local_ingest_ops_per_s']:,.0f} ops/s"),
        ("local ingest_range (Ops)", f"{res['local_ingest_decoded_ops_per_s']:,.0f} ops/s"),
        (
            "  (bytes), each range committed",
            f"{res['local_ingest_each_committed_ops_per_s']:,.0f} ops/s",
        ),
        (
            "catch-up over libp2p",
            f"{res['catchup_ops_per_s']:,.0f} ops/s ({res['catchup_s']:.2f} s)",
        ),
        (
            "  ratio catch-up / local",
            f"{res['catchup_vs_local']:.2f} (vs Ops: {res['catchup_vs_local_decoded']:.2f})",
        ),
        (
            "catch-up, sender in another process",
            f"{res['catchup_2proc_ops_per_s']:,.0f} ops/s ({res['catchup_2proc_s']:.2f} s),"
            f" {res['catchup_2proc_vs_local']:.2f} x local",
        ),
        (
            "  sync bytes / op bytes",
            f"{res['wire_per_op_ratio']:.4f}  (compressed; framing alone <= 1.15)",
        ),
        (
            f"catch-up over a {LINK_RATE} link",
            (
                f"{total / res['link_compressed_s']:,.0f} ops/s compressed (2.1),"
                f" {total / res['link_plain_s']:,.0f} plain (2.0):"
                f" {res['link_plain_s'] / res['link_compressed_s']:.2f} x faster"
            )
            if "link_plain_s" in res
            else f"not measured: {res.get('link')}",
        ),
        (
            "in-sync check",
            f"{res['in_sync_bytes']} bytes, 1 round trip, {res['in_sync_authors']} authors",
        ),
        (
            "gossip 10 hosts p50 / p99",
            f"{res['gossip_p50_ms']:.1f} / {res['gossip_p99_ms']:.1f} ms "
            f"(delivered {res['gossip_delivery_ratio']:.0%})",
        ),
    ]
    if "pycrdt_catchup_s" in res:
        rows += [
            (
                "pycrdt state-vector sync",
                f"{res['pycrdt_ops_per_s']:,.0f} entries/s (first run"
                f" {total / res['pycrdt_runs_s'][0]:,.0f}), {res['pycrdt_update_bytes']:,} bytes"
                f" ({res['pycrdt_bytes_per_op']:.1f}/entry)",
            ),
            ("  ours / pycrdt bytes", f"{res['bytes_vs_pycrdt']:.2f}"),
            ("  pycrdt in-sync check", f"{res['pycrdt_in_sync_bytes']} bytes"),
            (
                "  ours / pycrdt time",
                f"{res['time_vs_pycrdt']:.2f} (sender in another process:"
                f" {res['time_2proc_vs_pycrdt']:.2f}; against pycrdt's first run"
                f" {res['time_2proc_vs_pycrdt_first']:.2f})",
            ),
            (
                "  floors / pycrdt time",
                f"the op rows alone in SQLite {res['floor_rows_vs_pycrdt']:.2f},"
                f" decoding and hashing alone {res['floor_decode_hash_vs_pycrdt']:.2f}",
            ),
        ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=1, default=str) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        trio.run(serve_store, Path(sys.argv[2]))
    elif sys.argv[1:2] == ["--link"]:
        link_child(Path(sys.argv[2]), bytes.fromhex(sys.argv[3]), Path(sys.argv[4]))
    else:
        main()
