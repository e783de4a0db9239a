"""Node commands: init, id, daemon, status, peers, completion."""

from __future__ import annotations

import click

from node.crdt.text import counted

from ..context import WeGroup, command, common, obj
from ..output import emit, rel_time, table

KEY_FILE = "identity.json"


def key_path(data_dir):
    return data_dir / KEY_FILE


@command("init")
@click.option(
    "--plaintext",
    is_flag=True,
    help="Store the key UNENCRYPTED (tests and demos only). Default: a passphrase "
    "(asked, or $WE_PASSPHRASE) encrypts it.",
)
@click.option("--listen", multiple=True, help="Multiaddr to listen on (repeatable).")
@click.option("--bootstrap", multiple=True, help="Peer multiaddr to dial at start (repeatable).")
def init(plaintext: bool, listen: tuple[str, ...], bootstrap: tuple[str, ...]) -> None:
    """Create this node's identity (member key) and config file."""
    from node.identity import Identity

    from ..config import Config, check_addrs, save_config

    o = obj()
    check_addrs(listen, "--listen")
    check_addrs(bootstrap, "--bootstrap")
    o.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ident = Identity.create(key_path(o.data_dir), insecure_plaintext=plaintext)
    cfg = Config()
    if listen:
        cfg.listen = list(listen)
    if bootstrap:
        cfg.bootstrap = list(bootstrap)
    cfg_path = save_config(o.data_dir, cfg)
    data = {
        "member_id": ident.member_id,
        "data_dir": str(o.data_dir),
        "config": str(cfg_path),
        "encrypted": not plaintext,
    }

    def render(c, d):
        c.print(f"Created identity [bold]{d['member_id']}[/bold]")
        c.print(f"Data dir: {d['data_dir']}  (config: {d['config']})")
        if not d["encrypted"]:
            c.print("[yellow]Warning: the key is stored unencrypted (--plaintext).[/yellow]")
        c.print("Next: `we daemon` to go online, or `we community create NAME`.")

    emit(o, data, render)


@command("id")
def id_() -> None:
    """Show this node's member id (no passphrase needed)."""
    from node.identity import member_id, read_public_key

    o = obj()
    pk = read_public_key(key_path(o.data_dir))
    emit(
        o,
        {"member_id": member_id(pk), "public_key": pk.hex()},
        lambda c, d: c.print(d["member_id"]),
    )


@click.group("daemon", cls=WeGroup, invoke_without_command=True)
@common
@click.option("--listen", multiple=True, help="Override the config's listen multiaddrs.")
@click.option("--bootstrap", multiple=True, help="Extra peers to dial at start.")
@click.option(
    "--mdns/--no-mdns",
    default=None,
    help="Find peers on the LAN by multicast DNS (default: WE_MDNS=1 turns it on).",
)
@click.option(
    "--relay/--no-relay",
    default=None,
    help="Serve as a relay and rendezvous point for members behind NATs (needs a reachable "
    "address; default: WE_RELAY=1 turns it on).",
)
@click.option("-v", "--verbose", count=True, help="Log more (-v: info, -vv: debug).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per event: text, or one JSON object a line.",
)
@click.option(
    "--detach",
    is_flag=True,
    help="Run in the background (asks the passphrase first); log to DATA_DIR/daemon.log. "
    "Stop it with `we daemon stop`.",
)
@click.option(
    "--web",
    is_flag=True,
    help="Also serve the web app on 127.0.0.1 ([web] port in config.toml, else a free "
    "port); `we web` prints the login link.",
)
@click.option("--passphrase-fd", type=int, hidden=True)  # how --detach hands the passphrase on
@click.pass_context
def daemon(
    ctx: click.Context,
    listen: tuple[str, ...],
    bootstrap: tuple[str, ...],
    mdns: bool | None,
    relay: bool | None,
    verbose: int,
    log_format: str,
    detach: bool,
    web: bool,
    passphrase_fd: int | None,
) -> None:
    """Run the node: sync with peers and serve the control socket (in the foreground, or in
    the background with --detach; `we daemon stop` stops it)."""
    if ctx.invoked_subcommand is not None:
        return
    import logging

    from .. import logfmt
    from ..daemon_run import detach_daemon, run_daemon

    if detach:
        detach_daemon(obj(), ctx.params)
        return
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logfmt.setup(level, log_format)
    run_daemon(
        obj(),
        list(listen),
        list(bootstrap),
        mdns=mdns,
        relay=relay,
        passphrase_fd=passphrase_fd,
        web=web,
    )


