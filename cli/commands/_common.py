"""Helpers the command modules share: picking the community, expanding id prefixes, naming
members (by member id or display name), and showing member keys as member ids."""

from __future__ import annotations

import os
from typing import Any

import click

from node.service.words import member_label  # one rule for both faces; commands import it here

from ..context import obj
from ..errors import UserError, bad_value, not_found
from ..output import PEER_MIN, resolve

COMMUNITY_ENV = "WE_COMMUNITY"


def community_option(f):
    return click.option(
        "-c",
        "--community",
        "community",
        metavar="ID",
        help=f"Community name, id or unique id prefix (default: ${COMMUNITY_ENV}, or your "
        "only community).",
    )(f)


DEFAULT_LIMIT = 100  # rows a list shows unless told otherwise: a page, not 100,000 records


def page_options(f):
    """--limit and --page for a list command (the function gets ``limit`` and ``page``)."""
    f = click.option(
        "--page", type=click.IntRange(1), default=1, show_default=True, help="Page of --limit rows."
    )(f)
    f = click.option(
        "--limit",
        type=click.IntRange(0),
        default=DEFAULT_LIMIT,
        show_default=True,
        help="At most this many rows (0: all of them).",
    )(f)
    return f


def page_args(limit: int, page: int) -> dict[str, int]:
    """The view arguments for one page, asking for one row more to learn whether there is
    a next page (no second pass to count)."""
    _no_page_of_all(limit, page)
    if not limit:
        return {}
    return {"limit": limit + 1, "offset": (page - 1) * limit}


def paginate(rows: list, limit: int, page: int, *, sliced: bool = False) -> tuple[list, bool]:
    """(the rows of the page, whether more follow). ``sliced``: the view already applied
    :func:`page_args`; else the whole list is cut here."""
    _no_page_of_all(limit, page)
    if not limit:
        return rows, False
    if not sliced:
        rows = rows[(page - 1) * limit :]
    return rows[:limit], len(rows) > limit


def _no_page_of_all(limit: int, page: int) -> None:
    """--limit 0 lists every row on one page: a later --page would be ignored, not shown."""
    if not limit and page > 1:
        raise bad_value(
            f"--page {page} with --limit 0: all rows are on one page",
            f"give --limit N to see pages of N rows, e.g. --limit 20 --page {page}",
        )


def pick_community(b, prefix: str | None) -> str:
    """The full id of the community meant by ``prefix`` (or the only one there is)."""
    prefix = prefix or os.environ.get(COMMUNITY_ENV)
    rows = b.call("communities") or []
    ids = [c["id"] for c in rows]
    if prefix:
        # An id, or the start of one, names that community whatever names say: a founder may
        # name a community after another's id. Other text is a name (`we community list`
        # shows them), in any case.
        text = prefix.strip().lower()
        if any(i.startswith(text) for i in ids):
            return resolve(text, ids, "community")
        named = [c["id"] for c in rows if (c.get("name") or "").casefold() == prefix.casefold()]
        if len(named) > 1:
            raise UserError(
                f"{len(named)} communities are named {prefix!r}",
                hint="give the start of its id instead: " + ", ".join(i[:12] for i in named),
                code="ambiguous",
                exit_code=3,
            )
        if named:
            return named[0]
        return resolve(prefix, ids, "community")
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise UserError(
            "this node is in no community yet",
            hint="create one with `we community create NAME` or join with `we community join LINE`",
            code="no_community",
            exit_code=3,
        )
    raise UserError(
        f"this node is in {len(ids)} communities; say which one",
        hint=f"pass --community ID (or set {COMMUNITY_ENV}); `we community list` shows them",
        code="ambiguous",
        exit_code=2,
    )


def in_community(community: str | None):
    """What most commands start with: the output state, the backend and the full id of the
    community meant by ``community``."""
    o = obj()
    b = o.backend()
    return o, b, pick_community(b, community)


def pick_record(b, view: str, what: str, prefix: str, **args: Any) -> dict[str, Any]:
    """Find the one record of ``view`` whose id starts with ``prefix``."""
    rows = list(b.query(view, **args) or [])
    full = resolve(prefix, [r["id"] for r in rows], what)
    return next(r for r in rows if r["id"] == full)


