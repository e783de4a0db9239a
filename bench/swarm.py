"""A swarm of real nodes in several OS processes (issue 14): the many-node churn test
(tests/test_net_swarm.py) and the 50-node row of ``python -m bench net``.

Each worker process (``python -m bench.swarm '<config json>'``) opens a few real nodes
(``Node.open``: SQLite store, py-libp2p host on 127.0.0.1 at a fixed port, every service task)
and obeys one JSON command per stdin line, answering one JSON line on stdout. The coordinator
(:class:`Swarm`) pre-creates every identity, so it knows every member id and address before a
process starts: a node's ``bootstrap`` addresses (pinned, redialled with backoff) are its edges
of the graph, and a worker killed with SIGKILL and started again on the same data dirs and ports
comes back as the same nodes, as a crashed laptop would.

The scenario (:func:`scenario`): 10 writers join and write; a fifth of the workers (20 % of
the nodes, writers among them) are killed right after writing, the others write meanwhile, they are
started again; the swarm is cut in two halves (every node blocks the other half) and both sides
write; the cut heals. Then every node must hold the same ops and the same state, and every op
a writer's ``publish`` returned must be there. The numbers it returns are the bench row.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import random
import resource
import socket
import subprocess
import sys
import threading
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


# ---- worker (one OS process, a few nodes) -------------------------------------------------


def _count_sent() -> list[int]:
    """Count every byte the hosts of this process write to a socket (py-libp2p's raw
    connection sits below Noise/plaintext and Yamux)."""
    from libp2p.network.connection.raw_connection import RawConnection

    sent = [0]
    write = RawConnection.write

    async def counted(self: Any, data: bytes) -> None:
        sent[0] += len(data)
        await write(self, data)

    RawConnection.write = counted  # type: ignore[method-assign]
    return sent


def _canon(x: Any) -> Any:
    """A stable text form of the materialized state, whatever order its dicts were built in."""
    if isinstance(x, dict):
        return sorted((_canon(k), _canon(v)) for k, v in x.items())
    if isinstance(x, (list, tuple)):
        return [_canon(v) for v in x]
    if isinstance(x, (set, frozenset)):
        return sorted(_canon(v) for v in x)
    if isinstance(x, bytes):
        return "b:" + x.hex()
    return repr(x)


def _is_member(node: Any, community: bytes) -> bool:
    from node.crdt.records import queries

    return any(m["member"] == node.public_key for m in queries.members(node.store.state, community))


def _op_ids(node: Any, community: bytes) -> list[str]:
    # ids hashed from the logged bytes, not decoded ops: the coordinator asks every node
    # every second while it waits, and decoding every op each time was ~5 % of the CPU of a
    # 50-node run (a machine the swarm already fills)
    from node.crdt.op import op_id

    out = []
    for author, (seq, _) in node.store.heights(community).items():
        out += [op_id(raw).hex() for raw in node.store.raw_from(community, author, 1, seq)]
    return sorted(out)


async def _worker(cfg: dict) -> None:
    import trio

    from node import Node

    sent = _count_sent()
    out = sys.stdout
    nodes: dict[str, Any] = {}

    def reply(obj: Any) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    async with AsyncExitStack() as stack:
        for spec in cfg["nodes"]:
            nodes[spec["name"]] = await stack.enter_async_context(
                Node.open(
                    spec["dir"],
                    insecure_plaintext=True,
                    listen=[f"/ip4/127.0.0.1/tcp/{spec['port']}"],
                    bootstrap=spec["bootstrap"],
                    sync_interval=cfg.get("sync_interval", 2.0),
                )
            )
        reply({"ready": sorted(nodes)})
        stdin = trio.lowlevel.FdStream(os.dup(0))
        buf = b""
        while True:
            while b"\n" not in buf:
                chunk = await stdin.receive_some(65536)
                if not chunk:
                    return
                buf += chunk
            line, buf = buf.split(b"\n", 1)
            cmd = json.loads(line)
            try:
                reply({"ok": await _obey(cmd, nodes, sent)})
            except Exception as exc:  # the coordinator shows it
                reply({"error": repr(exc)})
            if cmd["cmd"] == "quit":
                return


async def _obey(cmd: dict, nodes: dict[str, Any], sent: list[int]) -> Any:
    import trio

    what = cmd["cmd"]
    cid = bytes.fromhex(cmd["cid"]) if "cid" in cmd else b""
    if what == "create":
        node = nodes[cmd["node"]]
        return (
            await node.create_community({"name": "swarm", "membership": {"rule": "open"}})
        ).hex()
    if what == "follow":
        for node in nodes.values():
            await node.follow(cid)
        return None
    if what == "write":
        written: dict[str, list[str]] = {}

        async def write(name: str) -> None:
            node, ids = nodes[name], written.setdefault(name, [])
            with trio.fail_after(cmd.get("patience", 120)):  # the genesis comes by sync first
                while cid not in node.store.communities():
                    await trio.sleep(0.1)
            if cmd.get("join") and not _is_member(node, cid):
                ids.append((await node.publish(cid, "member.join", {})).id.hex())
            for i in range(cmd["n"]):
                body = {"display_name": f"{name}-{cmd['tag']}-{i}"}
                ids.append((await node.publish(cid, "profile.set", body)).id.hex())
                await trio.sleep(cmd.get("pause", 0.02))

        async with trio.open_nursery() as nursery:
            for name in cmd["writers"]:
                if name in nodes:
                    nursery.start_soon(write, name)
        return written
    if what in ("block", "unblock"):
        for name, peers in cmd["peers"].items():
            for peer in peers if name in nodes else ():
                if what == "block":
                    await nodes[name].block(peer)
                else:
                    nodes[name].unblock(peer)
        return None
    if what == "state":  # per node: how many ops, a digest of their ids
        return {
            name: [len(ids), hashlib.sha256("".join(ids).encode()).hexdigest()[:16]]
            for name, node in nodes.items()
            for ids in [_op_ids(node, cid)]
        }
    if what == "ids":
        return _op_ids(nodes[cmd["node"]], cid)
    if what == "have":  # per node: does it hold the community (its genesis) yet?
        return {name: cid in node.store.communities() for name, node in nodes.items()}
    if what == "snapshot":
        return {
            name: hashlib.sha256(repr(_canon(list(node.store.state.items()))).encode()).hexdigest()
            for name, node in nodes.items()
        }
    if what == "peers":
        return {name: node.service.connected() for name, node in nodes.items()}
    if what == "debug":  # per node: what its syncer saw (for a failing run's message)
        out = {}
        for name, node in nodes.items():
            syncer, book = node.service.syncer, node.service.book
            recs = syncer.records.get(cid, {})
            reasons: dict[str, int] = {}
            for r in recs.values():
                reasons[r.reason or ("ok" if r.ok else "?")] = reasons.get(r.reason or "ok", 0) + 1
            out[name] = {
                "ops": len(_op_ids(node, cid)),
                "connected": len(node.service.connected()),
                "reasons": reasons,
                "stats": syncer.stats,
                "running": len(syncer._running),
                "banned": sum(p.banned_until > trio.current_time() for p in book.peers.values()),
                "scored_down": sum(p.score < 0 for p in book.peers.values()),
            }
        return out
    if what == "gossip":  # per node: gossip messages received (validator calls), sync records
        return {
            name: [node.service.gossip.received, len(node.service.host.pubsub.peers)]
            for name, node in nodes.items()
        }
    if what == "stats":
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {"sent": sent[0], "cpu": ru.ru_utime + ru.ru_stime, "nodes": len(nodes)}
    if what == "quit":
        return None
    raise ValueError(f"unknown command {what!r}")


# ---- coordinator --------------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Worker:
    def __init__(self, name: str, cfg: dict, log: Path):
        self.name, self.cfg, self.log = name, cfg, log
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()
        self.spent = {"sent": 0, "cpu": 0.0}  # what earlier (killed) incarnations reported

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.swarm", json.dumps(self.cfg)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                cwd=ROOT,
            )
        lines: queue.Queue = queue.Queue()
        self.lines = lines
        proc = self.proc

        def pump() -> None:
            for raw in proc.stdout:  # type: ignore[union-attr]
                lines.put(json.loads(raw))
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def ready(self, timeout: float = 120.0) -> None:
        self._get(timeout)

    def send(self, cmd: dict) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        self.proc.stdin.flush()

    def _get(self, timeout: float) -> Any:
        try:
            msg = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"worker {self.name} did not answer in {timeout} s") from None
        if msg is None or "error" in msg:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"worker {self.name}: {msg}\n{tail}")
        return msg.get("ok", msg)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no clean shutdown, as a crash or a pulled plug
        self.proc.wait()

    def stop(self) -> None:
        """Wait for the exit a ``quit`` command asked for (SIGKILL after 20 s)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.wait(timeout=20)
        except Exception:
            self.proc.kill()
            self.proc.wait()


