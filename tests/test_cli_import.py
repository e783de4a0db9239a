"""`we import` says what became of the file's ops."""

from __future__ import annotations

import json

import pytest
from cli_helpers import Daemon, wait_until, we


def ok(home, *args):
    r = we(home, "--json", *args)
    assert r.code == 0, (args, r.err)
    return r.json


@pytest.fixture(scope="module")
def ops_file(tmp_path_factory):
    """The ops of a community two members wrote into, each after reading the other: whichever
    author the file lists first, some of its ops wait for ops listed after them."""
    root = tmp_path_factory.mktemp("import")
    alice, bob = root / "alice", root / "bob"
    for home in (alice, bob):
        ok(home, "init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0")
    daemons = [Daemon(alice), Daemon(bob)]
    try:
        for d in daemons:
            d.start()
        ok(alice, "community", "create", "Replay", "--vouches", "0")
        ok(bob, "community", "join", ok(alice, "community", "info")["line"])
        ok(bob, "offer", "add", "Saw", "--category", "tools")
        wait_until(lambda: ok(alice, "offer", "list"), "bob's offer at alice")
        ok(alice, "offer", "add", "Ladder", "--category", "tools")
        out = root / "ops.json"
        ok(alice, "export", "--ops", "-o", str(out))
    finally:
        for d in daemons:
            d.stop()
    return out


def test_import_counts_what_the_ops_are_once_all_are_in(tmp_path, ops_file):
    """An op waiting for a dep listed later in the file was counted pending, though the
    same import then applied it ("4 applied, 2 pending" with every op applied)."""
    n = len(json.loads(ops_file.read_text())["ops"])
    for home in (tmp_path / "c", tmp_path / "d"):
        ok(home, "init", "--plaintext")
    r = ok(tmp_path / "c", "import", str(ops_file))
    assert r["ops"] == n and r["statuses"] == {"applied": n}
    human = we(tmp_path / "d", "import", str(ops_file))
    assert human.code == 0 and human.out.strip() == f"Imported {n} ops: {n} applied.", human.out
    again = we(tmp_path / "d", "import", str(ops_file))
    assert again.out.strip() == f"Imported {n} ops: {n} already here.", again.out
