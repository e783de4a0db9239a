"""Mistakes and surprises a newcomer met following the README quickstart by hand (one node,
offline): each is a real `we` subprocess, checked for its message and exit code."""

from __future__ import annotations

import pytest
from cli_helpers import wait_until, we


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    home = tmp_path_factory.mktemp("newcomer") / "alice"
    assert we(home, "--json", "init", "--plaintext").code == 0
    r = we(home, "--json", "community", "create", "Tool Library", "--vouches", "1")
    assert r.code == 0, r.err
    return home


def test_relative_times_round_to_what_was_typed(node):
    """`--expires +30d` read back a moment later showed "in 29d", `--closes +1d` "in 23h"."""
    r = we(node, "offer", "add", "Drill", "--category", "tools", "--expires", "+30d")
    assert r.code == 0, r.err
    assert "in 30d" in we(node, "offer", "list").out
    r = we(node, "proposal", "create", "Buy a second drill", "--closes", "+1d")
    assert r.code == 0, r.err
    assert "closes in 1d" in r.out


def test_rejections_name_the_thing_not_the_op_kind(node):
    """ "reject this reservation.request: ..." leaked the wire format into the message."""
    oid = we(node, "--json", "offer", "list").json[0]["id"]
    r = we(node, "reserve", oid[:8], "--from", "+1h", "--until", "+2h")
    assert r.code == 4
    assert "reject this reservation: you cannot reserve your own offer" in r.err
    assert "reservation.request" not in r.err


def test_vote_on_a_closed_proposal(node):
    pid = we(node, "--json", "proposal", "create", "Quick", "--closes", "+2s").json["id"]

    def closed():
        r = we(node, "--json", "vote", pid[:8], "yes")
        return r if r.code != 0 else None

    r = wait_until(closed, "the proposal to close")
    assert r.code == 4 and r.error["code"] == "closed"
    assert r.error["message"] == "the community's rules reject this vote: the vote is closed"
    assert "we proposal show" in r.error["hint"]


def test_a_bad_value_says_which_field_and_where_to_look(node):
    pid = we(node, "--json", "project", "create", "Repair cafe").json["id"]
    r = we(node, "--json", "contribute", pid[:8], "--hours", "99999999", "--what", "x")
    assert r.code == 2 and "more than 1000 hours" in r.error["message"]  # said before signing
    # a value only the records' rules refuse is a bad value too (exit 2, issue 11)
    tags = [a for i in range(17) for a in ("--tag", f"t{i}")]
    r = we(node, "--json", "offer", "add", "Saw", "--category", "tools", *tags)
    assert r.code == 2 and r.error["code"] == "bad_body", r.err
    assert "tags" in r.error["message"] and "offer.create" not in r.error["message"]
    assert "we offer add --help" in r.error["hint"]


def test_a_proposal_that_closes_in_the_past_is_refused(node):
    """It was accepted ("closes 329d ago"); without --opens the message blamed --opens."""
    r = we(node, "--json", "proposal", "create", "Late", "--closes", "2020-01-01")
    assert r.code == 2 and "in the past" in r.error["message"]
    r = we(node, "--json", "proposal", "create", "Late", "--opens", "+2d", "--closes", "+1d")
    assert r.code == 2 and "not after the opening" in r.error["message"]


def test_zero_effort_is_refused_before_anything_runs(node):
    """`--hours 0` reached the rules and came back as "field 'effort_minutes': ..."."""
    r = we(node, "--json", "contribute", "0000", "--hours", "0", "--what", "x")
    assert r.code == 2 and "at least one minute" in r.error["message"]


def test_daemon_hint_names_a_command_that_exists(node):
    """The hint suggested `we daemon --detach` when it was no option of `we daemon`, then
    `we daemon &`, which stops at the passphrase prompt (issue 11): both exist now."""
    hint = we(node, "--json", "peers").error["hint"]
    assert "`we daemon --detach`" in hint and "`we daemon stop`" in hint
    assert "--detach" in we(None, "daemon", "--help").out
    assert we(None, "daemon", "stop", "--help").code == 0


