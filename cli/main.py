"""`we`: the command-line face of a we node.

Commands live in ``cli/commands/`` (one thin module per area) and are imported only when used,
so ``we --help`` and shell completion stay fast. User mistakes become one clear message and a
non-zero exit code here, in :func:`main`, and nowhere else.

``--json`` output (for scripts): reading commands print the control API's view unchanged (ids
and member keys as lowercase hex, exact numbers as ``[num, den]`` or ``"num/den"``, times in
ms since the epoch; see ``node/service/control.py``, ``node/crdt/records/queries.py``,
``listing_views.py`` and ``node/governance/views.py``); writing commands print
``{"id" | "op_id": hex, ...}`` with the body they published. On error, stdout is empty and
stderr carries one line ``{"error": {"code", "message", "hint"}}``; the exit code says which
kind of error it was.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from .context import WeGroup, common

# command name -> "module:attribute" (modules under cli.commands)
COMMANDS = {
    "init": "node_cmds:init",
    "id": "node_cmds:id_",
    "daemon": "node_cmds:daemon",
    "status": "node_cmds:status",
    "peers": "node_cmds:peers",
    "block": "node_cmds:block",
    "unblock": "node_cmds:unblock",
    "key": "key:key",
    "device": "key:device",
    "recovery": "community:recovery",
    "community": "community:community",
    "member": "members:member",
    "profile": "members:profile",
    "offer": "listings:offer",
    "need": "listings:need",
    "match": "matching:match",
    "reserve": "reservations:reserve",
    "reservation": "reservations:reservation",
    "project": "work:project",
    "contribute": "work:contribute",
    "contribution": "work:contribution",
    "attest": "work:attest",
    "score": "work:score",
    "proposal": "govern:proposal",
    "vote": "govern:vote",
    "delegate": "govern:delegate",
    "undelegate": "govern:undelegate",
    "seal": "govern:seal",
    "tally": "tally:tally",
    "export": "export:export",
    "import": "export:import_",
    "thread": "discussion:thread",
    "comment": "discussion:comment",
    "inbox": "inbox:inbox",
    "activity": "inbox:activity",
    "watch": "inbox:watch",
    "web": "node_cmds:web",
    "completion": "node_cmds:completion",
}

EPILOG = """\b
Exit codes: 0 ok, 1 error, 2 bad argument or value, 3 unknown or ambiguous id,
4 not allowed (not a member, rejected by the community's rules), 5 daemon not running,
6 wrong or missing passphrase, 7 not available yet in this build.
Ids: any unique prefix of an id is accepted. Shell completion: `we completion bash|zsh`.
With --json, errors are one JSON line on stderr: {"error": {"code", "message", "hint"}}."""


class LazyGroup(WeGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(f"cli.commands.{module}"), attr)


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@common
@click.version_option(package_name="we", prog_name="we")
def cli() -> None:
    """we: share idle resources, recognise contributions, decide together, peer to peer."""


def main(argv: list[str] | None = None) -> None:
    from .errors import translate

    try:
        rv = cli.main(args=argv, prog_name="we", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        code = 130
    except click.ClickException as exc:
        if _json_mode(argv):  # scripts parse stderr: usage errors too are one JSON line
            from .errors import UserError

            cmd = exc.ctx.command_path if getattr(exc, "ctx", None) else "we"
            hint = f"see `{cmd} --help`" if isinstance(exc, click.UsageError) else ""
            _show_error(UserError(exc.format_message(), hint=hint, code="usage"), as_json=True)
        else:
            exc.show()
        code = exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:
        err = translate(exc)
        if err is None or os.environ.get("WE_DEBUG"):
            raise
        _show_error(err, as_json=_json_mode(argv))
        code = err.exit_code
    sys.exit(code)


def _json_mode(argv: list[str] | None) -> bool:
    args = sys.argv[1:] if argv is None else argv
    return "--json" in args


def _show_error(err, *, as_json: bool) -> None:
    if not err.hint:
        from .errors import default_hint

        ctx = click.get_current_context(silent=True)
        err.hint = default_hint(err, ctx.command_path if ctx is not None else "we")
    if as_json:
        import json

        payload = {"error": {"code": err.code, "message": err.message, "hint": err.hint}}
        click.echo(json.dumps(payload), err=True)  # ensure_ascii: every control is \u-escaped
        return
    from .output import safe_text  # a message may quote what a member wrote

    click.secho(f"Error: {safe_text(err.message)}", fg="red", err=True)
    if err.hint:
        click.echo(f"Hint: {safe_text(err.hint)}", err=True)


if __name__ == "__main__":
    main()
