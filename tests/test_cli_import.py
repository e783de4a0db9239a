"""`we import` says what became of the file's ops, and refuses a file with no valid op."""

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
    assert r["ops"] == n and r["statuses"] == {"applied": n} and r["invalid"] == []
    human = we(tmp_path / "d", "import", str(ops_file))
    assert human.code == 0 and human.out.strip() == f"Imported {n} ops: {n} applied.", human.out
    again = we(tmp_path / "d", "import", str(ops_file))
    assert again.out.strip() == f"Imported {n} ops: {n} already here.", again.out


def _tampered(raw: str) -> str:
    """The op with one byte of its middle changed: its signature no longer holds."""
    k = len(raw) // 2
    return raw[:k] + ("0" if raw[k] != "0" else "1") + raw[k + 1 :]


def test_a_file_of_invalid_ops_is_refused_and_each_bad_op_named(tmp_path, ops_file):
    """A file whose every op was invalid was "Imported 1 ops: 1 invalid", exit 0; an empty
    one "Imported 0 ops: "; a partly invalid one did not say which ops were bad."""
    home = tmp_path / "c"
    ok(home, "init", "--plaintext")
    doc = json.loads(ops_file.read_text())
    n = len(doc["ops"])

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**doc, "ops": [_tampered(x) for x in doc["ops"]] + ["zz"]}))
    r = we(home, "--json", "import", str(bad))
    assert r.code == 2 and r.error["code"] == "bad_value", r.err
    assert r.error["message"].startswith(f"none of the {n + 1} ops in {bad} is a valid op (op 1: ")
    assert r.error["message"].endswith(f"op {n + 1}: not hex); nothing was imported")
    assert "`we export --ops -o FILE`" in r.error["hint"]
    assert ok(home, "community", "list") == []  # nothing of it was kept

    partly = tmp_path / "partly.json"
    ops = list(doc["ops"])
    ops[n - 1] = _tampered(ops[n - 1])
    partly.write_text(json.dumps({**doc, "ops": [*ops, "not hex"]}))
    r = ok(home, "import", str(partly))
    assert [x["position"] for x in r["invalid"]] == [n, n + 1]
    assert r["invalid"][1]["reason"] == "not hex"
    assert r["statuses"]["invalid"] == 2 and r["statuses"]["applied"] >= 1
    assert sum(r["statuses"].values()) == n + 1
    human = we(tmp_path / "c", "import", str(partly))  # the good ones are in already
    assert human.code == 0, human.err
    assert f"; 2 invalid, not imported.\nInvalid (by place in the file): op {n}: " in human.out
    assert f", op {n + 1}: not hex." in human.out

    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({**doc, "ops": []}))
    r = we(home, "import", str(empty))
    assert r.code == 0 and r.out == f"{empty} holds no ops: nothing to import.\n", r.out