def mid(key_hex: str | None) -> str:
    """A member key (hex) as a member id (12D3KooW...)."""
    if not key_hex:
        return ""
    from node.identity import member_id

    return member_id(bytes.fromhex(key_hex))


def member_rows(b, community: str) -> list[dict[str, Any]]:
    rows = list(b.query("members", community=community) or [])
    for r in rows:
        r["member_id"] = mid(r["member"])
        r["name"] = (r.get("profile") or {}).get("display_name") or ""
    return rows


def pick_member(b, text: str, community: str) -> str:
    """The member id meant by ``text``: a member id or its first 14+ characters, else a display
    name. Text shaped like a member id (``12D3KooW...``) is read as an id only, never as a name:
    any member may choose their name, so a name must never stand in for another's id."""
    from node.identity import looks_like_member_id

    rows = member_rows(b, community)
    text = text.strip()
    if looks_like_member_id(text):
        return _member_by_id(text, [r["member_id"] for r in rows])
    by_name = [r for r in rows if r["name"] and r["name"].casefold() == text.casefold()]
    if len(by_name) == 1:
        return by_name[0]["member_id"]
    if not by_name:
        raise not_found(
            "member",
            text,
            f"name them by member id ({PEER_MIN}+ characters of it) or by display name; "
            "`we member list` shows both",
        )
    from ..output import Shortener

    short = Shortener(r["member_id"] for r in rows)
    ids = ", ".join(short(r["member_id"]) for r in by_name)
    raise UserError(
        f"{len(by_name)} members are named {text!r} ({ids})",
        hint=f"name the one you mean by its member id (or a prefix of {PEER_MIN}+ characters)",
        code="ambiguous",
        exit_code=3,
    )


def _member_by_id(text: str, ids: list[str]) -> str:
    """The member id that ``text`` (a member id, or its start) names."""
    if len(text) < PEER_MIN:
        # every id starts with the same 8 characters: a shorter prefix hardly tells one apart
        raise bad_value(
            f"{text!r} is too short to name a member",
            f"type at least {PEER_MIN} characters of the member id; `we member list` shows them",
        )
    if text not in ids and len(text) > 40:  # a full id of someone not seen yet
        member_key(text)  # validates it (clear message if mistyped)
        return text
    return resolve(text, ids, "member")


def oid(hex_id: str) -> bytes:
    """A full op id as the 32 bytes that bodies carry."""
    return bytes.fromhex(hex_id)


def member_key(member_id: str) -> bytes:
    """A member id (12D3KooW...) as the 32-byte public key that bodies carry."""
    from node.identity import pubkey_from_member_id

    return pubkey_from_member_id(member_id)


def shown_name(name: str) -> str:
    """A display name as it is printed: in quotes when it holds something shaped like a member
    id, so that it reads as a name someone chose and not as an id."""
    from node.identity import holds_member_id

    return f'"{name}"' if holds_member_id(name) else name


def names(b, community: str) -> dict[str, str]:
    """member key hex -> how the member is shown (``words.member_labels``: the display name, or
    the short member id, told apart where a name could mislead)."""
    from node.service.words import member_labels

    from ..output import Shortener, safe_markup

    rows = member_rows(b, community)
    short = Shortener(r["member_id"] for r in rows)
    # member-written names: made inert here, as emit() does for the data it renders
    return member_labels((r["member"], safe_markup(r["name"]), short(r["member_id"])) for r in rows)


def member_with_id(who: dict[str, str], key_hex: str) -> str:
    """A member's name with their member id beside it, where a record names its author."""
    from node.identity import holds_member_id

    shown = member_label(who, key_hex)
    # names() already carries the id for unnamed members and names that could mislead
    return shown if holds_member_id(shown) else f"{shown} ({mid(key_hex)[:PEER_MIN]})"


def me(b) -> dict[str, Any]:
    """The member this node signs for: its id and public key (hex); on a device of a member
    (``we key import``), that member's, and ``device``: this node's own key's."""
    st = b.call("status")
    if st.get("device"):
        return {
            "member_id": st["member"],
            "public_key": st["member_key"],
            "device": {"member_id": st["member_id"], "public_key": st["public_key"]},
        }
    return {"member_id": st["member_id"], "public_key": st["public_key"]}
