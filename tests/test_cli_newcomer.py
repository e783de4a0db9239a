"""Mistakes and surprises a newcomer met following the README quickstart by hand (one node,
offline): each is a real `we` subprocess, checked for its message and exit code."""

from __future__ import annotations

import pytest
from cli_helpers import we


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
