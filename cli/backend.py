"""One way for commands to reach a node, two ways to get there.

:class:`DaemonBackend` talks JSON-RPC 2.0 to a running daemon over ``<data_dir>/control.sock``;
:class:`LocalBackend` opens the node in this process without networking when no daemon
answers, so every command works offline and the daemon syncs later. Both send the very same
JSON-RPC request and the local one answers it with the daemon's own request handler
(``node.service.control.answer``), so results and errors are identical either way; a
command never knows which backend it got.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
from pathlib import Path
from typing import Any

from .config import SOCKET_NAME
from .errors import EXIT_DAEMON, UserError, daemon_down, unavailable
from .rpc_errors import rpc_error_to_user

RPC_TIMEOUT = 120.0
KEY_FILE = "identity.json"


def to_wire(x: Any) -> Any:
    """Op bodies on the control API: bytes travel as "hex:<hex>" strings."""
    if isinstance(x, bytes):
        return "hex:" + x.hex()
    if isinstance(x, dict):
        return {k: to_wire(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_wire(v) for v in x]
    return x


class Backend:
    kind = "abstract"

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self._ids = itertools.count(1)

    def _exchange(self, line: bytes) -> bytes:
        raise NotImplementedError

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        if method == "create_community":
            from .validate import check_body

            check_body((params or {}).get("charter", {}))
        req = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or {}}
        resp = json.loads(self._exchange(json.dumps(req).encode()))
        err = resp.get("error")
        if err:
            raise rpc_error_to_user(err, method, params or {})
        return resp.get("result")

    def close(self) -> None:
        pass

    # conveniences used by many commands
    def query(self, view: str, **args: Any) -> Any:
        args = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in args.items()}
        return self.call("query", {"view": view, "args": args})

    def publish(self, community: str, kind: str, body: dict[str, Any], deps=()) -> dict:
        from .validate import check_body

        check_body(body)  # before anything is signed: unsafe text never leaves this node
        params = {"community": community, "kind": kind, "body": to_wire(body), "deps": list(deps)}
        return self.call("publish", params)


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


def require_identity(data_dir: Path) -> None:
    if not (data_dir / KEY_FILE).exists():
        raise UserError(
            f"no identity in {data_dir}",
            hint="create one with `we init` (or pass --data-dir / set WE_HOME)",
            code="no_identity",
        )


def open_backend(data_dir: Path, *, require_daemon: bool = False, wait: float = 10.0) -> Backend:
    """The daemon when it answers; else the node opened here, offline. ``Node.open`` holds the
    data dir's lock (``node.lock``) while it is open, so this never writes a store that a
    daemon holds: when the lock is taken but no socket answers yet, a daemon is starting (or
    another command runs), and we wait for it."""
    import time

    require_identity(data_dir)
    deadline = time.monotonic() + wait
    while True:
        if daemon_answers(data_dir):
            return DaemonBackend(data_dir)
        if require_daemon:
            raise daemon_down(str(data_dir))
        local = LocalBackend(data_dir)
        if local.start():
            return local
        if time.monotonic() > deadline:
            raise UserError(
                f"another `we` process holds {data_dir} but its daemon does not answer",
                hint="wait a moment and retry, or stop that process",
                code="daemon_not_answering",
                exit_code=EXIT_DAEMON,
            )
        time.sleep(0.2)


class Dropped(Exception):
    """The daemon dropped this subscription (the reader fell too far behind)."""


def subscribe(data_dir: Path, params: dict[str, Any], timeout: float | None = None):
    """Events from the daemon as they happen (control method ``subscribe``): yields each
    event's params (a dict), or ``None`` when ``timeout`` seconds pass without one (so a
    caller can look at its clock). Raises :class:`Dropped` with the daemon's message when it
    dropped this reader, and the usual daemon errors when there is no daemon. The socket is
    closed when the generator is."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(RPC_TIMEOUT)
        try:
            s.connect(str(socket_path(data_dir)))
        except OSError as exc:
            raise daemon_down(str(data_dir)) from exc
        req = {"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": params}
        s.sendall(json.dumps(req).encode() + b"\n")
        lines = _lines(s)
        first = json.loads(next(lines) or b"{}")
        if first.get("error"):
            raise rpc_error_to_user(first["error"], "subscribe", params)
        s.settimeout(timeout)
        for line in lines:
            if line is None:
                yield None
                continue
            if not line:
                raise UserError(
                    "the daemon closed the event stream",
                    hint="it may have stopped; restart it with `we daemon`",
                    code="daemon_not_running",
                    exit_code=EXIT_DAEMON,
                )
            try:
                msg = json.loads(line)
            except ValueError:
                continue  # a line cut short before a drop notice
            if msg.get("method") == "dropped":
                raise Dropped(msg.get("params", {}).get("message", "dropped by the daemon"))
            if msg.get("method") == "event":
                yield msg.get("params") or {}
    finally:
        s.close()


