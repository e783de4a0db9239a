"""`we daemon`: run the node service in the foreground until Ctrl-C / SIGTERM."""

from __future__ import annotations

from .config import load_config
from .errors import unavailable


def run_daemon(o, listen: list[str], bootstrap: list[str]) -> None:
    cfg = load_config(o.data_dir)  # a broken config is reported before anything starts
    listen = listen or cfg.listen
    bootstrap = list(dict.fromkeys([*cfg.bootstrap, *bootstrap]))
    try:
        from node.service import run as service_run  # the daemon entry point
    except ImportError as exc:
        raise unavailable("the daemon (node.service)", str(exc)) from exc
    service_run(o.data_dir, listen=listen, bootstrap=bootstrap)
