"""What needs me (`we inbox`) and what happened lately (`we activity`, `we watch`).

The lists themselves live in ``node.service.inbox`` (the web app's home page shows the same);
this module prints them.
"""

from __future__ import annotations

import time

import click

from node.crdt.text import counted
from node.service.inbox import activity as activity_events
from node.service.inbox import needs_me

from ..context import command
from ..output import Shortener, emit_table, rel_time
from ._common import (
    community_option,
    in_community,
    me,
    member_label,
    names,
    page_args,
    page_options,
)


@command("inbox")
@community_option
def inbox(community) -> None:
    """What waits for you: reservation requests to answer, open votes without your ballot,
    contributions to attest, seals due as a witness, newcomers asking to join, mentions in
    discussions you have not answered."""
    o, b, cid = in_community(community)
    mine = me(b)
    signer = (mine.get("device") or mine)["public_key"]  # this node's own key
    rows = needs_me(b.query, cid, mine["public_key"], signer)
    who = names(b, cid) if rows and not o.json else {}
    from ._common import mid

    for r in rows:
        if r["kind"] == "vouch":
            r["do"] = f"we member vouch {mid(r['id'])}  (if you know them)"
    emit_table(
        o,
        rows,
        ["what", "from", "when", "do"],
        lambda r: [r["what"], member_label(who, r["who"]), rel_time(r["ts"]), r["do"]],
        title=lambda n: f"{counted(n, 'thing')} {'waits' if n == 1 else 'wait'} for you",
    )


@command("activity")
@community_option
@page_options
def activity(community, limit, page) -> None:
    """What happened lately in the community, newest first."""
    o, b, cid = in_community(community)
    args = page_args(limit, page)
    rows = activity_events(b.query, cid, args["offset"] + limit if args else None)
    if args:
        rows = rows[args["offset"] :]
    who = names(b, cid) if rows and not o.json else {}
    short = Shortener(r["id"] for r in rows)
    emit_table(
        o,
        rows,
        ["when", "who", "what", "id"],
        lambda r: [
            rel_time(r["ts"]),
            member_label(who, r["who"]),
            r["what"],
            short(r["id"]),
        ],
    )


# Offline, each look reads the newest events only: an event older than these when its op
# arrives is not shown (a running daemon pushes every op as it is applied).
WATCHED = 500


@command("watch")
@community_option
@click.option("--interval", default=2.0, show_default=True, help="Offline: seconds between looks.")
@click.option("--count", type=click.IntRange(1), help="Offline: stop after this many looks.")
@click.option("--max-events", type=click.IntRange(1), help="Stop after this many events.")
def watch(community, interval, count, max_events) -> None:
    """Show activity as it happens, one line per event (Ctrl-C stops). With a running daemon
    the events are pushed as they happen; offline, the store is looked at every --interval."""
    o, b, cid = in_community(community)
    if b.kind == "daemon":
        _watch_live(o, b, cid, max_events)
        return
    seen = {(e["id"], e["what"]) for e in activity_events(b.query, cid, WATCHED)}
    who = names(b, cid)
    looks = said = 0
    while (count is None or looks < count) and (max_events is None or said < max_events):
        # Offline the store is open only while we look: between looks its lock is free, so
        # a daemon can start and other commands can write (`we status` would wait for it).
        o.close()
        looks += 1
        time.sleep(interval)
        b = o.backend()
        fresh = [
            e for e in activity_events(b.query, cid, WATCHED) if (e["id"], e["what"]) not in seen
        ]
        for e in reversed(fresh[: None if max_events is None else max_events - said]):
            seen.add((e["id"], e["what"]))
            if e["who"] not in who:
                who = names(b, cid)
            _say(o, e, who)
            said += 1
        if b.kind == "daemon":  # a daemon started meanwhile: it pushes the rest
            if max_events is None or said < max_events:
                _watch_live(o, b, cid, None if max_events is None else max_events - said)
            return


def _watch_live(o, b, cid: str, max_events: int | None) -> None:
    """The daemon pushes each op of the community as it is applied (control ``subscribe``)."""
    from ..backend import Dropped, subscribe
    from ..errors import UserError

    who = names(b, cid)
    unnamed: set[str] = set()  # authors looked up once without a name (strangers)
    said = 0
    events = subscribe(o.data_dir, {"community": cid, "events": ["op", "fork"]})
    try:
        for ev in events:
            if ev is None:
                continue
            if ev["event"] == "op" and ev.get("status") not in ("applied", None):
                continue  # what the community's rules refused is not activity
            what = ev["op_kind"] + (": " + ev["summary"] if ev.get("summary") else "")
            if ev["event"] == "fork":
                what = f"fork proof: its author signed two ops at one place ({what})"
            row = {"ts": ev.get("ts"), "id": ev["op_id"], "who": ev.get("author"), "what": what}
            if row["who"] not in who and row["who"] not in unnamed:
                who = names(b, cid)
                unnamed.add(row["who"])
            _say(o, row, who)
            said += 1
            if max_events is not None and said >= max_events:
                return
    except Dropped as exc:
        raise UserError(str(exc), hint="run `we watch` again", code="dropped") from None
    finally:
        events.close()


def _say(o, e: dict, who: dict) -> None:
    """One line per event, flushed at once: a JSON object a line with --json."""
    import json
    import sys

    from ..output import console, safe_markup, to_jsonable

    if o.json:
        sys.stdout.write(json.dumps(to_jsonable(e), ensure_ascii=True) + "\n")
        sys.stdout.flush()
        return
    name = member_label(who, e["who"])
    console().print(f"{rel_time(e['ts'])}  {name}  {safe_markup(e['what'])}")
    sys.stdout.flush()