def test_self_vouch_says_vouch(node):
    me = we(node, "--json", "id").json["member_id"]
    r = we(node, "--json", "member", "vouch", me)
    assert r.code == 4
    assert r.error["message"] == (
        "the community's rules reject this vouch: nobody may vouch for themselves"
    )


def test_passphrase_mistakes_name_the_cli_option(tmp_path):
    """An empty passphrase at the prompt pointed at `insecure_plaintext` (an API argument);
    an empty WE_PASSPHRASE said "set WE_PASSPHRASE" although it was set."""
    import os
    import subprocess
    import sys

    from cli_helpers import ROOT, base_env

    r = we(tmp_path / "a", "--json", "init", env={"WE_PASSPHRASE": ""})
    assert r.code == 6 and "set but empty" in r.error["hint"]
    primary, secondary = os.openpty()  # a terminal, so `we init` asks (twice)
    p = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--data-dir", str(tmp_path / "b"), "init"],
        stdin=secondary,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=base_env(),
        cwd=ROOT,
        start_new_session=True,  # no controlling terminal: getpass reads the pty on stdin
    )
    os.close(secondary)
    err = b""
    for prompt in (b"Passphrase for", b"Repeat the passphrase"):
        while prompt not in err:  # getpass flushes what was typed before its prompt
            chunk = os.read(p.stderr.fileno(), 4096)
            assert chunk, err
            err += chunk
        os.write(primary, b"\n")  # an empty passphrase
    err += p.communicate(timeout=60)[1]
    os.close(primary)
    assert p.returncode == 6, err
    assert b"we init --plaintext" in err and b"insecure_plaintext" not in err


def test_a_malformed_address_is_refused_where_it_was_typed(tmp_path):
    """`we init --listen garbage` was accepted and `we daemon` then printed a traceback."""
    r = we(tmp_path / "a", "--json", "init", "--plaintext", "--listen", "garbage")
    assert r.code == 2 and "'garbage' is not a multiaddr" in r.error["message"]
    assert not (tmp_path / "a" / "identity.json").exists()  # nothing half-made to clean up
    home = tmp_path / "b"
    assert we(home, "init", "--plaintext").code == 0
    (home / "config.toml").write_text('[network]\nlisten = ["/ip4/127.0.0.1/tcp/x"]\n')
    r = we(home, "daemon")
    assert r.code == 2 and "network.listen" in r.err and "Traceback" not in r.err


def test_a_second_daemon_on_a_taken_port_is_refused(tmp_path):
    """libp2p listens with SO_REUSEPORT, so a second daemon on a port another daemon holds
    started and shared it (each connection went to one of them at random)."""
    import socket

    home = tmp_path / "a"
    assert we(home, "init", "--plaintext").code == 0
    with socket.socket() as held:  # what another daemon's listener looks like
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        r = we(home, "--json", "daemon", "--listen", f"/ip4/127.0.0.1/tcp/{port}")
    assert r.code == 1 and r.error["code"] == "port_in_use"
    assert f"port {port} on 127.0.0.1 is already in use" in r.error["message"]
    assert not (home / "control.sock").exists()


def test_malformed_addresses_to_dial_are_usage_errors(node):
    """They came back as exit 1 with the multiaddr library's own words."""
    line = f"we:{'ab' * 32}@/ip4/127.0.0.1/tcp/xx"
    r = we(node, "--json", "community", "join", line)
    assert r.code == 2 and "is not a multiaddr" in r.error["message"], r.err
    r = we(node, "--json", "peers", "--connect", "garbage")
    assert r.code == 2 and "is not a multiaddr" in r.error["message"], r.err


def test_usage_errors_are_json_with_json(node):
    """README: with --json, errors are one JSON line on stderr; usage errors were click's text."""
    # (`vote` without its proposal: an approval ballot may name no choice, so `vote 0000` may)
    for args in (("vote",), ("nosuch",), ("offer", "add", "x", "--quantity", "abc")):
        r = we(node, "--json", *args)
        assert r.code == 2, (args, r.err)
        assert len(r.err.strip().splitlines()) == 1 and r.error["code"] == "usage", r.err
        assert r.error["message"] and "--help" in r.error["hint"]
    assert "Usage: we vote" in we(node, "vote").err  # people still get click's text


