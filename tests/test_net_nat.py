"""Members behind NATs, in network namespaces this test creates (issue 14).

Topology: a public namespace ``pub`` (the relay daemon, opted in with WE_RELAY=1) linked to two
routers, each masquerading a private LAN with one member daemon behind it::

    a 192.168.71.2 -- ra [MASQUERADE] 10.71.1.2 -- 10.71.1.1  pub  10.71.2.1 -- 10.71.2.2 [MASQUERADE --random-fully] rb -- b 192.168.72.2
                      (cone-like: ports kept)                 relay                (symmetric-like: ports randomised)

Nobody outside a LAN can open a connection into it. The members learn by AutoNAT that they
are private, reserve a slot on the relay, announce the relayed address; b dials a's relayed
address, they converge; DCUtR upgrades a<->b to a direct connection when both NATs are
cone-like (then the relay is killed and a and b go on converging), and the connection stays
relayed behind the symmetric-like NAT (the split is printed); there the relay crashes
(SIGKILL) while a and b are connected only through it, both write, the relay comes back, and
a, b and the relay converge, b connected to a again.
The namespaces, NAT rule sets and daemons are built by ``bench/natlab.py`` (the NAT rows of
``python -m bench net`` use the same). Needs root, ``ip netns`` and iptables; elsewhere it is
skipped with the reason shown.
"""

from __future__ import annotations

import pytest

from bench.natlab import (
    RELAY_LISTEN,
    Daemons,
    NoNamespaces,
    heights,
    members_behind_nats,
    relayed_addrs,
    rpc,
    topology,
    unavailable,
    until,
)

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


@pytest.fixture(params=["cone-symmetric", "cone-cone"])
def nat_topology(request):
    try:
        with topology(request.param) as ns:
            yield ns, request.param
    except NoNamespaces as exc:
        pytest.skip(str(exc))


def test_members_behind_nats_connect_through_a_relay_and_converge(nat_topology, tmp_path):
    ns, kind = nat_topology
    ds = Daemons(tmp_path)
    try:
        # AutoNAT says "private"; each member reserves a slot on the relay and announces it
        relay, a, b, cid = members_behind_nats(ds, ns)
        a_relayed = relayed_addrs(a)[0]
        until(lambda: rpc(relay, "status")["reachability"] == "public", "the relay is public")

        # b dials a's relayed address (nothing else reaches a), and they converge
        aid = rpc(a, "status")["member_id"]
        assert rpc(b, "connect", addr=a_relayed)["member_id"] == aid
        for i in range(10):
            rpc(b, "publish", community=cid, kind="profile.set", body={"display_name": f"b{i}"})
            rpc(a, "publish", community=cid, kind="profile.set", body={"display_name": f"a{i}"})
        until(
            lambda: heights(a, cid) == heights(b, cid) == heights(relay, cid) == 23, "all converge"
        )

        # the split: DCUtR (py-libp2p's auto-drive, every 2 s, 3 attempts) may upgrade a<->b
        # to a direct connection where both NATs keep ports (cone-like); the relayed one stays
        def a_seen_by_b():
            return [p for p in rpc(b, "peers") if p["member_id"] == aid and p["connected"]]

        until(a_seen_by_b, "b is connected to a")
        if kind == "cone-cone":  # both NATs keep ports: the punch must work
            until(lambda: a_seen_by_b()[0]["direct"], "a direct connection (DCUtR)", 30)
        direct = a_seen_by_b()[0]["direct"]
        print(f"\n{kind}: a<->b {'direct (hole punched)' if direct else 'relayed'}")

        if direct:  # the relay dies: the punched connection carries on alone
            ds.stop("relay")
            for i in range(5):
                rpc(a, "publish", community=cid, kind="profile.set", body={"display_name": f"x{i}"})
            until(lambda: heights(a, cid) == heights(b, cid) == 28, "a and b converge without it")
        else:  # a and b are connected only through the relay, and it dies (a crash)
            ds.procs["relay"].kill()
            ds.procs.pop("relay").wait()
            for i in range(5):  # both write while cut off from each other
                rpc(a, "publish", community=cid, kind="profile.set", body={"display_name": f"x{i}"})
                rpc(b, "publish", community=cid, kind="profile.set", body={"display_name": f"y{i}"})
            assert heights(a, cid) == heights(b, cid) == 28
            relay = ds.start("relay", ns["pub"], RELAY_LISTEN, relay=True)
            # the relay returns: a and b reconnect to it, reserve again, b redials a's relayed
            # address (remembered), and everything written meanwhile reaches all three
            until(
                lambda: heights(a, cid) == heights(b, cid) == heights(relay, cid) == 33,
                "a, b and the relay converge after the relay came back",
                180,
            )
            until(a_seen_by_b, "b is connected to a again (through the relay)", 120)
    finally:
        ds.stop_all()
