"""Discussion as data: threads, comments, reactions and mentions.

Normative text: ``specs/records.md`` §12. The rules decided here, in the order the handlers
check them:

- ``thread.create {title, text, target?, mentions?}``: a member op. A ``target`` is an offer,
  need, project, reservation or proposal of the same community in the op's causal past; no
  target: a free-standing community thread.
- ``comment.create {thread, text, reply_to?, mentions?}``: a member op; the thread is in the
  op's causal past; ``reply_to`` is a comment of *that* thread in the op's causal past.
- ``comment.edit {comment, text}``: by the comment's author only, never after its retraction;
  every earlier text is kept with its time (history).
- ``comment.retract {comment}``: by the author only, once. The row stays (replies keep their
  parent) but its text and history leave the state.
- ``reaction.set {target, stance}``: a member op on a thread or comment in the op's causal
  past; one stance per (member, target), the member's latest op wins; ``null`` clears it.
- ``mentions``: distinct member keys, at most 16, each with a ``member.join`` (or the genesis)
  in the op's causal past. A mention reaches the member's inbox (:func:`mentions`).
- Text is plain text (``schema.plain_text``): no control or bidirectional characters; titles
  on one line. Titles hold at most 200 characters, texts 8,000.

Why every node ends with the same state whatever the order ops arrive in: a row is changed
either by one author's ops only (a comment's text by its author, a reaction row by its
member), which every node applies in that author's chain order, or by updates that commute
(a thread's count of live comments (+1 / -1), its latest activity (max), the stance counts
of a thread or comment (-1 for the member's old stance, +1 for the new)). No rule looks at
anything but the op's causal past (rows other members may change concurrently are only
counted, never judged).

The queries at the end read these rows (the control API serves them as views). A thread is
listed in its community's time line by the time it was started (the activity feed reads the
newest end), and by its latest activity in its community's list of threads and in the list of
threads about its target (``by_activity``): a page reads only its rows.
"""

from __future__ import annotations

from typing import Any

from ..op import Op
from ..state import Context, Filed, Rejected, State, group, ordered_by
from .common import (
    MEMBER,
    NEED,
    OFFER,
    PROJECT,
    RESERVATION,
    MemberRef,
    as_key,
    in_past,
    member_key,
    membership_periods,
    note_member,
    op_meta,
    ref_in_past,
    require_member,
    require_ref,
    timeline,
)
from .devices import member_of
from .schema import Field, check_body, key32, list_of, one_of, opt, plain_text

THREAD, COMMENT, REACTION = "thread", "comment", "reaction"
PROPOSAL = "gov.proposal"  # governance's table (read by name: records never import governance)
# table of a record a thread may discuss -> the kind the views call it
TARGETS = {
    OFFER: "offer",
    NEED: "need",
    PROJECT: "project",
    RESERVATION: "reservation",
    PROPOSAL: "proposal",
}
STANCES = ("agree", "disagree", "question")
MAX_TITLE, MAX_TEXT, MAX_MENTIONS = 200, 8000, 16

_MENTIONS = opt(list_of(key32, MAX_MENTIONS, unique=True))
THREAD_BODY = {
    "title": Field(plain_text(MAX_TITLE, min_len=1, multiline=False)),
    "text": Field(plain_text(MAX_TEXT)),
    "target": opt(key32),
    "mentions": _MENTIONS,
}
COMMENT_BODY = {
    "thread": Field(key32),
    "text": Field(plain_text(MAX_TEXT, min_len=1)),
    "reply_to": opt(key32),
    "mentions": _MENTIONS,
}
EDIT_BODY = {"comment": Field(key32), "text": Field(plain_text(MAX_TEXT, min_len=1))}
RETRACT_BODY = {"comment": Field(key32)}
_stance = one_of(*STANCES)
REACTION_BODY = {
    "target": Field(key32),
    "stance": Field(lambda x: None if x is None else _stance(x)),
}


def _no_reactions() -> dict:
    return dict.fromkeys(STANCES, 0)


def _short(ref: bytes) -> str:
    return ref.hex()[:16]


