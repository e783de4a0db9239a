"""The network under churn and through relays, real py-libp2p hosts on loopback (TCP + Noise +
Yamux): ``python -m bench net [reconnects] [clients] [swarm nodes]`` (default 2,000 x 40, 50).

1. Churn: ``clients`` peers connect to one host and disconnect, in turn, until ``reconnects``
   connections were made (py-libp2p 0.8.1 alone refuses every inbound connection after the
   250th: issue 14). Reported: reconnects made, failures, reconnects/s, the host's inbound
   slots in use afterwards (equal to its live inbound connections), and a newcomer's connect.
2. Connection set-up, median of 20: direct (TCP + Noise + Yamux) and relayed (Circuit Relay v2
   through a third host, the destination holding a reservation). Punched connections need NATs:
   tests/test_net_nat.py builds them in namespaces and prints the direct/relayed split.

3. The swarm (``bench/swarm.py``): 50 real nodes in 5 processes, 10 writers, 10 nodes killed
   (SIGKILL) and restarted, one partition and heal: the time from the heal until every node
   holds every op, bytes sent per op per node, CPU per node (the same scenario as
   tests/test_net_swarm.py, which runs 20 nodes).

Churn and set-up hosts run in this one process and thread, so times include the other side's
CPU.
"""

from __future__ import annotations

import json
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


def swarm(n: int) -> dict:
    import tempfile

    from bench.swarm import scenario

    with tempfile.TemporaryDirectory(prefix="we-bench-swarm-") as tmp:
        return scenario(Path(tmp), n=n, per=max(1, n // 5))


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    n_clients = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    n_swarm = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    res = {"churn": trio.run(churn, total, n_clients)}
    print(json.dumps(res, indent=1), flush=True)
    res["setup"] = trio.run(setup_times)
    print(json.dumps(res["setup"], indent=1), flush=True)
    if n_swarm:
        try:
            res["swarm"] = swarm(n_swarm)
        except AssertionError as exc:  # a machine too busy for n nodes: say so, keep the rest
            res["swarm"] = {"nodes": n_swarm, "failed": str(exc).splitlines()[0][:300]}
    print(json.dumps(res, indent=1))
    if total >= 2000:
        RESULTS.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
