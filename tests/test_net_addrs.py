"""Only dialable addresses are announced or dialled (issue 14: a node listening on 0.0.0.0 made
its peers dial 0.0.0.0)."""

from __future__ import annotations

import ipaddress

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from node.identity import Identity
from node.protocol.addrs import dialable, is_wildcard
from node.protocol.host import Host
from node.service.peers import PeerBook

PEER = "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"


@given(st.ip_addresses(), st.integers(0, 65535))
def test_an_address_is_dialable_unless_its_ip_is_a_wildcard(ip, port):
    proto = "ip4" if isinstance(ip, ipaddress.IPv4Address) else "ip6"
    addr = f"/{proto}/{ip}/tcp/{port}/p2p/{PEER}"
    assert dialable(addr) is (not ip.is_unspecified)
    assert is_wildcard(addr) is ip.is_unspecified


def test_wildcards_and_garbage_never_enter_the_peer_book():
    book = PeerBook("me")
    for addr in [
        f"/ip4/0.0.0.0/tcp/4002/p2p/{PEER}",
        f"/ip6/::/tcp/4002/p2p/{PEER}",
        f"/ip6/0:0::0/tcp/4002/p2p/{PEER}",
        f"/ip4/not-an-ip/tcp/1/p2p/{PEER}",
        f"/ip4/10.0.0.1/udp/1/p2p/{PEER}",
    ]:
        book.add_addr(addr)
    assert book.dials == {}
    book.add_addr(f"/ip4/10.0.0.1/tcp/4002/p2p/{PEER}")
    assert list(book.dials) == [f"/ip4/10.0.0.1/tcp/4002/p2p/{PEER}"]


def make_host(i: int, **kw) -> Host:
    return Host(Identity.from_seed(bytes([70 + i]) * 32).libp2p_keypair(), **kw)


async def test_a_host_on_a_wildcard_announces_concrete_addresses_and_refuses_to_dial_one():
    async with (
        make_host(0, listen=["/ip4/0.0.0.0/tcp/0"], insecure_plaintext=True).run() as a,
        make_host(1, insecure_plaintext=True).run() as b,
    ):
        assert a.listen_addrs and all(dialable(x) for x in a.listen_addrs)
        await b.connect(a.listen_addrs[0])
        with trio.fail_after(10):  # identify delivers a's announced addresses to b
            while not b.host.get_peerstore().addrs(a.host.get_id()):
                await trio.sleep(0.05)
        known = [str(x) for x in b.host.get_peerstore().addrs(a.host.get_id())]
        assert not any(is_wildcard(x) for x in known), known
        port = a.listen_addrs[0].split("/tcp/")[1].split("/")[0]
        with pytest.raises(ValueError, match="wildcard"):
            await b.connect(f"/ip4/0.0.0.0/tcp/{port}/p2p/{a.peer_id}")