def _target_kind(op: Op, ctx: Context, ref: bytes) -> str:
    """The kind of the record ``ref`` a thread discusses (rejects anything else)."""
    ref_in_past(op, ctx, ref, "target")
    for table, kind in TARGETS.items():
        row = ctx.state.get(table, ref)
        if row is not None and row.get("c", row.get("community")) == op.community_id:
            return kind
    raise Rejected(
        "bad_target",
        f"{_short(ref)} is not an offer, need, project, reservation or proposal of this community",
    )


def _check_mentions(op: Op, ctx: Context, community: bytes, keys: list[bytes]) -> None:
    """Every mentioned key joined the community in the op's causal past (any period)."""
    x = op_meta(op, ctx) if keys else None
    for key in keys:
        row = ctx.state.get(MEMBER, member_key(community, key))
        periods = membership_periods(row) if row is not None else []
        if not any(in_past(ctx, ctx.causal.meta(p[1]), x) for p in periods):
            raise Rejected(
                "bad_mention",
                f"{_short(key)} is not a member of this community (as the op has seen it): "
                "mention members only",
            )


# ------------------------------------------------------------------------- handlers
def thread_create(op: Op, ctx: Context) -> None:
    body = check_body(op.kind, op.body, THREAD_BODY)
    m = require_member(op, ctx)
    target = body.get("target")
    kind = None if target is None else _target_kind(op, ctx, target)
    mentions = body.get("mentions", [])
    _check_mentions(op, ctx, m.community, mentions)
    note_member(ctx, m, op)
    ctx.state.put(
        THREAD,
        op.id,
        {
            "c": m.community,
            "id": op.id,
            "author": m.member,
            "by": op.author,
            "title": body["title"],
            "text": body["text"],
            "target": target,
            "target_kind": kind,
            "mentions": mentions,
            "ts": op.ts,
            "lamport": op.lamport,
            "comments": 0,  # live (not retracted) comments: +1 / -1, commutative
            "last_ts": op.ts,  # latest thread or comment ts: max, commutative
            "reactions": _no_reactions(),
        },
    )


def comment_create(op: Op, ctx: Context) -> None:
    body = check_body(op.kind, op.body, COMMENT_BODY)
    m = require_member(op, ctx)
    thread = require_ref(op, ctx, THREAD, body["thread"], "thread")
    reply_to = body.get("reply_to")
    if reply_to is not None:
        parent = require_ref(op, ctx, COMMENT, reply_to, "comment")
        if parent["thread"] != thread["id"]:
            raise Rejected("wrong_thread", "reply_to names a comment of another thread")
    mentions = body.get("mentions", [])
    _check_mentions(op, ctx, m.community, mentions)
    note_member(ctx, m, op)
    ctx.state.put(
        COMMENT,
        op.id,
        {
            "c": m.community,
            "id": op.id,
            "thread": thread["id"],
            "author": m.member,
            "by": op.author,  # the key that edits or retracts it (one chain orders them)
            "reply_to": reply_to,
            "text": body["text"],
            "text_ts": op.ts,  # when the current text was written
            "history": [],  # [text, ts]: earlier texts, oldest first
            "mentions": mentions,
            "ts": op.ts,
            "lamport": op.lamport,
            "retracted": None,  # the retracting op's id
            "reactions": _no_reactions(),
        },
    )
    ctx.state.put(
        THREAD,
        thread["id"],
        {**thread, "comments": thread["comments"] + 1, "last_ts": max(thread["last_ts"], op.ts)},
    )


def _own_comment(op: Op, ctx: Context) -> dict:
    row = require_ref(op, ctx, COMMENT, op.body["comment"], "comment")
    if row.get("by", row["author"]) != op.author:
        if row["author"] == member_of(ctx.state, op.community_id, op.author):
            raise Rejected("other_device", "change the comment from the device that wrote it")
        raise Rejected("not_author", "only the comment's author may change it")
    if row["retracted"] is not None:  # the author's own earlier op: in the chain, everywhere
        raise Rejected("retracted", "the comment was retracted")
    return row