def test_a_reservation_that_already_ended_is_refused(node):
    """A window in 2020 was accepted as a reservation request."""
    oid = we(node, "--json", "offer", "list").json[0]["id"]
    r = we(node, "--json", "reserve", oid[:8], "--from", "2020-01-01", "--until", "2020-01-02")
    assert r.code == 2 and "in the past" in r.error["message"], r.err


def test_a_ranked_ballot_naming_a_choice_twice(node):
    """`we vote ID a a` came back as "not a valid ballot for this voting method"."""
    args = ("proposal", "create", "Colour", "--method", "irv", "--option", "red")
    pid = we(node, "--json", *args, "--option", "green").json["id"]
    r = we(node, "--json", "vote", pid[:8], "red", "red")
    assert r.code == 2 and "'red' named twice" in r.error["message"], r.err


def test_community_option_takes_the_name_community_list_shows(tmp_path):
    """With two communities, `--community "Tool Library"` said no community matches it."""
    home = tmp_path / "a"
    assert we(home, "init", "--plaintext").code == 0
    ids = [
        we(home, "--json", "community", "create", name).json["id"] for name in ("Garden", "Tools")
    ]
    assert we(home, "--json", "offer", "list").error["code"] == "ambiguous"
    r = we(home, "--json", "offer", "add", "Saw", "--category", "tools", "-c", "tools")
    assert r.code == 0, r.err
    assert [o["id"] for o in we(home, "--json", "offer", "list", "-c", ids[1][:8]).json] == [
        r.json["id"]
    ]
    assert we(home, "--json", "offer", "list", "--community", "Garden").json == []


