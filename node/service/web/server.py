"""Serve the web app with Hypercorn's trio worker inside the caller's nursery."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

log = logging.getLogger("we.web")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class WebConfigError(ValueError):
    reason = "web_config"


@dataclass(frozen=True)
class WebConfig:
    """Where the app listens. ``port=0``: any free port (the URL says which).
    ``allow_remote``: the only way to listen beyond loopback (then anyone who can reach the
    address and holds the login link can act as this member: a warning is logged)."""

    host: str = "127.0.0.1"
    port: int = 0
    allow_remote: bool = False

    def check(self) -> None:
        if not 0 <= self.port <= 65535:
            raise WebConfigError(f"web port {self.port} is not a TCP port (0..65535)")
        if not is_loopback(self.host) and not self.allow_remote:
            raise WebConfigError(
                f"the web app listens on loopback only, not on {self.host!r}: anyone on that "
                "network could reach it; set [web] allow_remote = true in config.toml if you "
                "really mean it (and put TLS in front)"
            )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def serve(
    node: Any, data_dir: Path, cfg: WebConfig, *, task_status: Any = trio.TASK_STATUS_IGNORED
) -> None:
    """Run the app until cancelled; ``task_status.started(base_url)``."""
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    from .app import create_app
    from .auth import read_or_create_token

    cfg.check()
    if not is_loopback(cfg.host):
        log.warning(
            "WARNING: the web app listens on %s, beyond this machine: anyone who can reach "
            "it and holds the login link acts as this member",
            cfg.host,
        )
    token = read_or_create_token(data_dir)
    config = Config()
    host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
    config.bind = [f"{host}:{cfg.port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("we.web.hypercorn")
    config.graceful_timeout = 1.0
    app = create_app(node, token)
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(hypercorn_serve, app, config)
        url = binds[0]
        port = url.rsplit(":", 1)[1]
        # The Host header a browser sends: what we listen on (no DNS rebinding through a
        # name that resolves to 127.0.0.1 from a hostile page).
        names = {cfg.host, host} | (
            {"127.0.0.1", "localhost"} if cfg.host == "127.0.0.1" else set()
        )
        app.state.allowed_hosts = {f"{n}:{port}" for n in names}
        if cfg.allow_remote:
            app.state.allowed_hosts = None  # the user chose the names they reach it by
        task_status.started(url + "/")
