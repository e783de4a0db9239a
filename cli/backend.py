"""One way for commands to reach a node, two ways to get there.

:class:`DaemonBackend` talks JSON-RPC 2.0 to a running daemon over ``<data_dir>/control.sock``;
:class:`LocalBackend` opens the node's store in this process (no network) when no daemon
answers, so every command works offline and the daemon syncs later. Both expose the same
``call(method, params)`` with the daemon's method names and JSON-shaped results, so a
command never knows (or cares) which one it got.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

from .config import SOCKET_NAME, load_config
from .errors import EXIT_DAEMON, UserError, daemon_down, unavailable

RPC_TIMEOUT = 60.0


class Backend:
    kind = "abstract"

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass

    # conveniences used by many commands
    def query(self, view: str, **args: Any) -> Any:
        return self.call("query", {"view": view, "args": args})

    def publish(self, community: str, kind: str, body: dict[str, Any], deps=()) -> Any:
        return self.call(
            "publish", {"community": community, "kind": kind, "body": body, "deps": list(deps)}
        )


def socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


def daemon_answers(data_dir: Path) -> bool:
    path = socket_path(data_dir)
    if not path.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2.0)
            s.connect(str(path))
        return True
    except OSError:
        return False


def open_backend(data_dir: Path, *, require_daemon: bool = False) -> Backend:
    if daemon_answers(data_dir):
        return DaemonBackend(data_dir)
    if require_daemon:
        raise daemon_down(str(data_dir))
    return LocalBackend(data_dir)


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class DaemonBackend(Backend):
    kind = "daemon"

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self._ids = itertools.count(1)
        self._sock: socket.socket | None = None
        self._file = None

    def _connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(RPC_TIMEOUT)
        try:
            s.connect(str(socket_path(self.data_dir)))
        except OSError as exc:
            s.close()
            raise daemon_down(str(self.data_dir)) from exc
        self._sock = s
        self._file = s.makefile("rwb")

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        if self._sock is None:
            self._connect()
        req = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or {}}
        try:
            self._file.write(json.dumps(req).encode() + b"\n")
            self._file.flush()
            line = self._file.readline()
        except TimeoutError as exc:
            raise UserError(
                f"the daemon did not answer {method!r} within {RPC_TIMEOUT:.0f}s",
                hint="check the daemon's log; restart it with `we daemon`",
                code="daemon_timeout",
                exit_code=EXIT_DAEMON,
            ) from exc
        except OSError as exc:
            raise daemon_down(str(self.data_dir)) from exc
        if not line:
            raise UserError(
                "the daemon closed the connection",
                hint="it may have stopped; restart it with `we daemon`",
                code="daemon_not_running",
                exit_code=EXIT_DAEMON,
            )
        resp = json.loads(line)
        if "error" in resp and resp["error"] is not None:
            raise rpc_error_to_user(resp["error"], method)
        return resp.get("result")

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._file.close()
                self._sock.close()
            finally:
                self._sock = None


def rpc_error_to_user(err: dict[str, Any], method: str) -> UserError:
    """The daemon reports rule violations and bad arguments as JSON-RPC errors."""
    from .errors import EXIT_DENIED, EXIT_NOT_FOUND, EXIT_UNAVAILABLE, EXIT_USAGE

    code = err.get("code", -32000)
    data = err.get("data") or {}
    reason = data.get("reason") if isinstance(data, dict) else None
    message = err.get("message") or "daemon error"
    hint = data.get("hint", "") if isinstance(data, dict) else ""
    exit_code = 1
    if code == -32601:
        return unavailable(f"the daemon's {method!r} method", message)
    if code in (-32602,):
        exit_code = EXIT_USAGE
    kind = (data.get("type") if isinstance(data, dict) else None) or ""
    if reason in ("not_member", "forbidden", "not_allowed") or kind == "Rejected":
        exit_code = EXIT_DENIED
        message = f"the community's rules reject this: {message}"
    elif reason in ("not_found", "unknown") or "not found" in message.lower():
        exit_code = EXIT_NOT_FOUND
    elif reason == "not_available":
        exit_code = EXIT_UNAVAILABLE
    return UserError(message, hint=hint, code=reason or f"rpc_{code}", exit_code=exit_code)


class LocalBackend(Backend):
    """Opens the node in this process without networking, on a private trio loop thread."""

    kind = "local"

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self._thread: threading.Thread | None = None
        self._token = None
        self._node = None
        self._stop = None
        self._error: BaseException | None = None

    def _start(self) -> None:
        try:
            import trio

            from node import Node  # noqa: F401  (checked here for a clear message)
        except ImportError as exc:
            raise unavailable("the node library (node.api)", str(exc)) from exc
        ready = threading.Event()

        async def run() -> None:
            from node import Node

            try:
                async with Node.open(
                    self.data_dir,
                    insecure_plaintext=_plaintext_ok(self.data_dir),
                    network=False,
                ) as node:
                    self._node = node
                    self._token = trio.lowlevel.current_trio_token()
                    self._stop = trio.Event()
                    ready.set()
                    await self._stop.wait()
            except BaseException as exc:  # reported to the calling thread
                self._error = exc
                ready.set()

        self._thread = threading.Thread(target=trio.run, args=(run,), daemon=True)
        self._thread.start()
        ready.wait()
        if self._error is not None:
            raise self._error

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        if self._node is None:
            self._start()
        import trio

        from .local_dispatch import dispatch

        return trio.from_thread.run(
            dispatch, self._node, method, params or {}, trio_token=self._token
        )

    def close(self) -> None:
        if self._node is not None:
            import trio

            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
            self._thread.join()
            self._node = None


def _plaintext_ok(data_dir: Path) -> bool:
    return os.environ.get("WE_INSECURE_PLAINTEXT") == "1"


def network_settings(data_dir: Path) -> tuple[list[str], list[str]]:
    cfg = load_config(data_dir)
    return cfg.listen, cfg.bootstrap
