"""A display name never stands in for another member's id: Alice, Bob and Carol run real
daemons, Dave asks to join, and Carol gives herself names shaped like the others' ids (through
her daemon's API, as a modified client would: `we profile set` refuses them)."""

from __future__ import annotations

import pytest
from cli_helpers import Daemon, wait_until, we

from cli.backend import DaemonBackend


def json_of(home, *args):
    r = we(home, "--json", *args)
    assert r.code == 0, (args, r.err)
    return r.json


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    root = tmp_path_factory.mktemp("names")
    homes = {who: root / who for who in ("alice", "bob", "carol", "dave")}
    for home in homes.values():
        assert we(home, "init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0").code == 0
    daemons = [Daemon(home) for home in homes.values()]
    try:
        for d in daemons:
            d.start()
        alice = homes["alice"]
        cid = json_of(alice, "community", "create", "Garden", "--vouches", "1")["id"]
        line = json_of(alice, "community", "info")["line"]
        ids = {}
        for who in ("bob", "carol", "dave"):
            ids[who] = json_of(homes[who], "community", "join", line)["member_id"]
        ids["alice"] = json_of(alice, "id")["member_id"]

        def listed(who):
            return any(m["member_id"] == ids[who] for m in json_of(alice, "member", "list"))

        for who in ("bob", "carol", "dave"):
            wait_until(lambda who=who: listed(who), f"{who}'s join request")
        for who in ("bob", "carol"):  # dave stays a candidate, waiting for a vouch
            json_of(alice, "member", "vouch", ids[who])
            wait_until(
                lambda who=who: we(homes[who], "profile", "set", "--name", who.title()).code == 0,
                f"{who} admitted",
            )
        yield {**homes, "ids": ids, "community": cid}
    finally:
        for d in daemons:
            d.stop()


def carol_calls_herself(four, name: str) -> None:
    """Carol's daemon signs a profile with ``name`` (no CLI check on the way), and Alice's
    node has it."""
    api = DaemonBackend(four["carol"])
    try:
        api.publish(four["community"], "profile.set", {"display_name": name})
    finally:
        api.close()
    carol = four["ids"]["carol"]

    def on_alice():
        return any(
            m["member_id"] == carol and m["name"] == name
            for m in json_of(four["alice"], "member", "list")
        )

    wait_until(on_alice, f"carol's name {name!r} on alice")


def test_profile_set_refuses_a_name_shaped_like_a_member_id(four):
    bob = four["ids"]["bob"]
    for name in (bob, bob[:16], bob.lower(), f"Bob ({bob[:14]})"):
        r = we(four["carol"], "--json", "profile", "set", "--name", name)
        assert r.code == 2 and r.error["code"] == "bad_value", (name, r.err)
        assert "may not look like a member id" in r.error["message"] and r.error["hint"]
    assert json_of(four["carol"], "profile", "show")["display_name"] == "Carol"


def test_delegate_by_id_reaches_that_member_whatever_names_say(four):
    alice, bob, carol = four["alice"], four["ids"]["bob"], four["ids"]["carol"]
    for typed in (bob, bob[:16]):
        carol_calls_herself(four, typed)
        r = we(alice, "--json", "delegate", typed)
        assert r.code == 0 and r.json["delegate"] == bob, (typed, r.err)
        assert f"to {bob}" in we(alice, "delegate", typed).out
    # Carol's own id still names Carol, and a name that is not an id still names its member
    assert json_of(alice, "delegate", carol[:14])["delegate"] == carol
    assert json_of(alice, "delegate", "bob")["delegate"] == bob
    # a prefix shorter than the README's 14 characters names nobody (it used to be expanded)
    r = we(alice, "--json", "delegate", bob[:11])
    assert r.code == 2 and "too short" in r.error["message"] and "14" in r.error["hint"]


def test_vouch_by_id_reaches_the_newcomer_whatever_names_say(four):
    alice, dave = four["alice"], four["ids"]["dave"]
    carol_calls_herself(four, dave)
    r = we(alice, "--json", "member", "vouch", dave)
    assert r.code == 0 and r.json["member_id"] == dave, r.err
    wait_until(
        lambda: any(
            m["member_id"] == dave and m["status"] == "member"
            for m in json_of(alice, "member", "list")
        ),
        "dave admitted",
    )


def test_a_name_shaped_like_an_id_is_shown_as_a_name_beside_its_own_id(four):
    alice, bob, carol = four["alice"], four["ids"]["bob"], four["ids"]["carol"]
    carol_calls_herself(four, bob)
    offer = json_of(alice, "offer", "add", "Ladder", "--category", "tools/ladder")["id"]
    wait_until(
        lambda: (
            we(four["carol"], "reserve", offer[:8], "--from", "+1h", "--until", "+1d").code == 0
        ),
        "carol's reservation",
    )
    wait_until(
        lambda: any(r["kind"] == "reservation_request" for r in json_of(alice, "inbox")),
        "the request in alice's inbox",
    )
    wide = {"COLUMNS": "300"}  # one line a row, whatever the names' lengths
    inbox = we(alice, "inbox", env=wide).out
    request = next(line for line in inbox.splitlines() if "reservation" in line)
    assert f'{carol[:14]} (named "{bob}")' in request, inbox
    # nowhere does Bob's id appear bare: the request is not Bob's
    assert bob[:14] not in inbox.replace(f'"{bob}"', ""), inbox

    listed = we(alice, "member", "list", env=wide).out.splitlines()
    carols = next(line for line in listed if carol[:14] in line)
    assert f'"{bob}"' in carols, listed
    bobs = [line for line in listed if bob[:14] in line.replace(f'"{bob}"', "")]
    assert len(bobs) == 1 and "Bob" in bobs[0] and carol[:14] not in bobs[0], listed


def test_offer_show_names_its_author_by_member_id(four):
    """`we offer show` said "author  Alice (41b77e92569b)", a key in hex that no command takes,
    where every other place shows a member id."""
    alice, me = four["alice"], four["ids"]["alice"]
    json_of(alice, "profile", "set", "--name", "Alice")
    offer = json_of(alice, "offer", "add", "Rake", "--category", "tools/garden")["id"]
    shown = we(alice, "offer", "show", offer[:10]).out
    author = next(line for line in shown.splitlines() if line.startswith("author"))
    assert author.split(None, 1)[1] == f"Alice ({me[:14]})", shown
    assert json_of(alice, "status")["public_key"][:8] not in shown
