"""`we daemon`: run the node service in the foreground until Ctrl-C / SIGTERM."""

from __future__ import annotations

from contextlib import ExitStack

from .backend import daemon_answers, require_identity
from .config import check_addrs, load_config
from .errors import UserError, unavailable


def run_daemon(o, listen: list[str], bootstrap: list[str], mdns: bool | None = None) -> None:
    cfg = load_config(o.data_dir)  # a broken config is reported before anything starts
    require_identity(o.data_dir)
    if daemon_answers(o.data_dir):
        raise UserError(
            f"a daemon is already running for {o.data_dir}",
            hint="stop it first (Ctrl-C in its terminal), or use another --data-dir",
            code="daemon_running",
        )
    listen = check_addrs(listen, "--listen") or cfg.listen
    bootstrap = list(dict.fromkeys([*cfg.bootstrap, *check_addrs(bootstrap, "--bootstrap")]))
    _ports_free(listen)
    try:
        from node.identity import Identity
        from node.service import run as service_run
    except ImportError as exc:
        raise unavailable("the daemon (node.service)", str(exc)) from exc
    with _claim(o.data_dir):
        # Open the key here first (asking once for the passphrase if it is encrypted and
        # WE_PASSPHRASE is unset): a wrong passphrase is a clear error, not a daemon crash.
        passphrase = _passphrase(o.data_dir / "identity.json")
        Identity.load(o.data_dir / "identity.json", passphrase)
        service_run(
            o.data_dir, listen=listen, bootstrap=bootstrap, passphrase=passphrase, mdns=mdns
        )


def _claim(data_dir, wait: float = 10.0) -> ExitStack:
    """The data dir for this daemon, from now until it exits (``Node.open`` uses this claim);
    an offline command still running gets ``wait`` seconds to finish."""
    from node.api import DataDirBusy, claim_data_dir

    held = ExitStack()
    try:
        held.enter_context(claim_data_dir(data_dir, wait=wait))
    except DataDirBusy:
        raise UserError(
            f"another `we` process is using {data_dir}",
            hint="is a daemon already running for it? (`we status`)",
            code="data_dir_busy",
        ) from None
    return held


def _passphrase(path):
    import json

    from node.identity.keystore import PLAINTEXT, resolve_passphrase

    try:
        plaintext = json.loads(path.read_text()).get("protection") == PLAINTEXT
    except (OSError, ValueError, AttributeError):
        plaintext = False  # let Identity.load say what is wrong with the file
    return None if plaintext else resolve_passphrase(path, None, confirm=False)


def _ports_free(listen: list[str]) -> None:
    """Refuse a TCP port something already listens on. libp2p binds with SO_REUSEPORT, so a
    second daemon on a taken port used to start "fine" and share it: the kernel then handed
    each incoming connection to one of the two nodes at random. A probe without SO_REUSEPORT
    fails while any socket listens there (SO_REUSEADDR still ignores TIME_WAIT leftovers)."""
    import errno
    import socket

    for addr in listen:
        parts = addr.split("/")
        if len(parts) < 5 or parts[1] not in ("ip4", "ip6") or parts[3] != "tcp":
            continue
        host, port = parts[2], int(parts[4])
        if port == 0:
            continue
        family = socket.AF_INET if parts[1] == "ip4" else socket.AF_INET6
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    continue  # not ours to judge here (e.g. an address this machine lacks)
                raise UserError(
                    f"port {port} on {host} is already in use (another `we daemon`?)",
                    hint="give this node a port of its own: `we daemon --listen "
                    f"/{parts[1]}/{host}/tcp/PORT`, or `listen` in config.toml",
                    code="port_in_use",
                ) from None