def test_a_daemon_that_cannot_start_says_why_in_one_line(tmp_path):
    """`we daemon --detach` on a port in use printed "its log says:\\n..." with the newlines
    escaped, the log's last lines from earlier runs too, and exit 5 ("no daemon")."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        home = tmp_path / "alice"
        assert we(home, "init", "--plaintext", "--listen", f"/ip4/127.0.0.1/tcp/{port}").code == 0
        (home / "daemon.log").write_text("Error: something from an earlier run\n")
        r = we(home, "daemon", "--detach")
    assert r.code == 1, r.err  # the daemon's own exit code for a config problem
    error, hint = r.err.splitlines()[:2]
    assert error == (
        f"Error: the daemon stopped at once: port {port} on 127.0.0.1 is already in use"
        " (another `we daemon`?)"
    )
    assert "we daemon --listen" in hint and str(home / "daemon.log") in hint
    assert "\\n" not in r.err and "earlier run" not in r.err


def test_a_description_of_several_lines_shows_as_lines(node):
    """`we offer show` printed a description with a line break as `line1\\nline2`."""
    text = "Cordless, two batteries.\nAsk for the long bits [red]."
    r = we(
        node, "--json", "offer", "add", "Long drill", "--category", "tools", "--description", text
    )
    assert r.code == 0, r.err
    out = we(node, "offer", "show", r.json["id"][:12]).out.splitlines()
    at = next(i for i, line in enumerate(out) if line.startswith("description"))
    assert out[at].split(None, 1)[1] == "Cordless, two batteries."
    assert out[at + 1].strip() == "Ask for the long bits [red]."  # markup shown, not obeyed
    assert "\\n" not in "\n".join(out)


@pytest.mark.parametrize("family", ["offer", "need"])
def test_an_option_that_needs_another_is_refused_alone(node, family):
    """`we offer list --within 100` without --near listed everything, as if filtered; --mine
    with --by kept --mine and dropped --by; --page 2 with --limit 0 showed page 1 again."""
    r = we(node, "--json", family, "list", "--within", "100")
    assert r.code == 2 and "--within needs --near" in r.error["message"], r.err
    assert "--near GEOHASH" in r.error["hint"]
    r = we(node, "--json", family, "list", "--mine", "--by", "Alice")
    assert r.code == 2 and "--mine and --by" in r.error["message"], r.err
    r = we(node, "--json", family, "list", "--limit", "0", "--page", "2")
    assert r.code == 2 and "--limit 0" in r.error["message"], r.err
    r = we(node, "--json", family, "list", "--near", "u0vu1", "--within", "100")
    assert r.code == 0, r.err


TALLIES = [  # method, options, the ballot as typed, the ballot as the text must show it
    ("basic", [], ["yes"], "yes"),
    ("basic", [], ["abstain"], "abstain"),
    ("single", ["a", "b"], ["b"], "b"),
    ("approval", ["a", "b", "c"], ["a", "b"], "a, b"),
    ("irv", ["red", "green", "blue"], ["red", "green", "blue"], "red > green > blue"),
    ("schulze", ["red", "green", "blue"], ["green", "red"], "green > red"),
    ("score", ["a", "b"], ["a=5", "b=3"], "a=5, b=3"),
    ("quadratic", ["a", "b"], ["a=-5", "b=3"], "a=-5, b=3"),
    ("consent", [], ["object"], "object"),
]


@pytest.mark.parametrize("method,options,ballot,shown", TALLIES)
def test_tally_text_says_what_its_json_says(node, method, options, ballot, shown):
    """`we tally` printed ballots as Python (None, ['red', 'green'], {'a': 5}), hid ties
    (PASSED, winner: a, while the JSON had tied: [a, b]) and printed a threshold 'met' for
    methods it does not apply to (consent: NOT PASSED ... threshold met)."""
    opts = [a for o in options for a in ("--option", o)]
    r = we(node, "--json", "proposal", "create", f"By {method}", "--method", method, *opts)
    assert r.code == 0, r.err
    pid = r.json["id"][:12]
    assert we(node, "vote", pid, *ballot).code == 0
    t = we(node, "--json", "tally", pid).json
    text = we(node, "tally", pid).out
    lines = {ln.split(":", 1)[0]: " ".join(ln.split()) for ln in text.splitlines() if ":" in ln}
    result = lines["Result"]
    assert result.startswith("Result: PASSED" if t["passed"] else "Result: NOT PASSED"), result
    if t["winner"] is None:
        assert "no winner" in result
    else:
        assert f"winner: {t['winner']}" in result
    if len(t["tied"]) > 1:
        others = ", ".join(o for o in t["tied"] if o != t["winner"])
        assert f"tied with {others}: a tie goes to the first listed" in result
    else:
        assert "tied" not in result
    assert ("threshold 50% (strictly more)" in text) == t["threshold_applies"]
    if t["threshold_applies"] and t["support"] is not None:
        assert lines["Support"].endswith(": met" if t["threshold_met"] else ": NOT met")
    assert t["threshold_applies"] == (method not in ("consent", "quadratic", "schulze"))
    if method == "consent":
        assert t["veto"] and "the bound 10% is reached: a veto" in lines["Objection"]
    if method == "quadratic":
        assert "the winner's is 3, above 0" in lines["Net total"]
    voter = [ln for ln in text.splitlines() if "Alice" in ln or ln.rstrip().endswith(shown)]
    assert any(ln.rstrip().endswith(shown) for ln in voter), text
    for python in ("None", "['", "{'"):
        assert python not in text, text
    if method == "approval":
        assert t["tied"] == ["a", "b"]  # the case the text hid


def test_ballot_limits_are_shown_and_named_when_broken(node):
    """`we vote P a=99` (score) and `a=1000` (quadratic) said only "not a valid ballot",
    and `proposal show` gave neither max_score (default 5) nor credits (default 100)."""

    def create(*args):
        r = we(node, "--json", "proposal", "create", "Limits", "--option", "a", "--option", "b",
               *args)  # fmt: skip
        assert r.code == 0, r.err
        return r.json["id"][:12]

    for method, params, shown in (
        ("score", {"max_score": 5}, "scores from 0 to 5"),
        ("quadratic", {"credits": 100}, "100 credits"),
    ):
        pid = create("--method", method)
        assert we(node, "--json", "proposal", "show", pid).json["params"] == params
        assert shown in we(node, "proposal", "show", pid).out
    r = we(node, "--json", "vote", create("--method", "score"), "a=99")
    assert r.code == 2 and "scores go from 0 to 5 (a=99 is outside)" in r.error["message"]
    r = we(node, "--json", "vote", create("--method", "quadratic"), "a=1000")
    assert r.code == 2, r.err
    assert "the squares of your votes add up to 1,000,000, over the 100 credits" in r.err
    pid = create("--method", "score", "--max-score", "10")
    assert we(node, "--json", "proposal", "show", pid).json["params"] == {"max_score": 10}
    assert we(node, "vote", pid, "a=10").code == 0
    r = we(node, "--json", "vote", pid, "a=11")
    assert r.code == 2 and "scores go from 0 to 10" in r.error["message"]
    pid = create("--method", "quadratic", "--credits", "4")
    assert we(node, "vote", pid, "a=2").code == 0
    assert "over the 4 credits" in we(node, "vote", pid, "a=2", "b=1").err
    r = we(node, "--json", "proposal", "create", "X", "--max-score", "7")
    assert r.code == 2 and "--max-score is for a score vote" in r.error["message"]
    r = we(node, "--json", "proposal", "create", "X", "--method", "quadratic", "--option", "a",
           "--credits", "0")  # fmt: skip
    assert r.code == 2 and "from 1 to 1,000,000" in r.error["message"]


def test_an_approval_ballot_may_approve_none(node):
    """governance §3.3: an empty approval list takes part and approves none; `we vote P`
    with no choice was a usage error. Other methods still need a choice."""
    pid = we(node, "--json", "proposal", "create", "Paint", "--method", "approval",
             "--option", "red", "--option", "blue").json["id"]  # fmt: skip
    r = we(node, "vote", pid[:12])
    assert r.code == 0 and "approves none" in r.out, r.err
    t = we(node, "--json", "tally", pid[:12]).json
    assert [v["choice"] for v in t["voters"]] == [[]] and t["participation"] == "1"
    pid = we(node, "--json", "proposal", "create", "One", "--method", "single",
             "--option", "red", "--option", "blue").json["id"]  # fmt: skip
    r = we(node, "--json", "vote", pid[:12])
    assert r.code == 2 and "needs a choice" in r.error["message"]


def test_block_says_it_takes_a_whole_id_and_where_to_find_one(node):
    """`we block Bob` said to copy the id from `we member list`, whose table shortens ids."""
    r = we(node, "--json", "block", "Bob")
    assert r.code == 2
    assert "a block takes no prefix and no name" in r.error["message"]
    assert "`we --json member list`" in r.error["hint"]
    me = we(node, "--json", "id").json["member_id"]
    assert any(m["member_id"] == me for m in we(node, "--json", "member", "list").json)


def test_a_community_named_after_another_ones_id_cannot_capture_it(tmp_path):
    """`--community PREFIX` matched names first: a community named after the start of
    another's id took that id's place."""
    home = tmp_path / "alice"
    assert we(home, "init", "--plaintext").code == 0
    real = we(home, "--json", "community", "create", "Tools").json["id"]
    decoy = we(home, "--json", "community", "create", real[:10]).json["id"]
    shown = we(home, "--json", "community", "info", "--community", real[:10]).json
    assert shown["id"] == real != decoy
    assert we(home, "--json", "community", "create", "tools").code == 0  # "Tools" twice now
    r = we(home, "--json", "community", "info", "--community", "TOOLS")
    assert r.code == 3 and "2 communities are named 'TOOLS'" in r.error["message"]


def test_table_titles_count_in_words(tmp_path):
    """Tables were titled "1 offer(s)", "1 thing(s) wait for you"."""
    home = tmp_path / "alice"
    assert we(home, "init", "--plaintext").code == 0
    assert we(home, "community", "create", "Tools", "--vouches", "1").code == 0
    assert we(home, "offer", "add", "Drill", "--category", "tools").code == 0
    assert we(home, "offer", "list").out.split()[:2] == ["1", "offer"]
    assert we(home, "offer", "add", "Saw", "--category", "tools").code == 0
    assert "2 offers" in we(home, "offer", "list").out
    assert we(home, "proposal", "create", "Buy glue", "--closes", "+1d").code == 0
    assert "1 thing waits for you" in we(home, "inbox").out
    assert "(s)" not in we(home, "offer", "list").out + we(home, "inbox").out
