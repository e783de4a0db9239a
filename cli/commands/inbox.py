"""What needs me (`we inbox`) and what happened lately (`we activity`, `we watch`).

Both are read from the same views as every other command (no new rule lives here): the inbox
collects what waits for this member's action (mentions too: the ``mentions`` view, pending);
activity merges the times the records carry (listings, reservation steps, contributions,
proposals, threads, members joining) newest first.
"""

from __future__ import annotations

import time

import click

from ..context import command
from ..output import Shortener, emit_table, now_ms, rel_time
from ._common import community_option, in_community, me, names, page_args, page_options


def _inbox(b, cid: str, key: str) -> list[dict]:
    items: list[dict] = []
    now = now_ms()
    for r in b.query("reservations", community=cid, member=key) or []:
        if r["owner"] == key and r["status"] == "requested":
            items.append(
                {
                    "kind": "reservation_request",
                    "id": r["id"],
                    "ts": r["window"][0],
                    "what": f"reservation request for {r['offer'][:10]}",
                    "who": r["requester"],
                    "do": f"we reservation accept {r['id'][:10]}  (or decline)",
                }
            )
    info = b.query("community_info", community=cid) or {}
    charter_witnesses = (info.get("charter") or {}).get("witnesses") or []
    for p in b.query("proposals", community=cid) or []:
        if p.get("phase") == "upcoming":
            continue
        witnesses = p.get("witnesses") or charter_witnesses
        tally = None
        if p["phase"] == "open" or key in witnesses:
            tally = b.query("proposal_tally", proposal=p["id"]) or {}
        if p["phase"] == "open" and key not in (tally or {}).get("counted", {}):
            items.append(
                {
                    "kind": "vote",
                    "id": p["id"],
                    "ts": p.get("closes"),
                    "what": f"vote: {p.get('title', '')}",
                    "who": p.get("author"),
                    "do": f"we vote {p['id'][:10]} ...  (closes {rel_time(p.get('closes'), now)})",
                }
            )
        if p["phase"] == "closed" and key in witnesses and tally is not None:
            if key not in (tally.get("seals") or []) and tally.get("status") != "final":
                items.append(
                    {
                        "kind": "seal",
                        "id": p["id"],
                        "ts": p.get("closes"),
                        "what": f"seal as a witness: {p.get('title', '')}",
                        "who": p.get("author"),
                        "do": f"we seal {p['id'][:10]}",
                    }
                )
    for c in b.query("attestations_asked", community=cid, member=key) or []:
        items.append(
            {
                "kind": "attestation",
                "id": c["id"],
                "ts": c["fields"].get("at"),
                "what": f"attest ({c['why']}): {c['fields'].get('note') or 'a contribution'}",
                "who": c["contributor"],
                "do": f"we attest {c['id'][:10]}  (or --dispute)",
            }
        )
    for m in b.query("mentions", community=cid, member=key, pending=True) or []:
        items.append(
            {
                "kind": "mention",
                "id": m["id"],
                "ts": m["ts"],
                "what": f"mentioned you in: {m['title']}",
                "who": m["author"],
                "do": f"we thread show {m['thread'][:10]}  (then comment or react)",
            }
        )
    members = b.query("members", community=cid) or []
    if any(m["member"] == key and m["status"] == "member" for m in members):
        for m in members:
            if m["status"] == "candidate" and key not in m.get("vouched_by", []):
                items.append(
                    {
                        "kind": "vouch",
                        "id": m["member"],
                        "ts": m.get("joined_ts"),
                        "what": "asks to join",
                        "who": m["member"],
                        "do": "we member vouch ID  (if you know them)",
                    }
                )
    return items


