"""Discussion: threads about a record (or the community), comments and replies.

The rules live in ``node/crdt/records/discussion.py`` (specs/records.md §12); this module only
shapes the ops and shows the views ``threads`` and ``thread``.
"""

from __future__ import annotations

import click

from ..context import command, group
from ..output import Shortener, emit, emit_table, more_line, rel_time
from ._common import (
    community_option,
    in_community,
    me,
    member_key,
    member_label,
    names,
    oid,
    page_args,
    page_options,
    paginate,
    pick_member,
    pick_record,
)

thread = group(
    "thread",
    help="Discussion threads: on an offer, need, project, reservation or "
    "proposal, or about the community.",
)

# views that list the records a thread may be about (their ids are what --on resolves)
TARGET_VIEWS = (
    ("offers", {"status": "any"}),
    ("needs", {"status": "any"}),
    ("projects", {}),
    ("reservations", {}),
    ("proposals", {}),
)


def _target_id(b, cid: str, prefix: str) -> str:
    from ..output import resolve

    ids: list[str] = []
    for view, args in TARGET_VIEWS:
        ids.extend(r["id"] for r in b.query(view, community=cid, **args) or [])
    return resolve(prefix, ids, "offer, need, project, reservation or proposal")


def _mentions(b, cid: str, who: tuple[str, ...]) -> list[bytes]:
    return [member_key(pick_member(b, m, cid)) for m in who]


def _pick_thread(b, cid: str, prefix: str) -> dict:
    return pick_record(b, "threads", "thread", prefix, community=cid)


mention_option = click.option(
    "--mention",
    "mentioned",
    multiple=True,
    help="A member to notify (name, member id or prefix; repeatable, at most 16).",
)


@thread.command("new")
@click.argument("title")
@click.option("--text", default="", help="What the thread is about (may span lines).")
@click.option(
    "--on",
    "on",
    metavar="ID",
    help="The offer, need, project, reservation or "
    "proposal it discusses (an id prefix); none: a community thread.",
)
@mention_option
@community_option
def thread_new(title, text, on, mentioned, community) -> None:
    """Open a discussion thread."""
    o, b, cid = in_community(community)
    body: dict = {"title": title, "text": text}
    deps = []
    if on:
        target = _target_id(b, cid, on)
        body["target"] = oid(target)
        deps.append(target)
    if mentioned:
        body["mentions"] = _mentions(b, cid, mentioned)
    op = b.publish(cid, "thread.create", body, deps=deps)
    tid = op["op_id"]
    emit(
        o,
        {"id": tid, "title": title, "target": deps[0] if deps else None},
        lambda c, d: c.print(f"Opened thread {tid[:12]}: {d['title']}"),
    )


@thread.command("list")
@click.option("--on", "on", metavar="ID", help="Only threads about this record (id prefix).")
@community_option
@page_options
def thread_list(on, community, limit, page) -> None:
    """Threads of the community, newest activity first."""
    o, b, cid = in_community(community)
    args = {"target": _target_id(b, cid, on)} if on else {}
    rows, more = paginate(
        list(b.query("threads", community=cid, **args, **page_args(limit, page)) or []),
        limit,
        page,
        sliced=True,
    )
    short = Shortener(r["id"] for r in rows)
    who = names(b, cid) if rows and not o.json else {}
    emit_table(
        o,
        rows,
        ["id", "title", "about", "by", "comments", "stances", "active"],
        lambda r: [
            short(r["id"]),
            r["title"],
            f"{r['target_kind']} {r['target'][:10]}" if r["target"] else "community",
            member_label(who, r["author"]),
            r["comments"],
            _stances(r["reactions"]),
            rel_time(r["last_activity_ts"]),
        ],
        more=more_line(more, limit, page),
    )


def _stances(counts: dict) -> str:
    return " ".join(f"{k} {v}" for k, v in counts.items() if v) or "-"


@thread.command("show")
@click.argument("id")
@community_option
def thread_show(id, community) -> None:
    """One thread with its comments (replies indented under their parent)."""
    o, b, cid = in_community(community)
    tid = _pick_thread(b, cid, id)["id"]
    data = b.query("thread", thread_id=tid, member=me(b)["public_key"])
    who = names(b, cid)

    def render(c, d):
        def name(key: str) -> str:
            return member_label(who, key)

        c.print(f"[bold]{d['title']}[/bold]  by {name(d['author'])}, {rel_time(d['ts'])}")
        if d["target"]:
            c.print(f"about {d['target_kind']} {d['target'][:12]}")
        for line in d["text"].split("\\n") if d["text"] else []:
            c.print(f"  {line}")
        c.print(f"stances: {_stances(d['reactions'])}")
        depth: dict[str, int] = {}
        for x in d["comments"]:
            level = depth[x["id"]] = depth.get(x["reply_to"], -1) + 1 if x["reply_to"] else 0
            pad = "  " * level
            edited = " (edited)" if x["edited"] else ""
            c.print(f"{pad}[bold]{name(x['author'])}[/bold] {rel_time(x['ts'])}{edited}")
            text = "[retracted]" if x["retracted"] else x["text"]
            for line in text.split("\\n"):
                c.print(f"{pad}  {line}")
            if any(x["reactions"].values()):
                c.print(f"{pad}  stances: {_stances(x['reactions'])}")

    emit(o, data, render)


@command("comment")
@click.argument("thread_id", metavar="THREAD")
@click.argument("text")
@click.option("--reply-to", metavar="ID", help="The comment this one answers (id prefix).")
@mention_option
@community_option
def comment(thread_id, text, reply_to, mentioned, community) -> None:
    """Comment on a thread (or reply to one of its comments)."""
    o, b, cid = in_community(community)
    tid = _pick_thread(b, cid, thread_id)["id"]
    body: dict = {"thread": oid(tid), "text": text}
    deps = [tid]
    if reply_to:
        from ..output import resolve

        comments = (b.query("thread", thread_id=tid) or {}).get("comments", [])
        parent = resolve(
            reply_to, [x["id"] for x in comments], "comment of this thread", "`we thread show`"
        )
        body["reply_to"] = oid(parent)
        deps.append(parent)
    if mentioned:
        body["mentions"] = _mentions(b, cid, mentioned)
    op = b.publish(cid, "comment.create", body, deps=deps)
    emit(
        o,
        {"id": op["op_id"], "thread": tid, "reply_to": deps[1] if reply_to else None},
        lambda c, d: c.print(f"Commented on thread {tid[:12]} ({d['id'][:12]})"),
    )
