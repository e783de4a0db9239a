"""Churn: a host stays reachable however many peers come and go (issue 14).

py-libp2p 0.8.1 keeps an inbound-connection slot until the whole swarm stops, so its 251st
inbound connection ever made is refused; ``node.protocol.host._churn_proof_inbound`` returns the
slot when the connection closes. 2,000 reconnects with Noise: ``python -m bench net --churn``.
"""

from __future__ import annotations

import os

import trio

from node.identity import Identity
from node.protocol.host import Host

RECONNECTS = int(os.environ.get("WE_CHURN_RECONNECTS", "320"))  # past the 250 slots
CLIENTS = 16


def make_host(seed: int, **kw) -> Host:
    return Host(Identity.from_seed(seed.to_bytes(2, "big") * 16).libp2p_keypair(), **kw)


async def churn(server: Host, clients: list[Host], total: int) -> int:
    """Each client connects and disconnects in turn until ``total`` connections were made;
    returns how many succeeded."""
    done = 0
    per_client = -(-total // len(clients))

    async def one(c: Host) -> None:
        nonlocal done
        for _ in range(per_client):
            await c.connect(server.listen_addrs[0], timeout=10)
            done += 1
            await c.disconnect(server.peer_id)

    async with trio.open_nursery() as nursery:
        for c in clients:
            nursery.start_soon(one, c)
    return done


async def test_a_host_accepts_connections_after_hundreds_of_reconnects():
    server = make_host(1, insecure_plaintext=True)
    clients = [make_host(100 + i, insecure_plaintext=True) for i in range(CLIENTS)]
    async with server.run(), trio.open_nursery() as nursery:
        for c in clients:
            await nursery.start(_run, c)
        made = await churn(server, clients, RECONNECTS)
        used, slots, live = server.inbound()
        assert made >= RECONNECTS > slots
        # every closed connection gave its slot back: the slots in use are the live inbound
        # connections (py-libp2p's auto-connector may have redialled a few of the clients)
        with trio.fail_after(30):
            while (used := server.inbound())[0] != used[2]:
                await trio.sleep(0.05)
        assert used[0] < CLIENTS
        # a newcomer still gets in, and streams work on its connection
        async with make_host(999, insecure_plaintext=True).run() as late:
            await late.connect(server.listen_addrs[0])
            assert await late.ping(server.peer_id) is not None
        nursery.cancel_scope.cancel()


async def _run(host: Host, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    async with host.run():
        task_status.started()
        await trio.sleep_forever()
