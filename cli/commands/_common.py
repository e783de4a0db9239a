"""Helpers the command modules share: picking the community, expanding id prefixes."""

from __future__ import annotations

import os
from typing import Any

import click

from ..errors import UserError
from ..output import resolve

COMMUNITY_ENV = "WE_COMMUNITY"


def community_option(f):
    return click.option(
        "-c",
        "--community",
        "community",
        metavar="ID",
        help=f"Community id or unique prefix (default: ${COMMUNITY_ENV}, or your only community).",
    )(f)


def communities(b) -> list[dict[str, Any]]:
    return list(b.query("communities") or [])


def pick_community(b, prefix: str | None) -> str:
    """The full id of the community meant by ``prefix`` (or the only one there is)."""
    prefix = prefix or os.environ.get(COMMUNITY_ENV)
    ids = [c["id"] for c in communities(b)]
    if prefix:
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


def pick_record(
    b, view: str, what: str, prefix: str, community: str, **args: Any
) -> dict[str, Any]:
    """Find the one record of ``view`` whose id starts with ``prefix``."""
    rows = list(b.query(view, community=community, **args) or [])
    full = resolve(prefix, [r["id"] for r in rows], what)
    return next(r for r in rows if r["id"] == full)


def pick_member(b, text: str, community: str) -> str:
    """A member id from an id prefix or a display name."""
    rows = list(b.query("members", community=community) or [])
    by_name = [r for r in rows if (r.get("name") or "").lower() == text.lower()]
    if len(by_name) == 1:
        return by_name[0]["member_id"]
    return resolve(text, [r["member_id"] for r in rows], "member")


def oid(hex_id: str) -> bytes:
    """A full op id as the 32 bytes that bodies carry."""
    return bytes.fromhex(hex_id)


def member_key(member_id: str) -> bytes:
    """A member id (12D3KooW...) as the 32-byte public key that bodies carry."""
    from node.identity import pubkey_from_member_id

    return pubkey_from_member_id(member_id)
