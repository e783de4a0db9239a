"""A node whose key its community retired (a revoked device, a key a recovery claim replaced)
is told so: its writes there are refused before anything is signed (exit 4, what happened and
what to do), `we status` says it, and `we inbox` suggests nothing it can no longer do. Before,
such writes printed "Published offer ..." and exit 0 while counting nowhere. Real daemons,
real `we` subprocesses."""

from __future__ import annotations

from cli_helpers import Daemon, wait_until, we
from test_cli_schema import SCHEMA, check

P = "laptop pass phrase"
PW = {"WE_PASSPHRASE": P}


def ok(home, *args, env=None):
    r = we(home, "--json", *args, env=env)
    assert r.code == 0, (args, r.err)
    return r.json


def ops(home, env=None) -> int:
    return ok(home, "status", env=env)["communities"][0]["ops"]


def test_a_revoked_device_and_a_replaced_key_write_nothing_and_say_why(tmp_path):
    alice, laptop, bob, fresh = (tmp_path / n for n in ("alice", "laptop", "bob", "fresh"))
    listen = ("--listen", "/ip4/127.0.0.1/tcp/0")
    for home in (alice, bob, fresh):
        ok(home, "init", "--plaintext", *listen)
    me = ok(alice, "id")
    d_alice, d_bob, d_fresh = Daemon(alice), Daemon(bob), Daemon(fresh)
    d_laptop = Daemon(laptop, *listen, env=PW)
    try:
        d_alice.start()
        ok(alice, "community", "create", "Tools", "--vouches", "1", "--recovery-vouches", "1")
        line = ok(alice, "community", "info")["line"]
        ok(alice, "device", "add", str(tmp_path / "l.key"), env={"WE_NEW_PASSPHRASE": P})
        ok(laptop, "key", "import", str(tmp_path / "l.key"), env=PW)
        d_laptop.start()
        device = ok(laptop, "community", "join", line, env=PW)["device"]["member_id"]
        d_bob.start()
        bob_id = ok(bob, "community", "join", line)["member_id"]
        wait_until(
            lambda: bob_id in [m["member_id"] for m in ok(alice, "member", "list")], "bob's join"
        )
        ok(alice, "member", "vouch", bob_id)
        drill = ok(laptop, "offer", "add", "Drill", "--category", "tools", env=PW)["id"]
        wait_until(
            lambda: (
                any(o["id"] == drill for o in ok(bob, "offer", "list"))
                and {m["status"] for m in ok(bob, "member", "list")} == {"member"}
            ),
            "bob admitted, the drill at bob",
        )
        rid = ok(bob, "reserve", drill[:10], "--from", "+1h", "--until", "+1d")["id"]
        pid = ok(bob, "proposal", "create", "Paint the shed", "--closes", "+1d")["id"]

        def inbox_kinds():
            return sorted(r["kind"] for r in ok(laptop, "inbox", env=PW))

        wait_until(lambda: inbox_kinds() == ["reservation_request", "vote"], "the laptop's inbox")

        # Alice revokes the laptop; once it knows, it refuses to sign there.
        ok(alice, "device", "revoke", device)
        wait_until(
            lambda: ok(laptop, "device", "list", env=PW)["devices"][1]["status"] == "revoked",
            "the revocation at the laptop",
        )
        before = ops(laptop, PW)
        r = we(laptop, "--json", "offer", "add", "X", "--category", "a/b", env=PW)
        assert r.code == 4 and r.error["code"] == "key_revoked", r.err
        assert "revoked in community Tools" in r.error["message"]
        assert "we device list" in r.error["hint"]
        r = we(laptop, "offer", "add", "X", "--category", "a/b", env=PW)
        assert r.code == 4 and "Published" not in r.out and "revoked" in r.err, (r.out, r.err)
        r = we(laptop, "--json", "reservation", "accept", rid[:10], env=PW)
        assert r.code == 4 and r.error["code"] == "key_revoked", r.err
        r = we(laptop, "--json", "vote", pid[:10], "yes", env=PW)
        assert r.code == 4 and r.error["code"] == "key_revoked", r.err
        assert ops(laptop, PW) == before  # nothing was signed

        st = ok(laptop, "status", env=PW)
        check(st, SCHEMA["commands"]["status"], "status")
        cid = st["communities"][0]["id"]
        assert [(k["community"], k["name"], k["state"]) for k in st["key_retired"]] == [
            (cid, "Tools", "revoked")
        ]
        text = we(laptop, "status", env=PW).out
        assert "This node's key was revoked in community Tools" in text, text
        rows = ok(laptop, "inbox", env=PW)
        check(rows, SCHEMA["commands"]["inbox"], "inbox")
        assert [r["kind"] for r in rows] == ["key_retired"]
        text = we(laptop, "inbox", env=PW).out
        assert "we vote" not in text and "reservation accept" not in text, text
        assert "revoked" in text

        # Alice loses her keys: a fresh node claims her membership with bob's vouch. Once her
        # old node has the claim, it refuses to sign there too.
        d_laptop.stop()
        d_fresh.start()
        new_id = ok(fresh, "id")["member_id"]
        ok(bob, "recovery", "vouch", me["member_id"], new_id)

        def claim():
            r = we(fresh, "--json", "recovery", "claim", me["member_id"], line)
            return r.json if r.code == 0 else None

        wait_until(claim, "the claim, once bob's vouch arrived")
        wait_until(
            lambda: ok(alice, "device", "list")["devices"][0]["status"] == "revoked",
            "the claim at alice's old node",
        )
        assert ok(alice, "status")["key_retired"][0]["state"] == "replaced"
        r = we(alice, "--json", "offer", "add", "Stolen", "--category", "tools")
        assert r.code == 4 and r.error["code"] == "key_replaced", r.err
        assert "recovery claim" in r.error["message"]
        assert "This node's key was replaced by a recovery claim" in we(alice, "status").out
        assert ok(fresh, "status")["key_retired"] == []  # the claiming key counts
        ok(fresh, "offer", "add", "Ladder", "--category", "tools")
    finally:
        for d in (d_fresh, d_bob, d_laptop, d_alice):
            d.stop()
