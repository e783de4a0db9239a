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