class Swarm:
    """``n`` nodes in ``n // per`` worker processes; each node dials ``degree`` others: its
    two successors on a ring (so each half of the ring stays connected when cut) and random
    ones."""

    def __init__(
        self,
        tmp: Path,
        n: int = 50,
        per: int = 5,
        degree: int = 4,
        seed: int = 1,
        sync_interval: float = 10.0,
    ):
        from node.identity import Identity

        rnd = random.Random(seed)
        self.n, self.tmp = n, Path(tmp)
        ports = free_ports(n)
        self.ids: list[str] = []
        self.addrs: list[str] = []
        for i in range(n):
            d = self.tmp / f"n{i}"
            d.mkdir(parents=True, exist_ok=True)
            ident = Identity.from_seed(hashlib.sha256(f"swarm {seed} {i}".encode()).digest())
            if not (d / "identity.json").exists():
                ident.save(d / "identity.json", insecure_plaintext=True)
            self.ids.append(ident.member_id)
            self.addrs.append(f"/ip4/127.0.0.1/tcp/{ports[i]}/p2p/{ident.member_id}")
        edges: dict[int, set[int]] = {i: {(i + 1) % n, (i + 2) % n} for i in range(n)}
        for i in range(n):  # random chords, never both ways (two dials racing each other)
            others = [j for j in range(n) if j != i and j not in edges[i] and i not in edges[j]]
            rnd.shuffle(others)
            edges[i] |= set(others[: max(0, degree - len(edges[i]))])
        self.workers: list[Worker] = []
        for w in range(0, n, per):
            specs = [
                {
                    "name": str(i),
                    "dir": str(self.tmp / f"n{i}"),
                    "port": ports[i],
                    "bootstrap": [self.addrs[j] for j in sorted(edges[i])],
                }
                for i in range(w, min(w + per, n))
            ]
            cfg = {"nodes": specs, "sync_interval": sync_interval}
            self.workers.append(Worker(str(w // per), cfg, self.tmp / f"worker{w // per}.log"))

    def worker_of(self, i: int) -> Worker:
        return self.workers[i // len(self.workers[0].cfg["nodes"])]

    def start(self, workers: list[Worker] | None = None, timeout: float = 120.0) -> None:
        for w in workers or self.workers:
            w.start()
        for w in workers or self.workers:
            w.ready(timeout)

    def all(self, cmd: dict, workers: list[Worker] | None = None, timeout: float = 150) -> list:
        ws = workers or self.workers
        for w in ws:
            w.send(cmd)
        return [w._get(timeout) for w in ws]

    def merged(self, cmd: dict, **kw: Any) -> dict:
        out: dict = {}
        for part in self.all(cmd, **kw):
            out.update(part or {})
        return out

    def stats(self, workers: list[Worker] | None = None) -> dict:
        sent = cpu = 0.0
        for w, s in zip(workers or self.workers, self.all({"cmd": "stats"}, workers)):
            sent += s["sent"] + w.spent["sent"]
            cpu += s["cpu"] + w.spent["cpu"]
        return {"sent": sent, "cpu": cpu}

    def kill(self, w: Worker) -> None:
        s = self.all({"cmd": "stats"}, [w])[0]
        w.spent["sent"] += s["sent"]
        w.spent["cpu"] += s["cpu"]
        w.kill()

    def stop(self) -> None:
        for w in self.workers:  # all at once: each closes its nodes in parallel with the rest
            if w.proc is not None and w.proc.poll() is None:
                try:
                    w.send({"cmd": "quit"})
                except OSError:
                    pass
        for w in self.workers:
            w.stop()


def converged(swarm: Swarm, cid: str, expected: int) -> bool:
    state = swarm.merged({"cmd": "state", "cid": cid})
    if os.environ.get("SWARM_DEBUG"):
        print(
            round(time.monotonic(), 1),
            expected,
            sorted(v[0] for v in state.values()),
            file=sys.stderr,
        )
    return (
        len(state) == swarm.n
        and len({tuple(v) for v in state.values()}) == 1
        and next(iter(state.values()))[0] == expected
    )


class SwarmFailed(AssertionError):
    """The swarm did not get through a step within its (generous) bound: ``partial`` holds
    what was measured up to there (phases, waits), so a report can say why with numbers."""

    def __init__(self, message: str, partial: dict):
        super().__init__(message)
        self.partial = partial


def until(pred: Any, what: str, timeout: float, step: float = 0.25) -> float:
    """Poll a condition (a liveness bound, not a performance assertion); returns the wait."""
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")
        time.sleep(step)
    return time.monotonic() - t0


def scenario(
    tmp: Path, n: int = 50, per: int = 5, writes: int = 4, patience: float = 240.0
) -> dict:
    """Run the churn scenario on ``n`` nodes; returns what it measured. Raises
    :class:`SwarmFailed` (an AssertionError) when the swarm does not converge or loses a
    written op.

    ``patience`` bounds every wait (start, genesis spread, a round of writes, the heal): on a
    loaded machine they are long, so they are generous, counted and reported (``waits_s``),
    never asserted as times."""
    swarm = Swarm(tmp, n=n, per=per)
    written: set[str] = set()
    t_start = time.monotonic()
    phases: dict[str, float] = {}
    waits: dict[str, float] = {}
    step = 0.25 if n <= 10 else 1.0  # polling 50 nodes' state is work on a shared machine

    def phase(name: str) -> None:
        phases[name] = round(time.monotonic() - t_start, 1)
        if os.environ.get("SWARM_DEBUG"):
            print(name, phases[name], file=sys.stderr)

    def timed(name: str, fn: Any, *args: Any, **kw: Any) -> Any:
        t = time.monotonic()
        try:
            return fn(*args, **kw)
        finally:
            waits[name] = round(waits.get(name, 0.0) + time.monotonic() - t, 1)

    def partial() -> dict:
        return {"nodes": n, "processes": len(swarm.workers), "phases_s": phases, "waits_s": waits}

    try:
        timed("start", swarm.start, timeout=patience)
        started = time.monotonic() - t_start
        cid = swarm.all({"cmd": "create", "node": "0"}, [swarm.workers[0]])[0]
        written.add(cid)
        swarm.all({"cmd": "follow", "cid": cid}, timeout=patience)
        base = swarm.stats()
        t0 = time.monotonic()
        phase("followed")

        # the genesis spreads by sync, hop by hop (a node follows before its neighbours hold
        # it, so mostly by the periodic sync): wait for every node, and count the wait
        def have() -> int:
            return sum(swarm.merged({"cmd": "have", "cid": cid}, timeout=patience).values())

        try:
            timed("genesis_spread", until, lambda: have() == n, "every node has the genesis",
                  patience, step)  # fmt: skip
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {have()} of {n} nodes had it") from None
        phase("genesis")
        # 10 writers (one in every fifth node), in every worker: killing a worker kills one
        writers = [str(i) for i in range(0, n, max(1, n // 10))][:10]

        def write(tag: str, names: list[str], join: bool = False, ws: Any = None) -> None:
            cmd = {"cmd": "write", "cid": cid, "writers": names, "n": writes, "tag": tag,
                   "join": join, "patience": patience}  # fmt: skip
            for part in timed(f"write_{tag}", swarm.all, cmd, ws, timeout=patience + 60):
                for ids in part.values():
                    written.update(ids)

        write("a", writers, join=True)
        phase("written")
        # 20 % of the nodes crash right after writing (their last ops may not have left yet)
        doomed = swarm.workers[-max(1, len(swarm.workers) // 5) :]
        write("b", writers)
        for w in doomed:
            swarm.kill(w)
        alive = [w for w in swarm.workers if w not in doomed]
        gone = {s["name"] for w in doomed for s in w.cfg["nodes"]}
        write("c", [x for x in writers if x not in gone], ws=alive)
        phase("killed")
        timed("restart", swarm.start, doomed, timeout=patience)  # same dirs and ports
        restarted = len(gone)
        # one partition: the two halves of the ring block each other
        half = n // 2
        side = {str(i): (i < half) for i in range(n)}
        cut = {
            str(i): [swarm.ids[j] for j in range(n) if side[str(j)] != side[str(i)]]
            for i in range(n)
        }
        phase("restarted")
        swarm.merged({"cmd": "block", "peers": cut}, timeout=patience)
        write("d", writers)
        left = swarm.all({"cmd": "ids", "cid": cid, "node": "0"}, [swarm.workers[0]])[0]
        right_writer = writers[-1]
        right_ids = set(
            swarm.all({"cmd": "ids", "cid": cid, "node": right_writer}, [swarm.worker_of(n - 1)])[0]
        )
        apart = bool(right_ids - set(left))
        phase("partitioned")
        swarm.merged({"cmd": "unblock", "peers": cut}, timeout=patience)
        try:
            heal_s = timed("heal", until, lambda: converged(swarm, cid, len(written)),
                           "all converge after heal", patience, step)  # fmt: skip
        except AssertionError as exc:
            dbg = swarm.merged({"cmd": "debug", "cid": cid}, timeout=patience)
            counts = sorted(v["ops"] for v in dbg.values())
            raise AssertionError(
                f"{exc}: {len(written)} ops written, nodes hold {counts}; {json.dumps(dbg)}"
            ) from None
        phase("healed")
        wall = time.monotonic() - t0
        total = swarm.stats()
        ids = set(swarm.all({"cmd": "ids", "cid": cid, "node": "0"}, [swarm.workers[0]])[0])
        snaps = swarm.merged({"cmd": "snapshot", "cid": cid})
        # honest peers scored down or banned (a sync peer silent for the idle timeout is
        # scored down): on a starved machine they are what holds convergence back
        dbg = swarm.merged({"cmd": "debug", "cid": cid}, timeout=patience)
        return {
            "nodes": n,
            "processes": len(swarm.workers),
            "writers": len(writers),
            "killed_and_restarted": restarted,
            "ops": len(written),
            "lost": len(written - ids),
            "states": len(set(snaps.values())),
            "sides_apart": apart,
            "start_s": round(started, 1),
            "converge_after_heal_s": round(heal_s, 2),
            "run_s": round(wall, 1),
            "phases_s": phases,
            "waits_s": waits,
            "patience_s": patience,
            "peers_banned_at_end": sum(v["banned"] for v in dbg.values()),
            "peers_scored_down_at_end": sum(v["scored_down"] for v in dbg.values()),
            "bytes_sent_per_op_per_node": round((total["sent"] - base["sent"]) / len(written) / n),
            "cpu_s_per_node": round((total["cpu"] - base["cpu"]) / n, 2),
            "cpu_share_per_node": round((total["cpu"] - base["cpu"]) / n / wall, 4),
        }
    except AssertionError as exc:
        raise SwarmFailed(str(exc), partial()) from None
    finally:
        swarm.stop()


if __name__ == "__main__":  # a worker: python -m bench.swarm '<config json>'
    import trio

    trio.run(_worker, json.loads(sys.argv[1]))
