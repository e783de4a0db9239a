"""Node errors in people's words, shared by both faces (the `we` CLI and the web app).

:func:`explain` turns an exception from the node's layers into a message that says what went
wrong and a hint that says what to do; each face shows it its own way (the CLI adds an exit
code for the ``kind``, the web app flashes message and hint). ``None`` means a bug.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# What sort of trouble it is; the CLI maps each to an exit code.
ERROR, USAGE, DENIED, AUTH = "error", "usage", "denied", "auth"


class BadValue(Exception):
    """A value a person typed that does not fit; ``hint`` says what was expected."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass
class Said:
    message: str
    hint: str
    code: str  # a stable machine-readable word (the CLI's --json ``code``)
    kind: str  # ERROR, USAGE, DENIED or AUTH


# Lower-layer exceptions, recognised by class name so this module imports nothing heavy and
# keeps working while those layers evolve. name -> (code, kind); then code -> hint.
_KNOWN = {
    "Rejected": ("rejected", DENIED),
    "OpError": ("invalid_op", ERROR),
    "WrongPassphraseError": ("wrong_passphrase", AUTH),
    "PassphraseUnavailableError": ("passphrase_required", AUTH),
    "KeystoreNotFoundError": ("no_identity", ERROR),
    "KeystoreExistsError": ("identity_exists", ERROR),
    "InsecurePermissionsError": ("insecure_keystore", AUTH),
    "CorruptKeystoreError": ("damaged_keystore", ERROR),  # its message says what to do
    "KeystoreError": ("keystore", AUTH),
    "MemberIdError": ("bad_member_id", USAGE),
    "NotMember": ("not_member", DENIED),
    "QueryError": ("bad_query", USAGE),
    "DataDirBusy": ("data_dir_busy", ERROR),
}
_HINTS = {
    "no_identity": "create your identity with `we init`",
    "identity_exists": "this data dir already has an identity; use another --data-dir",
    "bad_member_id": "member ids look like 12D3KooW... (see `we member list`)",
    "not_member": "ask a member to vouch for you (`we member vouch`)",
    "data_dir_busy": "is a daemon already running for it? (`we status`)",
}


def explain(exc: BaseException) -> Said | None:
    """What went wrong and what to do, or None when it is a bug (show a traceback)."""
    if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        return explain(exc.exceptions[0])  # trio wraps what a node task raised
    if isinstance(exc, BadValue):
        return Said(exc.message, exc.hint, "bad_value", USAGE)
    for cls in type(exc).__mro__:
        known = _KNOWN.get(cls.__name__)
        if known:
            code, kind = known
            hint = _HINTS.get(code, "") or getattr(exc, "hint", "")  # the node's own, if any
            detail = getattr(exc, "detail", "")
            reason = getattr(exc, "reason", "")
            msg = str(exc) or cls.__name__
            if reason and detail and reason in msg and detail in msg:
                msg = f"{reason.replace('_', ' ')}: {detail}"
            if code == "rejected":
                msg = f"the community's rules reject this: {msg}"
            # the library's word for what the CLI calls `we init --plaintext`
            msg = msg.replace("use insecure_plaintext", "use `we init --plaintext`")
            if code == "passphrase_required":
                var = getattr(exc, "var", "WE_PASSPHRASE")
                hint = f"set {var} or type the passphrase when asked (in a terminal)"
                if os.environ.get(var) == "":
                    hint = f"{var} is set but empty: export the passphrase, or unset it"
            if code == "identity_exists" and getattr(exc, "path", None) is not None:
                if exc.path.name != "identity.json":  # not a data dir's key: a file asked for
                    hint = "give another file name, or move the existing file away first"
            return Said(msg, hint, reason or code, kind)
    if isinstance(exc, PermissionError):
        return Said(str(exc), "", "permission", ERROR)
    if isinstance(exc, FileNotFoundError):
        return Said(str(exc), "", "file_not_found", ERROR)
    return None


SHORT_ID = 14  # characters of a member id that tell it apart (all start with "12D3KooW")


def member_label(who: dict[str, str], key_hex: str | None) -> str:
    """A member key as people read it, in either face: its entry in ``who`` (from
    :func:`member_labels`), else (a key no member of that list has, such as a stranger's)
    the start of its member id; never the key in hex, which nothing a person types takes."""
    if not key_hex:
        return ""
    from node.identity import member_id

    return who.get(key_hex) or member_id(bytes.fromhex(key_hex))[:SHORT_ID]


def member_labels(rows: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """How each member is shown, by key, from ``(key, display name, short member id)`` rows:
    the name; the short id where there is none; ``SHORT (named "NAME")`` for a name shaped like
    a member id (any member may sign one, whatever `we profile set` refuses: shown bare, it
    would pass for the member whose id it copies); ``NAME (SHORT)`` for a name two members
    share. Both faces show members so; each passes names as it displays them."""
    from node.identity import holds_member_id

    rows = list(rows)
    seen = Counter(name.casefold() for _, name, _ in rows if name)
    out = {}
    for key, name, short in rows:
        if not name:
            out[key] = short
        elif holds_member_id(name):
            out[key] = f'{short} (named "{name}")'
        elif seen[name.casefold()] > 1:
            out[key] = f"{name} ({short})"
        else:
            out[key] = name
    return out


def rel_time(ms: int | None, now: int | None = None) -> str:
    """A time relative to now in a few characters: "in 3h", "2d ago", "just now"."""
    if ms is None:
        return ""
    if now is None:
        import time

        now = int(time.time() * 1000)
    delta = (ms - now) // 1000
    future = delta > 0
    s = abs(delta)
    # Nearest unit, not truncated: `--closes +1d` read a second later is "in 1d", not "in 23h".
    # A unit is used from 95% of it on; ties round down (90 s is "1m").
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s * 20 >= size * 19:
            text = f"{(2 * s + size - 1) // (2 * size)}{unit}"
            break
    else:
        if s < 5:
            return "just now"
        text = f"{s}s"
    return f"in {text}" if future else f"{text} ago"
