"""Errors from the control API (either backend) as messages a person can act on."""

from __future__ import annotations

from typing import Any

from .errors import (
    EXIT_DENIED,
    EXIT_NOT_FOUND,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    UserError,
    unavailable,
)

# Rejection reasons (node/crdt/records, node/governance) in words a person understands.
WHY = {
    "not_member": "you are not a member of this community (yet)",
    "own_contribution": "nobody may attest their own contribution",
    "own_offer": "you cannot reserve your own offer",
    "not_author": "only the author may change it",
    "self_vouch": "nobody may vouch for themselves",
    "duplicate_vouch": "you already vouched for this member",
    "already_member": "you already asked to join (`we member list` shows your status)",
    "not_allowed": "this step is not yours to take",
    "bad_transition": "that step does not follow from the current status",
    "status_final": "it is already final (withdrawn or fulfilled)",
    "offer_inactive": "only an active offer can be reserved",
    "bad_expiry": "expiry must be in the future and at most one year away",
    "not_open": "the vote is not open yet",
    "closed": "the vote is closed",
    "not_witness": "only a witness of the proposal may seal it",
    "seal_early": "a seal must come after the close time",
    "seal_twice": "you already sealed this proposal",
    "other_device": "another of your devices made it: change it from that one",
    "few_vouches": "not enough members vouched for this recovery yet",
    "device": "a device of a member does not join, leave or get vouched for on its own",
    "unknown_device": "that is not one of your devices here (`we device list`)",
    "not_first": "this key already signed here, so it cannot become a device",
    "bad_cert": "the device certificate does not verify",
    "bad_signer": "the device certificate is not signed by a key of that member",
    "self_delegation": "nobody may delegate to themselves",
    # ("bad_choice": the node's own words say which rule or limit the ballot breaks)
}

# The records `we FAMILY show ID` shows (hints point there).
SHOWN = frozenset({"offer", "need", "proposal", "thread"})

# What a person calls the record an op kind changes ("ballot.cast" -> "vote").
NOUN = {
    "ballot": "vote",
    "attestation": "attestation",
    "delegation": "delegation",
    "member.vouch": "vouch",
    "member.join": "request to join",
    "member": "membership change",
    "profile": "profile change",
    "community": "community change",
}

# Rejections of a value itself (its format, range, or a choice not offered): exit 2, as a bad
# argument, not 4 (which says "you may not").
VALUE_REASONS = frozenset({"bad_body", "bad_expiry", "bad_choice"})

HINTS = {
    "few_vouches": "ask members to run `we recovery vouch MEMBER YOUR_ID` (`we id` prints it)",
    "closed": "`we proposal show ID` shows when it closed",
    "not_open": "`we proposal show ID` shows when it opens",
    "seal_early": "seal it after it closes (`we proposal show ID` shows when)",
    "bad_transition": "`we reservation list` shows where each reservation is",
    "bad_expiry": "give --expires between now and one year ahead, e.g. +30d",
    "bad_choice": "`we proposal show ID` lists the choices and the limits of a ballot",
    "not_member": "a member admits you with `we member vouch YOUR_ID` (`we id` prints it)",
    "not_author": "only its author can do this; `we {family} show ID` says who that is",
    "own_offer": "reserve someone else's offer (`we offer list`)",
    "own_contribution": "ask another member to attest it",
    "self_vouch": "ask a member to vouch for you",
    "duplicate_vouch": "nothing to do: your vouch already counts",
    "status_final": "publish a new one instead",
    "offer_inactive": "`we offer show ID` shows its status",
    "not_witness": "`we proposal show ID` names its witnesses",
    "seal_twice": "nothing to do: your seal already counts",
    "self_delegation": "delegate to another member (`we member list`)",
    "already_member": "`we member list` shows your status",
    "not_allowed": "`we reservation list` shows whose step is next",
}


def _noun(what: str) -> str:
    family = what.split(".", 1)[0]
    return NOUN.get(what) or NOUN.get(family, family.replace("_", " "))


def _command_path() -> str:
    import click

    ctx = click.get_current_context(silent=True)
    return ctx.command_path if ctx is not None else "we COMMAND"


def _detail(message: str, reason: str, kind: str) -> str:
    """The lower layer's words without its machine prefixes ("bad_body: offer.create: ...")."""
    for prefix in (reason, kind):
        if prefix and message.startswith(prefix + ": "):
            message = message[len(prefix) + 2 :]
    return message.replace(": the op was not stored", "")


