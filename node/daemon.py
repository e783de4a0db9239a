"""Run a node as a foreground daemon until SIGINT/SIGTERM.

On start it prints one line ``listening <multiaddr>`` per address and writes
``<data_dir>/daemon.json`` ({"pid", "member_id", "listen_addrs", "control"}) so scripts and
tests can find it; both go away on a clean stop. A signal cancels the root nursery: every task
unwinds, the store is closed after the last write, no traceback.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import trio

INFO_FILE = "daemon.json"
LOCAL_LISTEN = ("/ip4/127.0.0.1/tcp/0",)  # where a daemon told no address listens


async def main(
    data_dir: str | Path,
    *,
    listen: Iterable[str] = (),
    bootstrap: Iterable[str] = (),
    passphrase: str | None = None,
    insecure_plaintext: bool = False,
    sync_interval: float = 10.0,
    mdns: bool = False,
    relay_service: bool = False,
    web: Any = None,
) -> None:
    from node.api import Node

    data_dir = Path(data_dir)
    info = data_dir / INFO_FILE
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def stop_on_signal() -> None:
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(stop_on_signal)
            try:
                async with Node.open(
                    data_dir,
                    passphrase=passphrase,
                    insecure_plaintext=insecure_plaintext,
                    listen=tuple(listen) or LOCAL_LISTEN,
                    bootstrap=tuple(bootstrap),
                    sync_interval=sync_interval,
                    mdns=mdns,
                    control_socket=True,
                    relay_service=relay_service,
                    web=web,
                ) as node:
                    doc = {
                        "pid": os.getpid(),
                        "member_id": node.member_id,
                        "listen_addrs": node.listen_addrs,
                        "control": str(data_dir / "control.sock"),
                    }
                    if node.web_url:
                        doc["web"] = node.web_url
                    info.write_text(json.dumps(doc) + "\n")
                    for addr in node.listen_addrs:
                        print(f"listening {addr}", flush=True)
                    print(f"member {node.member_id}", flush=True)
                    if node.web_url:
                        print(f"web {node.web_url} (log in: `we web`)", flush=True)
                    await trio.sleep_forever()
            finally:
                try:
                    info.unlink()
                except OSError:
                    pass


def run(
    data_dir: str | Path,
    *,
    listen: Iterable[str] = (),
    bootstrap: Iterable[str] = (),
    passphrase: str | None = None,
    insecure_plaintext: bool | None = None,
    sync_interval: float = 10.0,
    mdns: bool | None = None,
    relay_service: bool | None = None,
    web: Any = None,
) -> None:
    """Blocking entry point (``we daemon``). Returns after a clean stop."""
    if insecure_plaintext is None:
        insecure_plaintext = os.environ.get("WE_INSECURE_PLAINTEXT") == "1"
    if mdns is None:
        mdns = os.environ.get("WE_MDNS") == "1"
    if relay_service is None:
        relay_service = os.environ.get("WE_RELAY") == "1"
    trio.run(
        lambda: main(
            data_dir,
            listen=listen,
            bootstrap=bootstrap,
            passphrase=passphrase,
            insecure_plaintext=insecure_plaintext,
            sync_interval=sync_interval,
            mdns=mdns,
            relay_service=relay_service,
            web=web,
        )
    )
    print("stopped", flush=True)


if __name__ == "__main__":  # python -m node.daemon DATA_DIR [listen...]
    run(sys.argv[1], listen=sys.argv[2:])