def comment_edit(op: Op, ctx: Context) -> None:
    body = check_body(op.kind, op.body, EDIT_BODY)
    m = require_member(op, ctx)
    row = _own_comment(op, ctx)
    note_member(ctx, m, op)
    history = [*row["history"], [row["text"], row["text_ts"]]]
    ctx.state.put(
        COMMENT, row["id"], {**row, "text": body["text"], "text_ts": op.ts, "history": history}
    )


def comment_retract(op: Op, ctx: Context) -> None:
    check_body(op.kind, op.body, RETRACT_BODY)
    m = require_member(op, ctx)
    row = _own_comment(op, ctx)
    thread = ctx.state.get(THREAD, row["thread"])
    note_member(ctx, m, op)
    ctx.state.put(COMMENT, row["id"], {**row, "text": None, "history": [], "retracted": op.id})
    ctx.state.put(THREAD, thread["id"], {**thread, "comments": thread["comments"] - 1})


def reaction_set(op: Op, ctx: Context) -> None:
    body = check_body(op.kind, op.body, REACTION_BODY)
    m = require_member(op, ctx)
    ref = body["target"]
    ref_in_past(op, ctx, ref, "target")
    table = THREAD if ctx.state.get(THREAD, ref) is not None else COMMENT
    target = ctx.state.get(table, ref)
    if target is None or target["c"] != m.community:
        raise Rejected("bad_target", f"{_short(ref)} is not a thread or comment of this community")
    note_member(ctx, m, op)
    key = ref + m.member
    old = ctx.state.get(REACTION, key)
    order = [op.lamport, op.author, op.id]
    if old is not None and old.get("order", order) > order:
        return  # the member's later reaction (from another device) stays: it commutes
    counts = dict(target["reactions"])
    if old is not None and old["stance"] is not None:
        counts[old["stance"]] -= 1
    if body["stance"] is not None:
        counts[body["stance"]] += 1
    ctx.state.put(table, ref, {**target, "reactions": counts})
    ctx.state.put(
        REACTION,
        key,
        {
            "c": m.community,
            "target": ref,
            "member": m.member,
            "stance": body["stance"],
            "op": op.id,
            "seq": op.seq,
            "order": order,
        },
    )


HANDLERS = {
    "thread.create": thread_create,
    "comment.create": comment_create,
    "comment.edit": comment_edit,
    "comment.retract": comment_retract,
    "reaction.set": reaction_set,
}


# -------------------------------------------------------------------------- queries
def _thread_summary(row: dict) -> dict:
    return {
        "id": row["id"],
        "author": row["author"],
        "title": row["title"],
        "target": row["target"],
        "target_kind": row["target_kind"],
        "ts": row["ts"],
        "comments": row["comments"],
        "last_activity_ts": row["last_ts"],
        "reactions": dict(row["reactions"]),
    }


def threads(
    state: State,
    community: bytes,
    target: bytes | None = None,
    limit: int | None = None,
    offset: int = 0,
    newest: int | None = None,
) -> list[dict]:
    """The community's threads (only those about ``target`` when given), newest activity
    first (ties by id, highest first): ``{id, author, title, target, target_kind, ts, comments
    (live ones), last_activity_ts, reactions: {agree, disagree, question}}``;
    ``offset``/``limit`` page. ``newest``: instead, the ``newest`` threads started last
    (by ``ts``, ties by id, highest first: the activity feed's order)."""
    if newest is not None:
        line, count = timeline(community), max(0, newest)
    else:
        line = active(community) if target is None else about(community, target)
        count = None if limit is None else max(0, offset) + max(0, limit)
    out = []
    for row in state.rows_in(THREAD, line):  # the line's order: highest rank, then id, first
        if count is not None and len(out) >= count:
            break
        if row["c"] == community and (target is None or row["target"] == target):
            out.append(row)
    if newest is None:
        out = out[max(0, offset) :]
    return [_thread_summary(r) for r in out]


def active(community: bytes) -> bytes:
    """The group of a community's threads ranked by their latest activity."""
    return group(community, b"active")


def about(community: bytes, target: bytes) -> bytes:
    """The group of the threads about one record, ranked by their latest activity."""
    return group(community, b"about", target)


