"""Two real daemons on loopback, driven through `we` as two people would."""

from __future__ import annotations

import json

import pytest
from cli_helpers import Daemon, wait_until, we, we_on_a_terminal


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("pair")
    alice, bob = root / "alice", root / "bob"
    for home in (alice, bob):
        r = we(home, "init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0")
        assert r.code == 0, r.err
    daemons = [Daemon(alice), Daemon(bob)]
    try:
        for d in daemons:
            d.start()
        cid = we(alice, "--json", "community", "create", "Garden", "--vouches", "1").json["id"]
        yield {"alice": alice, "bob": bob, "community": cid, "daemons": daemons}
    finally:
        for d in daemons:
            d.stop()


def json_of(home, *args):
    r = we(home, "--json", *args)
    assert r.code == 0, (args, r.err)
    return r.json


def test_join_vouch_and_replicate(pair):
    alice, bob, cid = pair["alice"], pair["bob"], pair["community"]
    st = json_of(alice, "status")
    assert st["daemon"] is True and st["listen_addrs"]
    info = json_of(alice, "community", "info")
    assert info["line"].startswith(f"we:{cid}@/ip4/127.0.0.1/tcp/")
    r = we(bob, "--json", "community", "join", info["line"])
    assert r.code == 0 and r.err == "", r.err  # no progress display in --json mode
    joined = r.json
    assert joined["community"] == cid
    bob_id = joined["member_id"]
    # bob's daemon remembers alice as a bootstrap peer for its next start
    assert "/ip4/127.0.0.1/" in (bob / "config.toml").read_text()

    # not a member yet: bob's ops are refused with a clear reason
    r = we(bob, "--json", "offer", "add", "Spade", "--category", "tools/garden")
    assert r.code == 4, r.err
    assert r.error["code"] == "not_member"
    assert "not a member" in r.error["message"] and "we member vouch" in r.error["hint"]
    assert "causal past" not in r.error["message"] and "not_member" not in r.error["message"]
    # asking twice is no mistake (nor is taking the community up again after a leave): the
    # node syncs it, and no second request is signed
    r = we(bob, "--json", "community", "join", info["line"])
    assert r.code == 0 and (r.json["already"], r.json["op_id"]) == (True, None), r.err
    # on a terminal, the join says what it waits for (issue 11: long operations show progress)
    code, out, terminal = we_on_a_terminal(bob, "community", "join", info["line"])
    assert code == 0 and f"syncing community {cid[:12]}" in terminal, terminal
    assert out.startswith(f"You already asked to join community {cid[:12]}; syncing it."), out

    wait_until(
        lambda: any(m["member_id"] == bob_id for m in json_of(alice, "member", "list")),
        "join request",
    )
    assert json_of(alice, "member", "vouch", bob_id[:14])["member_id"] == bob_id
    r = we(alice, "--json", "member", "vouch", bob_id)
    assert r.code == 4 and r.error["code"] == "duplicate_vouch"
    wait_until(
        lambda: {m["status"] for m in json_of(bob, "member", "list")} == {"member"}, "admission"
    )
    peers = json_of(alice, "peers")
    assert bob_id in [p["member_id"] for p in peers]


def test_a_join_line_nobody_answers_says_so(pair):
    peer = "12D3KooWDeotW3hRrQuhDotkRmv8FdqBs1gWkPiz7yYsLQ5WRH2j"  # nobody runs it
    line = f"we:{pair['community']}@/ip4/127.0.0.1/tcp/9/p2p/{peer}"
    r = we(pair["bob"], "--json", "community", "join", line)
    assert r.code == 1 and r.error["code"] == "unreachable", r.err
    assert r.error["message"].startswith("could not reach the community: /ip4/127.0.0.1/tcp/9/")
    assert "we peers --connect" in r.error["hint"]


