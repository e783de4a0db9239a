"""Joining and leaving as a newcomer does it: asked but not admitted, or a restored key."""

from __future__ import annotations

import pytest
from cli_helpers import Daemon, we


def ok(home, *args, env=None):
    r = we(home, "--json", *args, env=env)
    assert r.code == 0, (args, r.err)
    return r.json


@pytest.fixture(scope="module")
def alice(tmp_path_factory):
    """Alice's daemon and her community, where a newcomer needs one vouch."""
    home = tmp_path_factory.mktemp("membership") / "alice"
    ok(home, "init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0")
    d = Daemon(home)
    try:
        d.start()
        cid = ok(home, "community", "create", "Tools", "--vouches", "1")["id"]
        yield {"home": home, "community": cid, "line": ok(home, "community", "info")["line"]}
    finally:
        d.stop()


def test_a_newcomer_not_vouched_for_can_leave(tmp_path, alice):
    """`we community leave` by someone who asked to join but was not vouched for failed
    ('not a member of this community yet', exit 4) and the node kept syncing it."""
    bob = tmp_path / "bob"
    ok(bob, "init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0")
    d = Daemon(bob)
    try:
        d.start()
        ok(bob, "community", "join", alice["line"])
        r = we(bob, "community", "leave")
        assert r.code == 0, r.err
        assert r.out.startswith(f"Stopped syncing community {alice['community'][:12]}; you")
        assert "not vouched for" in r.out
        assert ok(bob, "community", "list") == []
    finally:
        d.stop()
