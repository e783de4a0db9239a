"""The network under churn, through relays and NATs, and at 50 nodes (issue 14):
``python -m bench net [reconnects] [clients] [swarm nodes] [--only SECTIONS] [--trials N]``
(default 2,000 x 40, 50 nodes, every section, 5 trials). Each section's result carries the
machine's load when it started: these machines are shared.

1. ``churn``: ``clients`` real py-libp2p hosts on loopback (TCP + Noise + Yamux) connect to
   one host and disconnect, in turn, until ``reconnects`` connections were made (py-libp2p
   0.8.1 alone refuses every inbound connection after the 250th). Reported: reconnects made,
   failures, reconnects/s, the host's inbound slots in use afterwards (equal to its live
   inbound connections), and a newcomer's connect.
2. ``setup``: connection set-up on loopback, median of 20: direct and relayed (Circuit Relay
   v2 through a third host, the destination holding a reservation).
3. ``nat`` (``bench/natlab.py``, the namespaces of tests/test_net_nat.py; needs root, else it
   says why and is skipped): a relay and two members behind NATs, per topology (both NATs
   cone-like, one symmetric-like, both symmetric-like), ``trials`` times: b dials a's relayed
   address and DCUtR may make it direct. Reported: "direct k of n", the relayed set-up time
   and the punched one (from the dial until a direct connection holds).
4. ``swarm`` (``bench/swarm.py``): 50 real nodes in 5 processes, 10 writers, 10 nodes killed
   (SIGKILL) and restarted, one partition and heal: the time from the heal until every node
   holds every op, bytes sent per op per node, CPU per node, lost ops; every wait (start,
   genesis spread, writes, heal) is bounded generously (``--patience``) and reported, so a run
   that cannot finish on a loaded machine says where and after how long.

Churn and set-up hosts run in this one process and thread, so times include the other side's
CPU. ``--only`` runs some sections and keeps the others' last results in bench/results/net.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import trio

from node.identity import Identity
from node.protocol.host import Host

RESULTS = Path(__file__).with_name("results") / "net.json"


def make_host(seed: int, **kw) -> Host:
    return Host(Identity.from_seed(seed.to_bytes(2, "big") * 16).libp2p_keypair(), **kw)


async def _run(host: Host, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    async with host.run():
        task_status.started()
        await trio.sleep_forever()


async def churn(total: int, n_clients: int) -> dict:
    server = make_host(1)
    clients = [make_host(1000 + i) for i in range(n_clients)]
    made = failed = 0
    async with server.run(), trio.open_nursery() as nursery:
        for c in clients:
            await nursery.start(_run, c)
        per = -(-total // n_clients)
        t0, cpu0 = time.perf_counter(), time.process_time()

        async def one(c: Host) -> None:
            nonlocal made, failed
            for _ in range(per):
                try:
                    await c.connect(server.listen_addrs[0], timeout=20)
                    made += 1
                except Exception:
                    failed += 1
                await c.disconnect(server.peer_id)

        async with trio.open_nursery() as inner:
            for c in clients:
                inner.start_soon(one, c)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        with trio.move_on_after(30):
            while (u := server.inbound())[0] != u[2]:
                await trio.sleep(0.1)
        used, slots, live = server.inbound()
        async with make_host(9999).run() as late:
            t = time.perf_counter()
            await late.connect(server.listen_addrs[0])
            late_ms = (time.perf_counter() - t) * 1000
        nursery.cancel_scope.cancel()
    return {
        "reconnects": made,
        "failures": failed,
        "clients": n_clients,
        "wall_s": round(wall, 1),
        "reconnects_per_s": round(made / wall, 1),
        "cpu_ms_per_reconnect_both_sides": round(cpu / max(made, 1) * 1000, 1),
        "inbound_slots_used_after": used,
        "inbound_slots": slots,
        "live_inbound_after": live,
        "newcomer_connect_ms": round(late_ms, 1),
    }


async def setup_times(n: int = 20) -> dict:
    members: set[str] = set()
    relay = make_host(2, relay_service=True, relay_allow=members.__contains__)
    dst, src = make_host(3), make_host(4)
    members |= {dst.peer_id, src.peer_id}
    direct, relayed = [], []
    async with relay.run() as r, dst.run() as d, src.run() as s:
        relayed_addr = await d.reach.reserve(r.listen_addrs[0])
        assert relayed_addr is not None
        await s.connect(r.listen_addrs[0])
        for _ in range(n):
            t = time.perf_counter()
            await s.connect(d.listen_addrs[0])
            direct.append((time.perf_counter() - t) * 1000)
            await s.disconnect(d.peer_id)
            t = time.perf_counter()
            await s.connect(relayed_addr)
            relayed.append((time.perf_counter() - t) * 1000)
            await s.disconnect(d.peer_id)
    return {
        "direct_ms_median": round(statistics.median(direct), 1),
        "relayed_ms_median": round(statistics.median(relayed), 1),
        "samples": n,
    }


def swarm(n: int, patience: float = 900.0) -> dict:
    """The swarm row; a swarm that cannot get through on a busy machine is recorded as
    failed with what it measured up to there (the step, its bound, the waits)."""
    import tempfile

    from bench.swarm import SwarmFailed, scenario

    with tempfile.TemporaryDirectory(prefix="we-bench-swarm-") as tmp:
        try:
            return scenario(Path(tmp), n=n, per=max(1, n // 5), patience=patience)
        except SwarmFailed as exc:
            return {**exc.partial, "failed": str(exc)[:1500]}


def machine() -> dict:
    """What else ran: these numbers come from a shared machine."""
    return {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        "shared": "yes: other engineers' tests and benches ran on the same cores",
    }


SECTIONS = ("churn", "setup", "nat", "swarm")


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m bench net", description=__doc__.split("\n")[0])
    ap.add_argument("reconnects", type=int, nargs="?", default=2000)
    ap.add_argument("clients", type=int, nargs="?", default=40)
    ap.add_argument("swarm_nodes", type=int, nargs="?", default=50, help="0: no swarm")
    ap.add_argument("--only", default=",".join(SECTIONS), help="sections: " + ",".join(SECTIONS))
    ap.add_argument("--trials", type=int, default=5, help="NAT trials per topology")
    ap.add_argument("--patience", type=float, default=900.0, help="bound of each swarm wait, s")
    args = ap.parse_args()
    only = [x for x in args.only.split(",") if x]
    if unknown := set(only) - set(SECTIONS):
        sys.exit(f"unknown sections {sorted(unknown)}: choose among {', '.join(SECTIONS)}")
    # a partial run (--only) replaces its own sections and keeps the others' last results
    res = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    res = {k: v for k, v in res.items() if k in SECTIONS}
    ran = {}
    for name in only:
        m = machine()
        if name == "churn":
            ran[name] = trio.run(churn, args.reconnects, args.clients)
        elif name == "setup":
            ran[name] = trio.run(setup_times)
        elif name == "nat":
            from bench.natlab import nat_bench

            ran[name] = nat_bench(args.trials)
        elif name == "swarm" and args.swarm_nodes:
            ran[name] = swarm(args.swarm_nodes, args.patience)
        if name in ran:
            ran[name]["machine"] = m
            print(json.dumps({name: ran[name]}, indent=1), flush=True)
    res.update(ran)
    if args.reconnects >= 2000 or "churn" not in only:
        RESULTS.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