def test_a_failed_join_leaves_nothing_behind(pair):
    """Issue 11, defect 3: a join to a community nobody can serve (a reachable node that does
    not hold it) failed but left the community as "(syncing)" for good, and every command
    without -c then failed with "this node is in 2 communities"."""
    before = [c["id"] for c in json_of(pair["bob"], "community", "list")]
    addr = json_of(pair["alice"], "status")["listen_addrs"][0]
    line = f"we:{'ff' * 32}@{addr}"
    r = we(pair["bob"], "--json", "community", "join", line, "--timeout", "2")
    assert r.code == 1 and r.error["code"] == "sync_timeout", r.err
    assert [c["id"] for c in json_of(pair["bob"], "community", "list")] == before
    assert all(c["id"] != "ff" * 32 for c in json_of(pair["bob"], "status")["communities"])


def test_offer_reservation_across_nodes(pair):
    alice, bob = pair["alice"], pair["bob"]
    wait_until(
        lambda: we(bob, "--json", "profile", "set", "--name", "Bob").code == 0, "bob admitted"
    )
    oid = json_of(alice, "offer", "add", "Wheelbarrow", "--category", "tools/garden/wheelbarrow")[
        "id"
    ]
    nid = json_of(bob, "need", "add", "Something to carry soil", "--category", "tools/garden")["id"]
    wait_until(lambda: any(o["id"] == oid for o in json_of(bob, "offer", "list")), "offer on bob")
    matches = json_of(bob, "match", nid[:8])
    assert [(m["need"], m["offer"]) for m in matches] == [(nid, oid)]
    assert "category" in " ".join(matches[0]["reasons"])

    r = we(alice, "--json", "reserve", oid[:8], "--from", "+1h", "--until", "+1d")
    assert r.code == 4 and r.error["code"] == "own_offer"
    rid = json_of(bob, "reserve", oid[:8], "--from", "+1h", "--until", "+1d")["id"]
    r = we(bob, "--json", "reservation", "accept", rid[:8])  # only the owner accepts
    assert r.code == 4 and r.error["code"] == "not_allowed"

    def status_on(home):
        rows = json_of(home, "reservation", "list")
        return next((x["status"] for x in rows if x["id"] == rid), None)

    wait_until(lambda: status_on(alice) == "requested", "request on alice")
    assert json_of(alice, "reservation", "accept", rid[:8])["step"] == "accept"
    wait_until(lambda: status_on(bob) == "accepted", "accept on bob")
    json_of(bob, "reservation", "handover", rid[:8])
    wait_until(lambda: status_on(alice) == "handed_over", "handover on alice")
    json_of(alice, "reservation", "return", rid[:8])
    assert status_on(alice) == "returned"
    shown = json_of(alice, "offer", "show", oid[:8])
    assert [e["event"] for e in shown["custody"]] == ["handover", "return"]
    human = we(alice, "reservation", "list")
    assert "Wheelbarrow" in human.out and "Bob" in human.out and "returned" in human.out