def by_activity(key: bytes, row: dict) -> Filed:
    """Where a thread is listed (see the module docstring); a comment moves it up its lists
    (a thread's ``last_ts`` only grows)."""
    c, last = row["c"], row["last_ts"]
    filed = [(timeline(c), row["ts"]), (active(c), last)]
    if row["target"] is not None:
        filed.append((about(c, row["target"]), last))
    return tuple(filed)


ordered_by(THREAD, by_activity)


def _stance_of(state: State, ref: bytes, member: bytes | None) -> str | None:
    if member is None:
        return None
    row = state.get(REACTION, ref + member)
    return None if row is None else row["stance"]


def _comment_view(state: State, row: dict, member: bytes | None) -> dict:
    view = {
        "id": row["id"],
        "thread": row["thread"],
        "author": row["author"],
        "text": row["text"],
        "reply_to": row["reply_to"],
        "ts": row["ts"],
        "edited": bool(row["history"]),
        "edited_ts": row["text_ts"] if row["history"] else None,
        "history": [{"text": t, "ts": ts} for t, ts in row["history"]],
        "retracted": row["retracted"] is not None,
        "mentions": row["mentions"],
        "reactions": dict(row["reactions"]),
    }
    if member is not None:
        view["mine"] = row["author"] == member
        view["my_stance"] = _stance_of(state, row["id"], member)
    return view


def thread(state: State, thread_id: bytes, member: MemberRef | None = None) -> dict | None:
    """One thread with its comments in causal order (lamport, author, id: a reply always
    after its parent). A retracted comment keeps its place with ``text: None``. With
    ``member``: ``mine`` and ``my_stance`` on the thread and each comment. None if unknown."""
    row = state.get(THREAD, thread_id)
    if row is None:
        return None
    who = None if member is None else as_key(member)
    comments = sorted(
        (c for c in state.rows(COMMENT) if c["thread"] == thread_id),
        key=lambda c: (c["lamport"], c["author"], c["id"]),
    )
    view = {
        **_thread_summary(row),
        "community": row["c"],
        "text": row["text"],
        "mentions": row["mentions"],
        "comments": [_comment_view(state, c, who) for c in comments],
        "comment_count": row["comments"],
    }
    if who is not None:
        view["mine"] = row["author"] == who
        view["my_stance"] = _stance_of(state, thread_id, who)
    return view


def mentions(
    state: State, causal: Any, community: bytes, member: MemberRef, pending: bool = False
) -> list[dict]:
    """Where ``member`` is mentioned (by someone else), newest first: ``{id, kind ("thread" |
    "comment"), thread, title, author, ts, text, answered}``; retracted comments are left
    out. ``answered``: the member has since commented in the thread, or reacted to the
    mentioning thread or comment, by an op that has the mention in its causal past.
    ``pending``: only the unanswered ones (what the inbox shows)."""
    who = as_key(member)
    found: list[tuple[dict, dict]] = []  # (mentioning row, its thread row)
    own_comments: dict[bytes, list[bytes]] = {}  # thread id -> the member's comment ids
    for c in state.rows(COMMENT):
        if c["c"] != community:
            continue
        if c["author"] == who:
            own_comments.setdefault(c["thread"], []).append(c["id"])
        elif who in c["mentions"] and c["retracted"] is None:
            found.append((c, state.get(THREAD, c["thread"])))
    for t in state.rows(THREAD):
        if t["c"] == community and t["author"] != who and who in t["mentions"]:
            found.append((t, t))

    def answered(row: dict, thread_id: bytes) -> bool:
        mention = causal.meta(row["id"])
        later = [*own_comments.get(thread_id, [])]
        reaction = state.get(REACTION, row["id"] + who)
        if reaction is not None:
            later.append(reaction["op"])
        return any(causal.in_past(mention, causal.meta(x)) for x in later)

    out = []
    for row, t in found:
        done = answered(row, t["id"])
        if pending and done:
            continue
        out.append(
            {
                "id": row["id"],
                "kind": "thread" if row is t else "comment",
                "thread": t["id"],
                "title": t["title"],
                "author": row["author"],
                "ts": row["ts"],
                "text": row["text"],
                "answered": done,
            }
        )
    out.sort(key=lambda v: (-v["ts"], v["id"]))
    return out