# JSON-RPC error reason -> (exit code, prefix, hint)
_REASONS = {
    "not_member": (
        EXIT_DENIED,
        "not a member",
        "ask a member to vouch for you (`we member vouch`)",
    ),
    "not_found": (EXIT_NOT_FOUND, "", ""),
    "unknown_view": (EXIT_UNAVAILABLE, "not available yet", ""),
    "unknown_method": (EXIT_UNAVAILABLE, "not available yet", ""),
    "bad_params": (EXIT_USAGE, "", ""),
    # The chain guard (node/identity/chainguard.py): signing now could fork your chain.
    "chain_behind": (
        EXIT_DENIED,
        "",
        "keep the daemon running and connected: it fetches your newer ops from peers, then "
        "writes work again (`we status`); if they were never sent anywhere: `we key adopt`",
    ),
    "chain_unverified": (
        EXIT_DENIED,
        "",
        "run `we daemon` and let it sync with a peer of the community (`we status` shows "
        "when); if the old copy will never run again: `we key adopt`",
    ),
    # This node's key counts nowhere in the community (node/service/standing.py): the
    # node's message says what happened and its hint (in the error's data) what to do.
    "key_revoked": (EXIT_DENIED, "", ""),
    "key_replaced": (EXIT_DENIED, "", ""),
    "key_removed": (EXIT_DENIED, "", ""),
    "void": (EXIT_DENIED, "", ""),
}


def rpc_error_to_user(err: dict[str, Any], method: str, params: dict[str, Any]) -> UserError:
    """One mapping for errors from either backend (they are the same JSON-RPC errors)."""
    code = err.get("code", -32000)
    data = err.get("data") or {}
    reason = data.get("reason") or ""
    etype = data.get("type") or ""
    message = err.get("message") or "error"
    what = params.get("view") or params.get("kind") or method
    if reason in ("unknown_view", "unknown_method") or code == -32601:
        return unavailable(f"{what!r}", message)
    if reason == "not_member":
        detail = _detail(message, reason, "").replace(" in the op's causal past", "")
        return UserError(
            f"you are not a member of this community yet ({detail})",
            hint="a member admits you with `we member vouch YOUR_ID` (`we id` prints it)",
            code=reason,
            exit_code=EXIT_DENIED,
        )
    if reason in _REASONS:
        exit_code, prefix, hint = _REASONS[reason]
        msg = f"{prefix}: {message}" if prefix and prefix not in message else message
        return UserError(msg, hint=hint or data.get("hint", ""), code=reason, exit_code=exit_code)
    if reason == "too_large":
        return UserError(
            f"too large to publish ({_detail(message, reason, '')}; at most 64 KiB an op)",
            hint="shorten the longest text (description, note) or split it",
            code=reason,
            exit_code=EXIT_USAGE,
        )
    if etype == "Rejected" and reason in VALUE_REASONS:
        why = WHY.get(reason) or _detail(message, reason, params.get("kind") or "")
        return UserError(
            f"bad value for this {_noun(what)}: {why}",
            hint=HINTS.get(reason) or f"see `{_command_path()} --help` for each option's format",
            code=reason,
            exit_code=EXIT_USAGE,
        )
    if etype == "Rejected":
        hint = HINTS.get(reason, "")
        if reason.startswith("unknown"):
            hint = "the record it refers to may not have synced yet; try again in a moment"
        elif reason == "not_member":
            hint = "ask a member to vouch for you (`we member vouch YOUR_ID`; `we id` shows it)"
        if reason == "bad_body":
            hint = f"see `{_command_path()} --help` for each option's format"
        family = what.split(".", 1)[0]
        if "{family}" in hint:  # the record's own `show` command, where it has one
            shown = family if family in SHOWN else None
            hint = hint.format(family=shown) if shown else hint.split("; ", 1)[0]
        why = WHY.get(reason) or _detail(message, reason, params.get("kind") or "")
        return UserError(
            f"the community's rules reject this {_noun(what)}: {why}",
            hint=hint,
            code=reason or "rejected",
            exit_code=EXIT_DENIED,
        )
    if etype in ("KeyError", "LookupError") or "unknown" in reason:
        return UserError(message, code=reason or "not_found", exit_code=EXIT_NOT_FOUND)
    if code == -32602:
        return UserError(message, code=reason or "bad_params", exit_code=EXIT_USAGE)
    return UserError(message, code=reason or etype or "error", exit_code=1)
