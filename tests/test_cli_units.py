"""The CLI's own small pure helpers: ids, times, bars, parsing (in-process, fast)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cli.errors import UserError, translate
from cli.output import Shortener, bar, rel_time, resolve, shortest_unique
from node.service.parse import parse_hours, parse_share, parse_when, parse_window
from node.service.words import BadValue


def test_prefixes_are_unambiguous():
    ids = ["abcdef0011", "abcdef0022", "ffff000000"]
    short = Shortener(ids)
    assert short("ffff000000") == "ffff0000"  # never shorter than 8
    assert short("abcdef0011") == "abcdef001"
    assert short("abcdef0022") == "abcdef002"
    assert shortest_unique("12D3KooWAAAAAAAAxyz", ["12D3KooWAAAAAAAAxyw"]) == "12D3KooWAAAAAAAAxyz"
    assert resolve("ABCDEF001", ids, "offer") == "abcdef0011"  # case-insensitive
    with pytest.raises(UserError) as e:
        resolve("abcdef", ids, "offer")
    assert e.value.exit_code == 3 and "ambiguous" in e.value.message
    with pytest.raises(UserError) as e:
        resolve("0123", ids, "offer")
    assert e.value.exit_code == 3 and e.value.code == "not_found"
    assert "we offer list" in e.value.hint


def test_relative_times():
    now = 1_000_000_000_000
    assert rel_time(now, now) == "just now"
    assert rel_time(now - 90_000, now) == "1m ago"
    assert rel_time(now + 3 * 3600_000, now) == "in 3h"
    assert rel_time(now - 2 * 86400_000, now) == "2d ago"
    # nearest, not truncated: +1d read a moment later is still "in 1d"
    assert rel_time(now + 86400_000 - 1500, now) == "in 1d"
    assert rel_time(now + 3600_000 - 1500, now) == "in 1h"
    assert rel_time(now + 13 * 3600_000, now) == "in 13h"
    assert rel_time(None, now) == ""


def test_bars_are_exact():
    assert bar(1, 2, 10) == "█████·····"
    assert bar(0, 1, 4) == "····"
    assert bar(1, 1, 4) == "████"
    assert bar(1, 0, 4) == "····"


def test_dates_and_amounts():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    base = int(now.timestamp() * 1000)
    assert parse_when("now", now=now) == base
    assert parse_when("+2h", now=now) == base + 2 * 3600_000
    assert parse_when("+30s", now=now) == base + 30_000
    assert parse_when("2026-01-02", now=now) == base + 86400_000
    assert parse_when("2026-01-01T10:30", now=now) == base + (10 * 60 + 30) * 60_000
    for bad in ("tomorrow", "+2x", "2026-02-30", ""):
        with pytest.raises(BadValue) as e:
            parse_when(bad, now=now)
        assert (
            translate(e.value).exit_code == 2
            and "bad date" in e.value.message
            or "duration" in e.value.message
        )
    assert (
        parse_window("2026-01-01..2026-01-02")[1] - parse_window("2026-01-01..2026-01-02")[0]
        == 86400_000
    )
    with pytest.raises(BadValue):
        parse_window("2026-01-02..2026-01-01")
    assert parse_hours("1.5") == 90 and parse_hours("2") == 120 and parse_hours("45m") == 45
    assert parse_hours("0.25") == 15
    assert (
        parse_share("50%") == [1, 2] and parse_share("2/3") == [2, 3] and parse_share("0") == [0, 1]
    )
    with pytest.raises(BadValue):
        parse_share("3/2")


def test_hints_name_the_command_that_helps():
    """A rejected `we need withdraw` pointed at `we offer show ID`; a reply to an unknown
    comment at `we comment of this thread list`, which does not exist."""
    from cli.rpc_errors import rpc_error_to_user

    def hint(kind: str) -> str:
        err = {"message": "not_author", "data": {"reason": "not_author", "type": "Rejected"}}
        return rpc_error_to_user(err, "publish", {"kind": kind}).hint

    assert "`we need show ID`" in hint("need.update")
    assert "`we offer show ID`" in hint("offer.update")
    assert "`we proposal show ID`" in hint("proposal.edit")
    assert hint("contribution.correct") == "only its author can do this"  # no `show` for it
    with pytest.raises(UserError) as e:
        resolve("0000", ["abcd" * 16], "comment of this thread", "`we thread show`")
    assert e.value.hint == "list them with `we thread show`"