@command("inbox")
@community_option
def inbox(community) -> None:
    """What waits for you: reservation requests to answer, open votes without your ballot,
    contributions to attest, seals due as a witness, newcomers asking to join, mentions in
    discussions you have not answered."""
    o, b, cid = in_community(community)
    key = me(b)["public_key"]
    rows = _inbox(b, cid, key)
    who = names(b, cid) if rows and not o.json else {}
    from ._common import mid

    for r in rows:
        if r["kind"] == "vouch":
            r["do"] = f"we member vouch {mid(r['id'])}  (if you know them)"
    emit_table(
        o,
        rows,
        ["what", "from", "when", "do"],
        lambda r: [r["what"], who.get(r["who"], (r["who"] or "")[:8]), rel_time(r["ts"]), r["do"]],
        title="{n} thing(s) wait for you",
    )


def _activity(b, cid: str) -> list[dict]:
    """Events the records carry a time for, newest first."""
    ev: list[dict] = []
    for fam in ("offer", "need"):
        for r in b.query(f"{fam}s", community=cid, status=None, limit=200) or []:
            ev.append(
                {
                    "ts": r["ts"],
                    "id": r["id"],
                    "who": r["author"],
                    "what": f"{fam} {r['status']}: {r.get('title', '')}",
                }
            )
    for r in b.query("reservations", community=cid) or []:
        for s in r.get("steps", []):
            ev.append(
                {
                    "ts": s["ts"],
                    "id": s["op"],
                    "who": s["by"],
                    "what": f"reservation {s['status']} ({r['id'][:10]})",
                }
            )
    for c in b.query("contributions", community=cid) or []:
        ev.append(
            {
                "ts": c["fields"].get("at"),
                "id": c["id"],
                "who": c["contributor"],
                "what": f"contribution: {c['fields'].get('note') or ''}",
            }
        )
    for p in b.query("proposals", community=cid) or []:
        ev.append(
            {
                "ts": p.get("created_ts"),
                "id": p["id"],
                "who": p.get("author"),
                "what": f"proposal ({p.get('phase')}): {p.get('title', '')}",
            }
        )
    for t in b.query("threads", community=cid, limit=200) or []:
        ev.append(
            {
                "ts": t["ts"],
                "id": t["id"],
                "who": t["author"],
                "what": f"thread: {t['title']}",
            }
        )
    for m in b.query("members", community=cid) or []:
        if m.get("joined_ts"):
            ev.append(
                {
                    "ts": m["joined_ts"],
                    "id": m["member"],
                    "who": m["member"],
                    "what": f"member {m['status']}",
                }
            )
    ev = [e for e in ev if e["ts"] is not None]
    ev.sort(key=lambda e: (-e["ts"], e["id"]))
    return ev


@command("activity")
@community_option
@page_options
def activity(community, limit, page) -> None:
    """What happened lately in the community, newest first."""
    o, b, cid = in_community(community)
    rows = _activity(b, cid)
    args = page_args(limit, page)
    if args:
        rows = rows[args["offset"] : args["offset"] + limit]
    who = names(b, cid) if rows and not o.json else {}
    short = Shortener(r["id"] for r in rows)
    emit_table(
        o,
        rows,
        ["when", "who", "what", "id"],
        lambda r: [
            rel_time(r["ts"]),
            who.get(r["who"], (r["who"] or "")[:8]),
            r["what"],
            short(r["id"]),
        ],
    )


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
    seen = {(e["id"], e["what"]) for e in _activity(b, cid)}
    who = names(b, cid)
    looks = said = 0
    while (count is None or looks < count) and (max_events is None or said < max_events):
        looks += 1
        time.sleep(interval)
        o.close()  # offline: let a daemon or a writer in between looks
        b = o.backend()
        fresh = [e for e in _activity(b, cid) if (e["id"], e["what"]) not in seen]
        for e in reversed(fresh[: None if max_events is None else max_events - said]):
            seen.add((e["id"], e["what"]))
            if e["who"] not in who:
                who = names(b, cid)
            _say(o, e, who)
            said += 1
        if b.kind == "daemon":  # a daemon started meanwhile: go live
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
    name = who.get(e["who"], (e["who"] or "")[:8])
    console().print(f"{rel_time(e['ts'])}  {name}  {safe_markup(e['what'])}")
    sys.stdout.flush()
