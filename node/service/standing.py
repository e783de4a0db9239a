"""Whether this node's key still counts in a community, and the refusal when it does not.

A key whose chain a community has cut (``device.revoke``, a ``recovery.claim`` that made
another key the member's, a removal: ``records/devices.py``, ``specs/records.md`` §3.7-3.8)
signs ops that every node voids. Signing one anyway would tell the user it was published
while it counts nowhere, so :func:`refuse_if_retired` stops the write before anything is
signed, and `we status` and the inbox say it (:func:`retired`).

This is local knowledge only: a node that has not received the revocation yet signs and
sends as before, and the nodes that have drop what it signed (that is the rule's job, not
this module's).
"""

from __future__ import annotations

from typing import Any

from node.crdt.records import queries
from node.crdt.state import Rejected

# What happened, and what the member can do instead, by ``standing``'s state.
_SAID = {
    "revoked": (
        "this node's key was revoked in community {name}: what it signs there counts nowhere",
        "write from another device of yours (`we device list` there shows them); lost every "
        "key? members vouch for a new node's key (`we recovery vouch`), which then runs "
        "`we recovery claim`",
    ),
    "replaced": (
        "a recovery claim made another key yours in community {name}: this node's key counts "
        "nowhere there any more",
        "write from the node that claimed it; to use this machine again, run `we device add "
        "FILE` there and `we key import FILE` here in a new data dir",
    ),
    "removed": (
        "the community {name} removed this member by a decision: nothing this node signs "
        "there counts",
        "`we activity` shows the decision; what was written before it stays readable",
    ),
}


class KeyRetired(Rejected):
    """This node's key counts nowhere in the community (``reason`` ``key_revoked``,
    ``key_replaced`` or ``key_removed``); nothing was signed. ``hint`` says what to do."""

    def __init__(self, state: str, name: str):
        message, hint = _SAID[state]
        super().__init__(f"key_{state}", message.format(name=name) + ", so nothing was signed")
        self.hint = hint

    def __str__(self) -> str:  # the words, without the reason code in front
        return self.detail


def _name(store: Any, community: bytes) -> str:
    charter = queries.charter(store.state, community) or {}
    return f"{charter.get('name') or '?'} ({community.hex()[:12]})"


def refuse_if_retired(store: Any, community: bytes, key: bytes) -> None:
    """Raise :class:`KeyRetired` if ``community`` (as this store knows it) voids what ``key``
    signs next."""
    found = queries.key_standing(store.state, community, key)
    if found is not None:
        raise KeyRetired(found["state"], _name(store, community))


def retired(store: Any, communities: Any, key: bytes) -> list[dict]:
    """``[{community, name, state, seq}]``: the communities among ``communities`` where
    ``key``'s ops count nowhere, and the seq they are void above (for `we status`)."""
    out = []
    for c in sorted(communities):
        found = queries.key_standing(store.state, c, key)
        if found is not None:
            name = (queries.charter(store.state, c) or {}).get("name")
            out.append({"community": c, "name": name, "state": found["state"], "seq": found["cut"]})
    return out


class Voided(Rejected):
    """An op this node signed and stored (``op``) that its own replica counts nowhere
    (``reason`` ``void``; ``why`` the replica's: ``author forked``, ``author removed``). It
    is in the chain (its seq is used, and it is sent like any op), but changed nothing."""

    def __init__(self, op: Any, why: str):
        kind = op.kind
        super().__init__(
            "void",
            f"this node signed the {kind} op, but its own copy of the community counts it "
            f"nowhere ({why}): it changed nothing",
        )
        self.op, self.why = op, why
        self.hint = "`we status` says why this node's ops do not count there"

    def __str__(self) -> str:
        return self.detail
