"""What needs me and what happened lately: the lists both faces show (`we inbox`, `we activity`,
`we watch`, and the web app's home page).

Both are read from the same views as every other reader (no new rule lives here): the inbox
collects what waits for this member's action (mentions too: the ``mentions`` view, pending);
activity merges the times the records carry (listings, reservation steps, contributions,
proposals, threads, members joining) newest first. ``query(view, **args)`` is any reader of
those views: ``Node.query`` in process, or the CLI's backend (daemon or offline store).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from node.crdt.state import ranked

from .words import rel_time

Query = Callable[..., Any]


# What a node whose key counts nowhere in the community (``standing.py``) can still do.
_RETIRED = {
    "revoked": (
        "this node's key was revoked here: it can no longer act",
        "act from another device of yours (`we device list`), or `we recovery --help`",
    ),
    "replaced": (
        "a recovery claim made another key yours here: this one can no longer act",
        "act from the node that claimed your membership",
    ),
    "removed": ("you were removed from this community by a decision", "`we activity`"),
}


def needs_me(query: Query, cid: str, key: str, signer: str | None = None) -> list[dict]:
    """What waits for member ``key``'s action, each with the `we` command that does it.
    ``signer``: this node's own key (a device's, when it signs for ``key``); where it counts
    nowhere, the one thing listed is that, since no command here would count."""
    standing = query("key_standing", community=cid, member=signer) if signer else None
    if standing is not None:
        what, do = _RETIRED.get(standing["state"], ("this node's key counts nowhere here", ""))
        return [{"kind": "key_retired", "id": cid, "ts": None, "what": what, "who": key, "do": do}]
    items: list[dict] = []
    now = int(time.time() * 1000)
    for r in query("reservations", community=cid, member=key) or []:
        if r["owner"] == key and r["status"] == "requested":
            offer = query("listing", listing_id=r["offer"]) or {}
            items.append(
                {
                    "kind": "reservation_request",
                    "id": r["id"],
                    "ts": r["window"][0],
                    "what": f"reservation request for {offer.get('title') or r['offer'][:10]}",
                    "who": r["requester"],
                    "do": f"we reservation accept {r['id'][:10]}  (or decline)",
                }
            )
    info = query("community_info", community=cid) or {}
    charter_witnesses = (info.get("charter") or {}).get("witnesses") or []
    for p in query("proposals", community=cid) or []:
        if p.get("phase") == "upcoming":
            continue
        witnesses = p.get("witnesses") or charter_witnesses
        tally = None
        if p["phase"] == "open" or key in witnesses:
            tally = query("proposal_tally", proposal=p["id"]) or {}
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
    for c in query("attestations_asked", community=cid, member=key) or []:
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
    for m in query("mentions", community=cid, member=key, pending=True) or []:
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
    members = query("members", community=cid) or []
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


def activity(query: Query, cid: str, limit: int | None = None) -> list[dict]:
    """Events the records carry a time for, newest first: the ``limit`` newest (None: all).
    The newest ``limit`` events of all are among the newest ``limit`` of each kind of record,
    so each list is read from its newest end (the community's time lines), not whole."""
    ev: list[dict] = []
    newest = {} if limit is None else {"newest": limit}
    for fam in ("offer", "need"):
        for r in query(f"{fam}s", community=cid, status=None, limit=limit) or []:
            ev.append(
                {
                    "ts": r["ts"],
                    "id": r["id"],
                    "who": r["author"],
                    "what": f"{fam} {r['status']}: {r.get('title', '')}",
                }
            )
    for r in query("reservations", community=cid, **newest) or []:
        for s in r.get("steps", []):
            ev.append(
                {
                    "ts": s["ts"],
                    "id": s["op"],
                    "who": s["by"],
                    "what": f"reservation {s['status']} ({r['id'][:10]})",
                }
            )
    for c in query("contributions", community=cid, **newest) or []:
        ev.append(
            {
                "ts": c["fields"].get("at"),
                "id": c["id"],
                "who": c["contributor"],
                "what": f"contribution: {c['fields'].get('note') or ''}",
            }
        )
    for p in query("proposals", community=cid) or []:
        ev.append(
            {
                "ts": p.get("created_ts"),
                "id": p["id"],
                "who": p.get("author"),
                "what": f"proposal ({p.get('phase')}): {p.get('title', '')}",
            }
        )
    for t in query("threads", community=cid, **newest) or []:
        ev.append(
            {
                "ts": t["ts"],
                "id": t["id"],
                "who": t["author"],
                "what": f"thread: {t['title']}",
            }
        )
    for m in query("members", community=cid) or []:
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
    # as the time lines: ties by id, times as they rank them (a claim past 2^63 - 1 ms ties
    # at 2^63 - 1: no honest clock makes one)
    ev.sort(key=lambda e: (ranked(e["ts"]), e["id"]), reverse=True)
    return ev if limit is None else ev[:limit]