def _lines(s: socket.socket):
    """Lines from ``s`` (without the newline); ``None`` when its timeout passed with no whole
    line, ``b""`` once at the end (a file object cannot go on after a timeout)."""
    buf = b""
    while True:
        end = buf.find(b"\n")
        if end >= 0:
            line, buf = buf[:end], buf[end + 1 :]
            if line.strip():
                yield line
            continue
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            yield None
            continue
        if not chunk:
            yield b""
            return
        buf += chunk


class DaemonBackend(Backend):
    kind = "daemon"

    def __init__(self, data_dir: Path):
        super().__init__(data_dir)
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

    def _exchange(self, line: bytes) -> bytes:
        if self._sock is None:
            self._connect()
        try:
            self._file.write(line + b"\n")
            self._file.flush()
            answer = self._file.readline()
        except TimeoutError as exc:
            raise UserError(
                f"the daemon did not answer within {RPC_TIMEOUT:.0f}s",
                hint="check the daemon's output; restart it with `we daemon`",
                code="daemon_timeout",
                exit_code=EXIT_DAEMON,
            ) from exc
        except OSError as exc:
            raise daemon_down(str(self.data_dir)) from exc
        if not answer:
            raise UserError(
                "the daemon closed the connection",
                hint="it may have stopped; restart it with `we daemon`",
                code="daemon_not_running",
                exit_code=EXIT_DAEMON,
            )
        return answer

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._file.close()
                self._sock.close()
            finally:
                self._sock = None


# Control methods that sign (or act as this member on the network): the offline backend
# asks for the passphrase only when a command calls one of them.
SIGNING = frozenset({"publish", "create_community", "seal", "connect", "follow", "sync"})


class LocalBackend(Backend):
    """Opens the node in this process (``network=False``) on a private trio thread and answers
    each request with the daemon's own handler. An encrypted key is unlocked only for a
    method that signs: reading (status, lists) needs no passphrase."""

    kind = "local"

    def __init__(self, data_dir: Path):
        super().__init__(data_dir)
        self._thread: threading.Thread | None = None
        self._token = None
        self._node = None
        self._stop = None
        self._error: BaseException | None = None

    def start(self) -> bool:
        """Open the node; False if another process holds the data dir (``DataDirBusy``)."""
        try:
            import trio

            from node.api import DataDirBusy, Node
            from node.service.control import answer  # noqa: F401  (fail early, clearly)
        except ImportError as exc:
            raise unavailable("the node library (node.api)", str(exc)) from exc
        ready = threading.Event()

        async def run() -> None:
            try:
                async with Node.open(self.data_dir, network=False, unlock=False) as node:
                    self._node = node
                    self._token = trio.lowlevel.current_trio_token()
                    self._stop = trio.Event()
                    ready.set()
                    await self._stop.wait()
            except BaseException as exc:  # handed to the calling thread
                self._error = exc
            finally:
                ready.set()

        self._thread = threading.Thread(target=trio.run, args=(run,), daemon=True)
        self._thread.start()
        ready.wait()
        if self._node is None:
            self._thread.join()
            if isinstance(self._error, DataDirBusy):
                self._error = None
                return False
            raise self._error or RuntimeError("the node did not open")
        return True

    def _exchange(self, line: bytes) -> bytes:
        if self._node is None and not self.start():
            raise UserError(f"another `we` process holds {self.data_dir}", code="data_dir_busy")
        import trio

        from node.service.control import answer

        if getattr(self._node, "locked", False) and json.loads(line).get("method") in SIGNING:
            self._unlock()
        return trio.from_thread.run(answer, self._node, line, trio_token=self._token)

    def _unlock(self) -> None:
        """Ask for the passphrase (or take WE_PASSPHRASE) here, in the calling thread: the
        prompt is the terminal's, and a wrong passphrase is the usual exit 6."""
        import trio

        from node.identity import Identity

        from .daemon_run import _passphrase

        path = self.data_dir / KEY_FILE
        identity = Identity.load(path, _passphrase(path))
        trio.from_thread.run_sync(self._node.unlock, identity, trio_token=self._token)

    def close(self) -> None:
        if self._node is not None:
            import trio

            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
            self._thread.join()
            self._node = None
        if self._error is not None and not isinstance(self._error, Exception):
            raise self._error