def test_watch_is_pushed_live_across_nodes(pair):
    """`we watch` with a daemon: each op of the community is pushed to it as it is applied,
    here ops another member's node wrote; it stops after --max-events."""
    import subprocess
    import sys
    import time

    from cli_helpers import ROOT, base_env

    alice, bob = pair["alice"], pair["bob"]
    wait_until(
        lambda: we(bob, "--json", "profile", "set", "--name", "Bob").code == 0, "bob admitted"
    )
    cmd = [sys.executable, "-m", "cli.main", "--data-dir", str(bob), "--json", "watch"]
    proc = subprocess.Popen(
        [*cmd, "--max-events", "2"], cwd=ROOT, env=base_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        titles = []
        for i in range(12):  # until watch saw two (it may subscribe after the first ones)
            titles.append(f"Ladder {i}")
            json_of(alice, "offer", "add", titles[-1], "--category", "tools/garden")
            if proc.poll() is not None:
                break
            time.sleep(0.5)  # pacing only: the loop ends when watch has seen two
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    rows = [json.loads(line) for line in out.splitlines()]
    assert proc.returncode == 0 and len(rows) == 2, out
    assert all(set(r) == {"ts", "id", "who", "what"} for r in rows)
    shown = [r["what"] for r in rows]
    assert all(w.startswith("offer.create: Ladder ") for w in shown), shown
    assert [titles.index(w.split(": ", 1)[1]) for w in shown] == sorted(
        titles.index(w.split(": ", 1)[1]) for w in shown
    )
    alice_key = json_of(alice, "id")["public_key"]
    assert {r["who"] for r in rows} == {alice_key}


def test_same_answer_with_and_without_daemon(pair):
    """The daemon and the offline backend answer with the same handler: same output."""
    bob = pair["bob"]
    with_daemon = json_of(bob, "offer", "list", "--status", "any")
    members = json_of(bob, "member", "list")
    d = pair["daemons"][1]
    d.stop()
    assert json_of(bob, "status")["daemon"] is False
    assert json_of(bob, "offer", "list", "--status", "any") == with_daemon
    assert json_of(bob, "member", "list") == members
    d.start()


def test_second_daemon_on_the_same_data_dir_is_refused(pair):
    r = we(pair["alice"], "--json", "daemon")
    assert r.code == 1
    assert r.error["code"] == "daemon_running"
    assert "already running" in r.error["message"]


def test_an_embedder_cannot_open_a_data_dir_a_daemon_holds(pair):
    import trio

    from node import Node
    from node.api import DataDirBusy

    async def embed() -> None:
        async with Node.open(pair["alice"], network=False):
            pass

    with pytest.raises(DataDirBusy, match=str(pair["alice"])):
        trio.run(embed)
    assert json_of(pair["alice"], "status")["daemon"] is True  # the daemon is unharmed


def test_vote_seal_and_tally_agree(pair):
    import time

    alice, bob = pair["alice"], pair["bob"]
    ids = {h: json_of(h, "id")["member_id"] for h in (alice, bob)}
    wait_until(
        lambda: we(bob, "--json", "profile", "set", "--name", "Bob").code == 0, "bob admitted"
    )
    p = json_of(
        alice,
        "proposal",
        "create",
        "Plant apple trees",
        "--closes",
        "+12s",
        "--witness",
        ids[alice],
        "--witness",
        ids[bob],
    )
    pid, closes = p["id"], p["closes"]
    wait_until(
        lambda: any(x["id"] == pid for x in json_of(bob, "proposal", "list")), "proposal on bob"
    )
    r = we(bob, "--json", "vote", pid[:8], "maybe")
    assert r.code == 2 and "not a choice" in r.error["message"] and "yes, no" in r.error["hint"]
    json_of(bob, "vote", pid[:8], "yes")
    json_of(alice, "vote", pid[:8], "no")
    json_of(alice, "vote", pid[:8], "yes")  # a later ballot replaces the earlier one
    r = we(alice, "--json", "seal", pid[:8])
    assert r.code == 4 and r.error["code"] == "seal_early"
    t = wait_until(
        lambda: (t := json_of(bob, "tally", pid[:8])) and len(t["counted"]) == 2 and t, "ballots"
    )
    assert t["status"] == "provisional"
    time.sleep(max(0.0, closes / 1000 - time.time()) + 0.3)
    r = we(bob, "--json", "vote", pid[:8], "no")
    assert r.code == 4 and r.error["code"] == "closed"
    # a witness's inbox says a seal is due (issue 11, "what needs me"), until it sealed
    due = [i for i in json_of(alice, "inbox") if i["kind"] == "seal"]
    assert [i["id"] for i in due] == [pid] and due[0]["do"] == f"we seal {pid[:10]}"
    sealed = json_of(alice, "seal", pid[:8])
    assert sealed["heads"] == 2 and sealed["op_ids"] == [sealed["op_id"]]  # alice's and bob's
    json_of(bob, "seal", pid[:8])
    r = we(bob, "--json", "seal", pid[:8])
    assert r.code == 4 and r.error["code"] == "seal_twice"
    finals = [
        wait_until(
            lambda h=h: (t := json_of(h, "tally", pid[:8]))["status"] == "final" and t, "seals"
        )
        for h in (alice, bob)
    ]
    assert finals[0] == finals[1]
    assert "seal" not in [i["kind"] for i in json_of(alice, "inbox")]
    assert (finals[0]["passed"], finals[0]["winner"]) == (True, "yes")
    assert sorted(v["choice"] for v in finals[0]["voters"]) == ["yes", "yes"]
    human = we(bob, "tally", pid[:8]).out
    assert "FINAL" in human and "PASSED" in human and "█" in human
