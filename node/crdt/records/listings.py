"""Offers and needs (ValueFlows Proposal + Intent): create, update, status.

Both families share one schema and one set of rules; only the table differs. Only the author
edits them, and an author's chain is linear, so edits never conflict: the replica applies
them in chain order on every node. Status moves forward only:

    active <-> paused -> fulfilled | withdrawn          (expired is derived from time)

A final status cannot be left, so "final status wins on merge" holds by construction.
Expiry is required and at most one year after the ``ts`` of the op that sets it; whether a
listing has expired is decided at query time from ``now``, never by an op.
"""

from __future__ import annotations

from ..op import Op
from ..state import Context, Filed, Rejected, State, group, ordered_by
from .common import NEED, OFFER, YEAR_MS, in_past, note_member, require_member, require_ref
from .devices import member_of
from .schema import (
    Field,
    boolean,
    category,
    check_body,
    geohash,
    integer,
    key32,
    list_of,
    one_of,
    opt,
    quantity,
    record,
    text,
    window,
)

ACTIONS = ("lend", "give", "share-use", "service", "work")
STATUSES = ("active", "paused", "fulfilled", "withdrawn")
FINAL = frozenset({"fulfilled", "withdrawn"})
ALLOWED = {
    "active": frozenset({"paused", "fulfilled", "withdrawn"}),
    "paused": frozenset({"active", "fulfilled", "withdrawn"}),
}

FIELDS = {
    "title": Field(text(200, min_len=1)),
    "description": opt(text(4000, lines=True)),
    "category": Field(category),
    "tags": opt(list_of(text(40, min_len=1), 16, unique=True)),
    "action": Field(one_of(*ACTIONS)),
    "quantity": opt(quantity),  # {"amount": int >= 1, "unit": text}; default 1 "item"
    "windows": opt(list_of(window, 16)),  # availability; empty or absent: any time
    "geohash": opt(geohash(12)),
    "radius_m": opt(integer(0, 20_000_000)),
    "remote": opt(boolean),
    "expires": Field(integer(0)),  # ms; required, <= ts + 1 year
    "audience": opt(one_of("public", "members")),
}
DEFAULTS = {
    "description": "",
    "tags": [],
    "quantity": {"amount": 1, "unit": "item"},
    "windows": [],
    "radius_m": 0,
    "remote": False,
    "audience": "public",
}
UPDATE = {
    "id": Field(key32),
    "set": Field(record({name: opt(f.check) for name, f in FIELDS.items()})),
}
STATUS = {
    "id": Field(key32),
    "status": Field(one_of(*STATUSES)),
    "note": opt(text(1000, lines=True)),
}


def _check_expiry(op: Op, expires: int) -> None:
    if not op.ts < expires <= op.ts + YEAR_MS:
        raise Rejected("bad_expiry", "expires must be after ts and at most one year after it")


def _quantity_entry(op: Op, fields: dict) -> list:
    """``[seq, op id, amount]``: the listing's amount from this op of its author's chain on.
    The history lets a reservation request be judged against the amount in its own causal
    past even when the author changed it concurrently."""
    return [op.seq, op.id, fields["quantity"]["amount"]]


def amount_in_past(row: dict, ctx: Context, x) -> int:
    """The listing's quantity amount as seen by op ``x`` (the listing is in x's past)."""
    for _seq, op_id, amount in reversed(row.get("quantities", [])):
        if in_past(ctx, ctx.causal.meta(op_id), x):
            return amount
    return row["fields"]["quantity"]["amount"]  # a row written before the history existed


def status_in_past(row: dict, ctx: Context, x) -> str:
    """The listing's status as seen by op ``x`` (the listing is in x's past): the latest of
    its author's status changes in x's past, else "active" (its creation)."""
    for op_id, status in reversed(row.get("statuses", [])):
        if in_past(ctx, ctx.causal.meta(op_id), x):
            return status
    return "active"


def _create(table: str):
    def handler(op: Op, ctx: Context) -> None:
        body = check_body(op.kind, op.body, FIELDS)
        m = require_member(op, ctx)
        _check_expiry(op, body["expires"])
        note_member(ctx, m, op)
        ctx.state.put(
            table,
            op.id,
            {
                "c": m.community,
                "id": op.id,
                "family": table,
                "author": m.member,
                "by": op.author,  # the key that edits it (devices.py)
                "ts": op.ts,
                "lamport": op.lamport,
                "fields": {**DEFAULTS, **body},
                "status": "active",
                "updated_ts": op.ts,
                "quantities": [_quantity_entry(op, {**DEFAULTS, **body})],
            },
        )

    handler.__doc__ = f"{table}.create: a new {table} by a member; status starts active."
    return handler


