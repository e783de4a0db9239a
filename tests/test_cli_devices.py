"""`we device` and `we key import` (issue 12): a second device of a member, made on the first
one or from a key backup, signs for the member with its own key and chain; a revoked device's
later ops count nowhere. Real daemons, real `we` subprocesses."""

from __future__ import annotations

from cli_helpers import Daemon, wait_until, we
from test_cli_schema import SCHEMA, check

P, B = "laptop pass phrase", "backup pass phrase"


def ok(home, *args, env=None):
    r = we(home, "--json", *args, env=env)
    assert r.code == 0, (args, r.err)
    return r.json


def test_add_use_and_revoke_a_device_and_import_a_backup_as_a_new_device(tmp_path):
    alice, laptop, phone = tmp_path / "alice", tmp_path / "laptop", tmp_path / "phone"
    bob, fresh = tmp_path / "bob", tmp_path / "fresh"
    ok(alice, "init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0")
    me = ok(alice, "id")
    pw = {"WE_PASSPHRASE": P}
    d_alice = Daemon(alice)
    d_laptop = Daemon(laptop, "--listen", "/ip4/127.0.0.1/tcp/0", env=pw)
    d_bob, d_fresh = Daemon(bob), Daemon(fresh)
    try:
        d_alice.start()
        ok(alice, "community", "create", "Tools", "--vouches", "1", "--recovery-vouches", "1")
        line = ok(alice, "community", "info")["line"]

        made = ok(
            alice, "device", "add", str(tmp_path / "laptop.key"), env={"WE_NEW_PASSPHRASE": P}
        )
        assert made["member_id"] == me["member_id"] and made["device"] != me["member_id"]
        got = ok(laptop, "key", "import", str(tmp_path / "laptop.key"), env=pw)
        assert (got["as"], got["member_id"], got["key"]) == ("key", me["member_id"], made["device"])
        d_laptop.start()
        joined = ok(laptop, "community", "join", line, env=pw)
        assert joined["member_id"] == me["member_id"]  # the member, not the device key
        assert joined["device"]["member_id"] == made["device"]
        st = ok(laptop, "status", env=pw)
        assert st["device"] is True and st["member"] == me["member_id"]

        # What the laptop signs is alice's: no vouch needed, listed as hers everywhere.
        drill = ok(laptop, "offer", "add", "Drill", "--category", "tools", env=pw)
        wait_until(
            lambda: [o["id"] for o in ok(alice, "offer", "list", "--mine")] == [drill["id"]],
            "the laptop's offer as alice's",
        )
        devices = ok(alice, "device", "list")["devices"]
        assert [(d["role"], d["status"]) for d in devices] == [
            ("member key", "active"),
            ("device", "active"),
        ]

        # The laptop is lost: alice revokes it; what it signs next counts nowhere.
        r = we(alice, "--json", "device", "revoke", "12D3KooWnobody")
        assert r.code == 3 and r.error["code"] == "unknown_device"
        ok(alice, "device", "revoke", made["device"])
        wait_until(
            lambda: ok(laptop, "device", "list", env=pw)["devices"][1]["status"] == "revoked",
            "the revocation at the laptop",
        )
        we(laptop, "--json", "offer", "add", "Saw", "--category", "tools", env=pw)

        def ops(home, env=None):
            return ok(home, "status", env=env)["communities"][0]["ops"]

        wait_until(lambda: ops(alice) == ops(laptop, pw), "the laptop's last op at alice")
        assert [o["title"] for o in ok(alice, "offer", "list")] == ["Drill"]
        assert [o["title"] for o in ok(laptop, "offer", "list", env=pw)] == ["Drill"]

        # Alice loses every key (the revoked laptop; her root "stolen", still running): a
        # fresh node claims her membership once Bob vouched for its key (this community asks
        # one vouch). What the old root signs from then on counts nowhere.
        d_laptop.stop()
        ok(bob, "init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0")
        ok(fresh, "init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0")
        d_bob.start()
        bob_id = ok(bob, "community", "join", line)["member_id"]
        wait_until(
            lambda: bob_id in [m["member_id"] for m in ok(alice, "member", "list")],
            "bob's join at alice",
        )
        ok(alice, "member", "vouch", bob_id)
        d_fresh.start()
        new_id = ok(fresh, "id")["member_id"]
        r = we(fresh, "--json", "recovery", "claim", me["member_id"], line)
        assert r.code == 4 and r.error["code"] == "few_vouches", r.err
        assert "we recovery vouch" in r.error["hint"]
        wait_until(
            lambda: {m["status"] for m in ok(bob, "member", "list")} == {"member"},
            "bob's admission",
        )
        ok(bob, "recovery", "vouch", me["member_id"], new_id)

        def claim():
            r = we(fresh, "--json", "recovery", "claim", me["member_id"], line)
            return r.json if r.code == 0 else None

        claimed = wait_until(claim, "the claim, once bob's vouch arrived")
        assert claimed["member_id"] == me["member_id"]
        check(claimed, SCHEMA["commands"]["recovery claim"], "recovery claim")
        assert ok(fresh, "status")["member"] == me["member_id"]
        keys = ok(fresh, "device", "list")["devices"]
        assert [(d["role"], d["status"], d["this_node"]) for d in keys] == [
            ("member key", "revoked", False),
            ("device", "revoked", False),
            ("device", "active", True),
        ]
        ok(fresh, "offer", "add", "Ladder", "--category", "tools")
        # The old root: refused if its node has the claim already, else sent and dropped by
        # every node that has it (test_cli_retired_key.py); either way it counts nowhere.
        r = we(alice, "--json", "offer", "add", "Stolen", "--category", "tools")
        assert r.code == 0 or r.error["code"] == "key_replaced", r.err
        wait_until(lambda: ops(bob) == ops(alice) == ops(fresh), "every op at every node")
        offers = ok(bob, "offer", "list")
        assert sorted(o["title"] for o in offers) == ["Drill", "Ladder"]
    finally:
        for d in (d_fresh, d_bob, d_laptop, d_alice):
            d.stop()

    # A key backup restored on a phone makes a NEW key of the same member (never the old
    # chain); --same-key restores the key itself.
    ok(alice, "key", "export", str(tmp_path / "alice.bak"), env={"WE_NEW_PASSPHRASE": B})
    got = ok(phone, "key", "import", str(tmp_path / "alice.bak"), env={"WE_PASSPHRASE": B})
    assert got["as"] == "device" and got["member_id"] == me["member_id"]
    assert (
        got["key"]
        != me["member_id"]
        == ok(
            tmp_path / "again",
            "key",
            "import",
            "--same-key",
            str(tmp_path / "alice.bak"),
            env={"WE_PASSPHRASE": B},
        )["key"]
    )