@command("web")
def web() -> None:
    """Print the login link of the web app the daemon serves (keep it secret: it logs in
    as you). Start the app with `we daemon --web`, or a [web] port in config.toml."""
    import json

    from node.service.web import login_url, read_or_create_token

    from ..backend import daemon_answers
    from ..errors import EXIT_DAEMON, UserError

    o = obj()
    try:
        info = json.loads((o.data_dir / "daemon.json").read_text())
    except (OSError, ValueError):
        info = {}
    if not daemon_answers(o.data_dir):
        raise UserError(
            f"no daemon is running for {o.data_dir}",
            hint="start it with the web app: `we daemon --web`",
            code="daemon_not_running",
            exit_code=EXIT_DAEMON,
        )
    if not info.get("web"):
        raise UserError(
            "the running daemon does not serve the web app",
            hint="restart it with `we daemon --web`, or set [web] port in config.toml",
            code="web_off",
            exit_code=EXIT_DAEMON,
        )
    url = login_url(info["web"], read_or_create_token(o.data_dir))
    emit(o, {"url": url, "web": info["web"]}, lambda c, d: c.print(d["url"], soft_wrap=True))


@daemon.command("stop")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for it.")
def daemon_stop(timeout: float) -> None:
    """Stop the daemon of this data dir (SIGTERM; it closes its store cleanly)."""
    from ..daemon_run import stop_daemon

    o = obj()
    data = stop_daemon(o.data_dir, timeout)
    emit(o, data, lambda c, d: c.print(f"Stopped the daemon (pid {d['pid']})."))


def _full_member_id(member: str) -> str:
    from ..errors import bad_value

    if not member.startswith("12D3KooW") or len(member) < 40:
        # a block is this node's, for any peer (member or not): a prefix or a name could
        # name another peer than the one meant, so only the whole id is taken
        raise bad_value(
            f"{member!r} is not a whole member id (a block takes no prefix and no name)",
            "`we --json member list` shows each member's whole id (the table shortens them)",
        )
    return member


def _block(member: str, undo: bool) -> None:
    o = obj()
    b = o.backend()
    data = b.call("block", {"member_id": _full_member_id(member), "undo": undo})

    def render(c, d):
        verb = "Blocked" if d["blocked"] else "Unblocked"
        already = "" if d["changed"] else (" (it already was)" if d["blocked"] else " (it was not)")
        c.print(f"{verb} {d['member_id']}{already}.")

    emit(o, data, render)


@command("block")
@click.argument("member", required=False)
@click.option("--undo", is_flag=True, help="Let the peer back in (as `we unblock`).")
@click.option("--list", "list_", is_flag=True, help="Show the blocked member ids.")
def block(member: str | None, undo: bool, list_: bool) -> None:
    """Cut a peer off from this node (no connection, no sync) until `we unblock`; kept across
    daemon restarts (in the data dir). What it already wrote stays. Works with or without
    the daemon (without it, the block applies when the daemon starts)."""
    from ..errors import bad_value

    o = obj()
    if list_:
        if member is not None or undo:
            raise bad_value("--list takes no member", "run `we block --list` alone")
        data = o.backend().call("blocked")

        def render(c, d):
            if not d["blocked"]:
                c.print("No peer is blocked.")
            for m in d["blocked"]:
                c.print(m)

        emit(o, data, render)
        return
    if member is None:
        raise bad_value("which member?", "`we block 12D3KooW...` (or `we block --list`)")
    _block(member, undo)


@command("unblock")
@click.argument("member")
def unblock(member: str) -> None:
    """Let a blocked peer back in."""
    _block(member, True)