def _own(op: Op, ctx: Context, table: str) -> dict:
    row = require_ref(op, ctx, table, op.body["id"], table)
    if row.get("by", row["author"]) != op.author:
        if row["author"] == member_of(ctx.state, op.community_id, op.author):
            raise Rejected("other_device", f"change this {table} from the device that made it")
        raise Rejected("not_author", f"only the author may change this {table}")
    if row["status"] in FINAL:
        raise Rejected("status_final", f"the {table} is {row['status']}")
    return row


def _update(table: str):
    def handler(op: Op, ctx: Context) -> None:
        body = check_body(op.kind, op.body, UPDATE)
        m = require_member(op, ctx)
        row = _own(op, ctx, table)
        changes = body["set"]
        if not changes:
            raise Rejected("bad_body", f"{op.kind}: 'set' is empty")
        if "expires" in changes:
            _check_expiry(op, changes["expires"])
        note_member(ctx, m, op)
        fields = {**row["fields"], **changes}
        new = {**row, "fields": fields, "updated_ts": op.ts}
        if "quantity" in changes:
            new["quantities"] = [*row.get("quantities", []), _quantity_entry(op, fields)]
        ctx.state.put(table, row["id"], new)

    handler.__doc__ = f"{table}.update: its key changes some fields (chain order wins)."
    return handler


def _status(table: str):
    def handler(op: Op, ctx: Context) -> None:
        body = check_body(op.kind, op.body, STATUS)
        m = require_member(op, ctx)
        row = _own(op, ctx, table)
        if body["status"] not in ALLOWED[row["status"]]:
            raise Rejected("bad_transition", f"{row['status']} -> {body['status']}")
        note_member(ctx, m, op)
        # The history lets a request by someone else be judged by the status in its own
        # causal past (a withdraw it has seen), whatever arrives concurrently.
        statuses = [*row.get("statuses", []), [op.id, body["status"]]]
        ctx.state.put(
            table,
            row["id"],
            {**row, "status": body["status"], "updated_ts": op.ts, "statuses": statuses},
        )

    handler.__doc__ = f"{table}.status: the author moves the status forward."
    return handler


def where_listed(key: bytes, row: dict) -> Filed:
    """A listing's place in its community's list and in its author's (``--mine``): newest
    first (then by id, highest first; the rank grows with time, so new entries of a store's
    index land at its end). While its status is ``active``, also in its category's list of
    open listings, latest expiry first: matching reads a category's candidates there and
    stops at the first expired one, so it reads the live listings, not every listing ever
    made in the category (a status change or an expiry moved by an update re-files it)."""
    c, ts = row["c"], row["ts"]
    filed = [(group(c), ts), (group(c, row["author"]), ts)]
    if row["status"] == "active":
        filed.append((category_group(c, row["fields"]["category"]), row["fields"]["expires"]))
    return tuple(filed)


def category_group(community: bytes, category: str) -> bytes:
    """The group of a community's active listings in one category (not below it). Unlike
    other groups it says what it is, so that the categories in use can be listed
    (``State.groups``): 8 bytes of the community id, "/", the category."""
    return community[:8] + b"/" + category.encode()


def open_in(state: State, table: str, community: bytes, category: str, now_ms: int):
    """The listings of ``table`` in ``category`` (not below it) that are active at
    ``now_ms``, latest expiry first (``where_listed``): reads up to the first expired one."""
    for row in state.rows_in(table, category_group(community, category)):
        if now_ms >= row["fields"]["expires"]:
            return  # expired, and every later one expires no later
        if row["c"] == community and row["status"] == "active":
            yield row


HANDLERS = {}
for _table in (OFFER, NEED):
    ordered_by(_table, where_listed)
    HANDLERS[f"{_table}.create"] = _create(_table)
    HANDLERS[f"{_table}.update"] = _update(_table)
    HANDLERS[f"{_table}.status"] = _status(_table)


def effective_status(row: dict, now_ms: int) -> str:
    """ "expired" is derived from time: no op is ever needed for it."""
    if row["status"] in ("active", "paused") and now_ms >= row["fields"]["expires"]:
        return "expired"
    return row["status"]
