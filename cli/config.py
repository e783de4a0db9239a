"""Where a node keeps its files, and its TOML config file.

The data dir is ``--data-dir``, else ``$WE_HOME``, else the platform's user data dir
(``~/.local/share/we`` on Linux). ``config.toml`` in it holds network settings::

    [network]
    listen = ["/ip4/0.0.0.0/tcp/4001"]
    bootstrap = ["/ip4/192.0.2.7/tcp/4001/p2p/12D3KooW..."]

    [web]
    port = 8740            # serve the web app on 127.0.0.1:8740 (0: only with `we daemon --web`)
    host = "127.0.0.1"     # anything but loopback also needs allow_remote = true (warned)
    allow_remote = false
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import bad_value

CONFIG_NAME = "config.toml"
SOCKET_NAME = "control.sock"
DEFAULT_LISTEN = ("/ip4/0.0.0.0/tcp/4001",)


def default_data_dir() -> Path:
    env = os.environ.get("WE_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs  # imported lazily: `we --help` stays fast

    return Path(platformdirs.user_data_dir("we", appauthor=False))


@dataclass
class Config:
    listen: list[str] = field(default_factory=lambda: list(DEFAULT_LISTEN))
    bootstrap: list[str] = field(default_factory=list)
    web_port: int = 0
    web_host: str = "127.0.0.1"
    web_allow_remote: bool = False

    def to_toml(self) -> str:
        def arr(xs: list[str]) -> str:
            return "[" + ", ".join(_quote(x) for x in xs) + "]"

        return (
            "# we node configuration (see `we --help`)\n"
            "[network]\n"
            f"# multiaddrs this node listens on\nlisten = {arr(self.listen)}\n"
            f"# peers dialled at start (/ip4/.../tcp/.../p2p/12D3KooW...)\nbootstrap = {arr(self.bootstrap)}\n"
            "[web]\n"
            "# the local web app: a port serves it on every start; 0 serves it only with\n"
            "# `we daemon --web` (on a free port); log in with the link `we web` prints\n"
            f"port = {self.web_port}\n"
            "# loopback only, unless allow_remote = true (then anyone who reaches it may try)\n"
            f"host = {_quote(self.web_host)}\n"
            f"allow_remote = {'true' if self.web_allow_remote else 'false'}\n"
        )


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check_addrs(addrs, where: str) -> list[str]:
    """Multiaddrs as typed (an option, the config file), refused with a message if malformed:
    a bad one used to surface as a traceback from deep inside `we daemon`."""
    import multiaddr

    for a in addrs:
        try:
            multiaddr.Multiaddr(a)
        except Exception:  # multiaddr raises several unrelated types for malformed input
            raise bad_value(
                f"{where}: {a!r} is not a multiaddr",
                "write it like /ip4/0.0.0.0/tcp/4001 (listen) or "
                "/ip4/192.0.2.7/tcp/4001/p2p/12D3KooW... (a peer)",
            ) from None
    return list(addrs)


def load_config(data_dir: Path) -> Config:
    path = data_dir / CONFIG_NAME
    if not path.exists():
        return Config()
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise bad_value(f"{path} is not valid TOML: {exc}", "fix or delete the file") from exc
    net = raw.get("network", {})
    cfg = Config()
    for name in ("listen", "bootstrap"):
        if name in net:
            value = net[name]
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise bad_value(f"{path}: network.{name} must be a list of strings")
            setattr(cfg, name, check_addrs(value, f"{path}: network.{name}"))
    web = raw.get("web", {})
    if not isinstance(web, dict):
        raise bad_value(f"{path}: [web] must be a table")
    port, host, remote = (
        web.get("port", 0),
        web.get("host", "127.0.0.1"),
        web.get("allow_remote", False),
    )
    if type(port) is not int or not 0 <= port <= 65535:
        raise bad_value(f"{path}: web.port must be a TCP port (0..65535)", "e.g. port = 8740")
    if not isinstance(host, str) or type(remote) is not bool:
        raise bad_value(f"{path}: web.host must be text and web.allow_remote true or false")
    cfg.web_port, cfg.web_host, cfg.web_allow_remote = port, host, remote
    return cfg


def save_config(data_dir: Path, cfg: Config) -> Path:
    path = data_dir / CONFIG_NAME
    path.write_text(cfg.to_toml())
    return path
