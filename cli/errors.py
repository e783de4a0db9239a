"""The one exception type for user mistakes, and the one place where errors become messages.

Every command raises :class:`UserError` (or lets a lower-layer exception escape); ``main()``
calls :func:`translate` once, prints a message that says what went wrong and what to do, and
exits with the code below. A traceback is printed only for real bugs (or with ``WE_DEBUG=1``).
"""

from __future__ import annotations

# Exit codes are part of the CLI contract (documented in `we --help` epilog and README).
EXIT_ERROR = 1  # anything else that is the user's to fix
EXIT_USAGE = 2  # bad arguments or values (click uses 2 for usage errors too)
EXIT_NOT_FOUND = 3  # unknown or ambiguous id
EXIT_DENIED = 4  # not a member / not allowed / rejected by the rules
EXIT_DAEMON = 5  # daemon not running or not answering
EXIT_AUTH = 6  # wrong or missing passphrase
EXIT_UNAVAILABLE = 7  # the layer behind this command is not available in this build


class UserError(Exception):
    """A mistake the user can fix. ``code`` is a stable machine-readable word for --json."""

    def __init__(self, message: str, *, hint: str = "", code: str = "error", exit_code: int = 1):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code
        self.exit_code = exit_code


def default_hint(err: UserError, command: str = "we") -> str:
    """A hint for an error that came without one: every error says what to do next."""
    return {
        EXIT_USAGE: f"see `{command} --help` for what each option takes",
        EXIT_NOT_FOUND: "list what exists with the matching `we ... list` command",
        EXIT_DENIED: "`we community info` shows the community's rules",
        EXIT_DAEMON: "start the daemon with `we daemon --detach` (stop: `we daemon stop`)",
        EXIT_AUTH: "set WE_PASSPHRASE or type the passphrase when asked",
        EXIT_UNAVAILABLE: "update we, or ask on the project's tracker",
    }.get(err.exit_code, f"see `{command} --help`; WE_DEBUG=1 shows where it happened")


def not_found(what: str, ident: str, hint: str = "") -> UserError:
    return UserError(f"no {what} matches {ident!r}", hint=hint, code="not_found", exit_code=3)


def bad_value(message: str, hint: str = "") -> UserError:
    return UserError(message, hint=hint, code="bad_value", exit_code=EXIT_USAGE)


def denied(message: str, hint: str = "") -> UserError:
    return UserError(message, hint=hint, code="denied", exit_code=EXIT_DENIED)


def daemon_down(data_dir: str) -> UserError:
    return UserError(
        f"the daemon is not running for {data_dir}",
        hint="start it with `we daemon` in another terminal, or in the background with "
        "`we daemon --detach` (stop it with `we daemon stop`)",
        code="daemon_not_running",
        exit_code=EXIT_DAEMON,
    )


def unavailable(feature: str, detail: str = "") -> UserError:
    msg = f"{feature} is not available yet in this build of we"
    if detail:
        msg += f" ({detail})"
    return UserError(msg, code="not_available", exit_code=EXIT_UNAVAILABLE)


_EXIT = {"error": EXIT_ERROR, "usage": EXIT_USAGE, "denied": EXIT_DENIED, "auth": EXIT_AUTH}


def translate(exc: BaseException) -> UserError | None:
    """Map an exception to a UserError, or None when it is a bug (show a traceback). The words
    are the node's (``node.service.words``, shared with the web app); the exit code is ours."""
    from node.service.words import explain

    if isinstance(exc, UserError):
        return exc
    if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        return translate(exc.exceptions[0])  # trio wraps what a node task raised
    said = explain(exc)
    if said is None:
        return None
    return UserError(said.message, hint=said.hint, code=said.code, exit_code=_EXIT[said.kind])
