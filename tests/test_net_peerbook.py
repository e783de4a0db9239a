"""The peer book stays bounded under connect storms and sybil floods, and forgets only what is
safe to forget (issue 14: 202 entries, 0 connected, after a connect storm)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from node.service import peers as peers_mod
from node.service.peers import MAX_DIAL_FAILURES, PeerBook

IDS = [f"12D3KooPeer{i:04d}" for i in range(40)]


def addr(i: int, port: int = 1) -> str:
    return f"/ip4/10.0.{i // 250}.{i % 250 + 1}/tcp/{port}/p2p/{IDS[i % len(IDS)]}"


def test_a_connect_storm_leaves_nothing_behind():
    book = PeerBook("me")
    for i in range(2000):
        p = book.get(f"storm{i}")
        p.connected = True
    book.prune(now=0.0, connected={"storm7"})
    assert list(book.peers) == ["storm7"]


def test_scored_and_banned_peers_are_remembered_while_within_bounds():
    book = PeerBook("me")
    book.penalize("rude", "timeout", now=0.0)
    book.penalize("evil", "bad_signature", now=0.0)
    book.get("polite")
    book.prune(now=1.0, connected=set())
    assert set(book.peers) == {"rude", "evil"}
    assert book.is_banned("evil", 1.0)


def test_past_the_bound_the_least_bad_go_first_and_bans_last(monkeypatch):
    monkeypatch.setattr(peers_mod, "MAX_PEERS", 5)
    book = PeerBook("me")
    for i in range(20):
        book.penalize(f"p{i}", "timeout", now=0.0)  # -25 each
    for i in range(3):
        book.penalize(f"banned{i}", "bad_signature", now=0.0)
    book.penalize("p3", "timeout", now=0.0)  # -50: worse than the other p's
    book.prune(now=1.0, connected={"p0"})
    assert set(book.peers) == {"p0", "p3", "banned0", "banned1", "banned2"}


ops = st.lists(
    st.one_of(
        st.tuples(st.just("get"), st.integers(0, 39)),
        st.tuples(
            st.just("penalize"), st.integers(0, 39), st.sampled_from(["timeout", "bad_signature"])
        ),
        st.tuples(st.just("add"), st.integers(0, 600), st.booleans()),
        st.tuples(st.just("fail"), st.integers(0, 600)),
        st.tuples(st.just("prune"), st.sets(st.integers(0, 39), max_size=5)),
    ),
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_bounds_hold_and_what_matters_survives_any_history(history):
    peers_mod_bounds = (peers_mod.MAX_PEERS, peers_mod.MAX_DIALS)
    peers_mod.MAX_PEERS, peers_mod.MAX_DIALS = 4, 16
    try:
        book = PeerBook("me")
        now = 0.0
        for step in history:
            now += 1.0
            if step[0] == "get":
                book.get(IDS[step[1]])
            elif step[0] == "penalize":
                book.penalize(IDS[step[1]], step[2], now)
            elif step[0] == "add":
                book.add_addr(addr(step[1]), pinned=step[2])
            elif step[0] == "fail":
                d = book.dials.get(addr(step[1]))
                if d is not None:
                    for _ in range(MAX_DIAL_FAILURES):
                        book.dial_failed(d, now)
            else:
                pinned_before = {a for a, d in book.dials.items() if d.pinned}
                connected = {IDS[i] for i in step[1]}
                conn_known = connected & set(book.peers)
                book.prune(now, connected)
                assert len(book.peers) <= max(peers_mod.MAX_PEERS, len(conn_known))
                assert conn_known <= set(book.peers)  # a connected peer is never forgotten
                assert pinned_before <= set(book.dials)  # nor a configured address
                assert all(d.pinned or d.failures < MAX_DIAL_FAILURES for d in book.dials.values())
                for m, p in book.peers.items():
                    assert (
                        m in connected
                        or p.score < 0
                        or p.banned_until > now
                        or any(d.pinned and d.member_id == m for d in book.dials.values())
                    )
            pinned = sum(d.pinned for d in book.dials.values())
            assert len(book.dials) <= max(peers_mod.MAX_DIALS, pinned)
    finally:
        peers_mod.MAX_PEERS, peers_mod.MAX_DIALS = peers_mod_bounds
