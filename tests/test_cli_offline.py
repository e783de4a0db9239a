"""One node, no daemon: every command works on the local store (offline-first)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from cli_helpers import we


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    home = tmp_path_factory.mktemp("offline") / "alice"
    r = we(home, "--json", "init", "--plaintext")
    assert r.code == 0, r.err
    r = we(home, "--json", "community", "create", "Tool Library", "--vouches", "1")
    assert r.code == 0, r.err
    return {"home": home, "community": r.json["id"], "me": we(home, "--json", "id").json}


def test_community_and_members(node):
    home = node["home"]
    rows = we(home, "--json", "community", "list").json
    assert [c["id"] for c in rows] == [node["community"]]
    assert rows[0]["name"] == "Tool Library"
    members = we(home, "--json", "member", "list").json
    assert [(m["member_id"], m["status"]) for m in members] == [(node["me"]["member_id"], "member")]
    r = we(home, "--json", "community", "info")
    assert r.json["line"] == f"we:{node['community']}"  # no daemon: no address to share
    r = we(home, "community", "info")
    assert "start `we daemon`" in r.out


def test_profile_set_and_show(node):
    home = node["home"]
    r = we(
        home,
        "--json",
        "profile",
        "set",
        "--name",
        "Alice",
        "--skill",
        "carpentry",
        "--geohash",
        "u0vu1",
    )
    assert r.code == 0, r.err
    shown = we(home, "--json", "profile", "show").json
    assert shown["display_name"] == "Alice"
    assert shown["skills"] == ["carpentry"]
    # a name works wherever a member is expected
    assert (
        we(home, "--json", "profile", "show", "alice").json["member_id"] == node["me"]["member_id"]
    )
    r = we(home, "--json", "profile", "set", "--geohash", "u0vu1xyz")  # too precise
    assert r.code == 2  # a bad value (issue 11), said before anything is signed
    assert r.error["code"] == "bad_value"
    assert "--geohash" in r.error["message"] and "1 to 6 characters" in r.error["message"]
    assert r.error["hint"]


def test_offer_lifecycle(node):
    home = node["home"]
    r = we(
        home,
        "--json",
        "offer",
        "add",
        "Cordless drill",
        "--category",
        "tools/power/drill",
        "--quantity",
        "1",
        "--tag",
        "diy",
        "--expires",
        "+10d",
    )
    assert r.code == 0, r.err
    oid = r.json["id"]
    assert len(oid) == 64
    rows = we(home, "--json", "offer", "list").json
    assert [o["id"] for o in rows] == [oid]
    assert rows[0]["status"] == "active" and rows[0]["author"] == node["me"]["public_key"]
    # any unique prefix is accepted
    shown = we(home, "--json", "offer", "show", oid[:6]).json
    assert shown["title"] == "Cordless drill" and shown["tags"] == ["diy"]
    r = we(home, "--json", "offer", "edit", oid[:8], "--title", "Drill (18V)", "--pause")
    assert r.code == 0, r.err
    shown = we(home, "--json", "offer", "show", oid[:8]).json
    assert (shown["title"], shown["status"]) == ("Drill (18V)", "paused")
    assert we(home, "--json", "offer", "list").json == []  # active only by default
    assert len(we(home, "--json", "offer", "list", "--status", "paused").json) == 1
    assert we(home, "--json", "offer", "withdraw", oid[:8]).code == 0
    r = we(home, "--json", "offer", "edit", oid[:8], "--resume")
    assert r.code == 4
    assert "already final" in r.error["message"]
    human = we(home, "offer", "list", "--status", "any")
    assert "Drill (18V)" in human.out and "withdrawn" in human.out


def test_need_and_export(node, tmp_path):
    home = node["home"]
    nid = we(
        home, "--json", "need", "add", "Ladder", "--category", "tools/ladder", "--action", "lend"
    ).json["id"]
    assert we(home, "--json", "need", "show", nid[:8]).json["title"] == "Ladder"
    assert we(home, "--json", "match", nid[:8]).json == []  # own offers never match own needs
    out = tmp_path / "needs.csv"
    r = we(home, "--json", "export", "--format", "csv", "--what", "needs", "-o", str(out))
    assert r.code == 0, r.err
    assert r.json["file"] == str(out)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [row["title"] for row in rows] == ["Ladder"]
    doc = json.loads(we(home, "export").out)
    assert "@graph" in doc and "vf" in doc["@context"]
    assert we(home, "--json", "need", "withdraw", nid[:8]).code == 0
    assert we(home, "--json", "need", "list").json == []


def test_project_contribution_and_self_attestation(node):
    home = node["home"]
    pid = we(home, "--json", "project", "create", "Repair cafe").json["id"]
    r = we(
        home,
        "--json",
        "contribute",
        pid[:8],
        "--hours",
        "1.5",
        "--skill",
        "carpentry",
        "--what",
        "shelves",
    )
    assert r.code == 0, r.err
    assert r.json["effort_minutes"] == 90
    cid = r.json["id"]
    listed = we(home, "--json", "contribution", "list").json
    assert [(c["id"], c["counts"]) for c in listed] == [(cid, False)]
    projects = we(home, "--json", "project", "list").json
    assert projects[0]["contributions"] == 1
    more = [
        we(home, "--json", "contribute", pid[:8], "--hours", "1", "--what", f"w{i}").json["id"]
        for i in range(4)
    ]
    every = [c["id"] for c in we(home, "--json", "contribution", "list", "--limit", "0").json]
    assert sorted(every) == sorted([cid, *more])
    paged = [  # pages of the community's list, read from its newest end
        c["id"]
        for p in (1, 2, 3)
        for c in we(home, "--json", "contribution", "list", "--limit", "2", "--page", str(p)).json
    ]
    assert paged == every
    r = we(home, "--json", "attest", cid[:8])
    assert r.code == 4
    assert r.error["code"] == "own_contribution"
    assert "nobody may attest their own contribution" in r.error["message"]
    assert we(home, "--json", "score").json == []  # nothing confirmed yet


def test_unknown_ids_exit_3(node):
    home = node["home"]
    for args in (
        ("offer", "show", "ffffffff"),
        ("reservation", "accept", "abcdef"),
        ("attest", "0000"),
        ("offer", "list", "--community", "123456"),
    ):
        r = we(home, "--json", *args)
        assert r.code == 3, (args, r.err)
        assert r.error["code"] == "not_found"
        assert "no " in r.error["message"] and "matches" in r.error["message"]
        assert "Traceback" not in r.err


def test_daemon_not_running_exit_5(node):
    home = node["home"]
    r = we(home, "peers")
    assert r.code == 5
    assert "daemon is not running" in r.err and "we daemon" in r.err
    r = we(home, "--json", "community", "join", f"we:{'ab' * 32}@/ip4/127.0.0.1/tcp/9")
    assert r.code == 5
    assert r.error["code"] == "daemon_not_running"


def test_status_offline(node):
    r = we(node["home"], "--json", "status")
    assert r.code == 0
    assert r.json["daemon"] is False
    assert r.json["member_id"] == node["me"]["member_id"]
    assert "offline" in we(node["home"], "status").out


def test_proposal_create_and_delegation_rules(node):
    home = node["home"]
    r = we(home, "--json", "proposal", "create", "Paint the shed", "--method", "single")
    assert r.code == 2 and "needs options" in r.error["message"]
    r = we(home, "--json", "proposal", "create", "Paint the shed", "--option", "red")
    assert r.code == 2 and "fixed choices" in r.error["message"]
    r = we(
        home,
        "--json",
        "proposal",
        "create",
        "Paint the shed",
        "--method",
        "single",
        "--option",
        "red",
        "--option",
        "green",
        "--weight",
        "score",
        "--cap",
        "40%",
        "--quorum",
        "1/3",
        "--closes",
        "+2d",
    )
    assert r.code == 0, r.err
    p = r.json
    assert len(p["id"]) == 64
    assert (p["quorum"], p["threshold"], p["weights"]) == (
        [1, 3],
        [1, 2],
        {"base": "score", "cap": [2, 5]},
    )
    assert p["closes"] - p["opens"] >= 2 * 86400_000 - 5000
    r = we(home, "--json", "delegate", node["me"]["member_id"][:16])
    assert r.code == 4 and r.error["code"] == "self_delegation"
    r = we(home, "--json", "undelegate")  # nothing to undo is said (issue 11)
    assert r.code == 1 and r.error["code"] == "nothing_to_undo"


def test_an_embedded_node_holds_the_data_dir_and_the_cli_waits_for_it(node):
    """Node.open takes the data dir's lock; a `we` command started meanwhile waits (it cannot
    tell a starting daemon from an embedder) and runs once the node is closed."""
    import subprocess
    import sys
    import threading
    import time

    import trio
    from cli_helpers import ROOT, base_env

    from node import Node

    home = node["home"]
    opened, release = threading.Event(), threading.Event()

    async def hold() -> None:
        async with Node.open(home, network=False):
            opened.set()
            await trio.to_thread.run_sync(release.wait)

    holder = threading.Thread(target=trio.run, args=(hold,))
    holder.start()
    try:
        assert opened.wait(30)
        cmd = [sys.executable, "-m", "cli.main", "--data-dir", str(home), "--json", "member"]
        proc = subprocess.Popen(
            [*cmd, "list"], stdout=subprocess.PIPE, text=True, env=base_env(), cwd=ROOT
        )
        time.sleep(1.5)
        assert proc.poll() is None  # still waiting: it never opens a store someone holds
    finally:
        release.set()
        holder.join()
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert [m["member_id"] for m in json.loads(out)] == [node["me"]["member_id"]]
