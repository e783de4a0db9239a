"""Joining and leaving as a newcomer does it: asked but not admitted, or a restored key."""

from __future__ import annotations

import pytest
from cli_helpers import Daemon, we

BACKUP = "a backup phrase"


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
        r = we(bob, "offer", "add", "Drill", "--category", "tools")
        assert r.code == 4 and "(admission needs 1 vouch, has 0)" in r.err, r.err
        r = we(bob, "community", "leave")
        assert r.code == 0, r.err
        assert r.out.startswith(f"Stopped syncing community {alice['community'][:12]}; you")
        assert "not vouched for" in r.out
        assert ok(bob, "community", "list") == []
        r = ok(bob, "community", "join", alice["line"])  # takes it up again, as --help says
        assert r["already"] is True and r["op_id"] is None
        assert ok(bob, "community", "leave")["op_id"] is None
    finally:
        d.stop()


def test_a_restored_key_joins_what_it_is_a_member_of(tmp_path, alice):
    """After `we key import --same-key`, the `we community join LINE` its output suggests
    failed: 'the community's rules reject this request to join: you already asked to join'
    (exit 4), though the community was then followed and synced."""
    backup = tmp_path / "alice.key"
    ok(alice["home"], "key", "export", str(backup), env={"WE_NEW_PASSPHRASE": BACKUP})
    restored = tmp_path / "restored"
    # its own place for chain markers: another machine, as a restore is
    pw = {"WE_PASSPHRASE": BACKUP, "WE_STATE_DIR": str(tmp_path / "other-machine")}
    ok(restored, "key", "import", "--same-key", str(backup), env=pw)
    d = Daemon(restored, "--listen", "/ip4/127.0.0.1/tcp/0", env=pw)
    try:
        d.start()
        for _ in range(2):  # the second time it follows the community already
            r = we(restored, "community", "join", alice["line"], env=pw)
            assert r.code == 0, r.err
            assert (
                r.out == f"Already a member of community {alice['community'][:12]}; syncing it.\n"
            )
        r = ok(restored, "community", "join", alice["line"], env=pw)
        assert (r["already"], r["op_id"], r["community"]) == (True, None, alice["community"])
        assert [c["id"] for c in ok(restored, "community", "list", env=pw)] == [alice["community"]]
    finally:
        d.stop()


def test_counts_are_said_in_words(tmp_path):
    """'2 item' in `we offer list`, 'Admission: 1 vouches' in `we community info`."""
    from node.crdt.text import counted

    assert [counted(n, w) for n, w in ((1, "vouch"), (2, "vouch"), (0, "op"), (1, "op"))] == [
        "1 vouch",
        "2 vouches",
        "0 ops",
        "1 op",
    ]
    home = tmp_path / "solo"
    ok(home, "init", "--plaintext")
    ok(home, "community", "create", "Solo", "--vouches", "1")
    ok(home, "offer", "add", "Chairs", "--category", "tools", "--quantity", "2")
    ok(home, "offer", "add", "Sand", "--category", "tools", "--quantity", "2", "--unit", "kg")
    listed = we(home, "offer", "list").out
    assert "2 items" in listed and "2 kg" in listed and "2 item " not in listed, listed
    assert "Admission: 1 vouch (the founder" in we(home, "community", "info").out