@command("status")
def status() -> None:
    """Show whether the daemon runs, peers, communities and their sync state."""
    o = obj()
    b = o.backend()
    data = b.call("status")
    if isinstance(data, dict):
        data.setdefault("daemon", b.kind == "daemon")

    def render(c, d):
        c.print(f"Member:  {d.get('member_id', '?')}")
        c.print(
            f"Daemon:  {'running' if d.get('daemon') else 'not running (offline: commands use the local store)'}"
        )
        for a in d.get("listen_addrs") or []:
            c.print(f"Listen:  {a}")
        peers = d.get("peers") or []
        c.print(f"Peers:   {len(peers)} connected")
        _chain_warnings(c, d)
        comms = d.get("communities") or []
        if comms:
            rows = [
                [
                    cm["id"][:12],
                    cm.get("name") or "(syncing)",
                    cm.get("ops"),
                    cm.get("authors"),
                    counted(cm.get("in_sync_with", 0), "peer"),
                    rel_time(cm.get("last_sync_ms")) or "-",
                    cm.get("fork_proofs") or "",
                ]
                for cm in comms
            ]
            c.print(
                table(
                    "Communities",
                    ["id", "name", "ops", "authors", "in sync with", "last sync", "forks"],
                    rows,
                )
            )
        for cm in comms:
            if cm.get("receiving"):
                c.print(f"Syncing {cm.get('name') or cm['id'][:12]}: {receiving(cm['receiving'])}")
            if cm.get("rebuild_pending"):
                c.print(
                    f"Rebuilding soon {cm.get('name') or cm['id'][:12]}: its state still shows "
                    "ops that fork proofs or a removal made void"
                )

    emit(o, data, render)


def receiving(r: dict) -> str:
    """ "12,000 of 48,200 ops received from 1 peer": a sync in progress, as `we status` says."""
    done, expected, n = r["done"], r.get("expected"), r.get("sessions", 1)
    got = f"{done:,} of {expected:,} ops" if expected else f"{done:,} ops"
    return f"{got} received from {n} peer{'s' if n != 1 else ''} so far"


def _chain_warnings(c, d) -> None:
    """Say loudly when this member's chain is at risk or forked (issue 12), or this node's
    key no longer counts in a community."""
    guard = d.get("chain_guard") or {}
    if guard.get("state") == "behind":
        c.print(
            "[bold red]Your chain: this data dir is behind what your key already signed[/] "
            "(a restored backup?). Writes wait until the daemon has fetched your newer ops "
            "from peers; `we key adopt` if they were never sent anywhere."
        )
    elif guard.get("state") == "unverified":
        c.print(
            "[bold yellow]Your chain: not confirmed on this machine yet[/] (a copied or moved "
            "data dir, or an imported key). Writes in a community wait for one sync with a "
            "peer there; `we key adopt` if the old copy will never run again."
        )
    for f in d.get("own_forks") or []:
        c.print(
            f"[bold red]Your key forked in community {str(f['community'])[:12]} at op "
            f"{f['seq']}:[/] two different ops of yours share that place in your chain, so "
            "every node ignores your ops there from that one on. This happens when a backup "
            "is restored, or one data dir runs on two machines. Run one copy only."
        )
    said = {  # state -> (what happened, what to do)
        "revoked": (
            "was revoked",
            "Write from another device of yours (`we device list` there), or recover "
            "(`we recovery --help`).",
        ),
        "replaced": (
            "was replaced by a recovery claim",
            "Write from the node that claimed your membership.",
        ),
        "removed": ("belongs to a member the community removed", "What it holds stays readable."),
    }
    for r in d.get("key_retired") or []:
        what, do = said.get(r["state"], ("counts nowhere", ""))
        where = r.get("name") or str(r["community"])[:12]
        c.print(
            f"[bold red]This node's key {what} in community {where}:[/] nothing it signs "
            f"there counts, so this node refuses to write there. {do}"
        )


@command("peers")
@click.option("--connect", "addr", help="Dial this multiaddr first.")
def peers(addr: str | None) -> None:
    """List connected peers (needs the daemon)."""
    o = obj()
    from ..backend import open_backend

    if addr:
        from ..config import check_addrs

        check_addrs([addr], "--connect")
    b = open_backend(o.data_dir, require_daemon=True)
    try:
        if addr:
            b.call("connect", {"addr": addr})
        data = b.call("peers")
    finally:
        b.close()

    def render(c, d):
        rows = [
            [
                p.get("member_id", ""),
                "yes" if p.get("connected") else "no",
                "" if p.get("rtt_ms") is None else f"{p['rtt_ms']} ms",
                rel_time(p.get("last_seen_ms")),
                ", ".join(p.get("addrs", [])),
            ]
            for p in d or []
        ]
        c.print(
            table(
                counted(len(rows), "peer"),
                ["member", "connected", "rtt", "last seen", "addresses"],
                rows,
            )
        )

    emit(o, data, render)


@command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh"]))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(we completion bash)"."""
    from click.shell_completion import get_completion_class

    from ..main import cli

    cls = get_completion_class(shell)
    comp = cls(cli, {}, "we", "_WE_COMPLETE")
    click.echo(comp.source())
