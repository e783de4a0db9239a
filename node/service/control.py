"""The daemon's local control API: JSON-RPC 2.0 over a Unix socket.

Transport
    ``<data_dir>/control.sock``, created with mode 0600 (only the node's user can talk to it);
    never a TCP port. One JSON object per line (newline-delimited JSON) in each direction; a
    connection may carry many requests, answered in order. Requests larger than 1 MiB are
    refused and the connection closed.

Encoding conventions (both directions)
    - community ids, op ids, public keys: lowercase hex strings (64 chars);
    - member ids: libp2p peer id text (``12D3KooW...``) where a field is named ``member_id``;
    - bytes inside results are hex strings; ints stay ints (no floats anywhere); a Fraction
      is the text "num/den";
    - op bodies: JSON objects; a string value ``"hex:<hex>"`` is sent as bytes.

Methods (``params`` is always an object; ``{}`` when there are none)
    status {}
        -> {"member_id", "public_key", "listen_addrs": [str], "network": bool,
            "peers": [member_id], "communities": [{"id", "name", "ops", "authors",
            "in_sync_with": int, "peers_synced": [member_id], "last_sync_ms": int|null,
            "fork_proofs": int}]}
    peers {}
        -> [{"member_id", "connected": bool, "score": int, "addrs": [str],
             "rtt_ms": int|null, "last_seen_ms": int|null}]
    connect {"addr": "/ip4/.../tcp/N/p2p/12D3KooW..."}
        -> {"member_id"}                       (then syncs every shared community)
    create_community {"charter": {...}}        (charter = body of community.create)
        -> {"community": hex, "op_id": hex}
    publish {"community": hex, "kind": str, "body": {...}, "deps": [hex, ...]}
        -> {"op_id": hex, "seq": int, "lamport": int, "kind": str}
    seal {"community": hex, "proposal": hex}
        -> {"op_ids": [hex], "heads": int}    (as a witness, seal a closed proposal naming
           every head this node holds, in parts of <= 1500 heads; the last op completes it)
    query {"view": name, "args": {...}}
        -> the view's result, JSON-shaped. ``name`` is a function of
           ``node.crdt.records.queries`` (e.g. "members", "offers", "community_info") or of
           ``node.governance`` when it exports it (e.g. "proposals", "proposal_tally");
           ``state`` and ``causal`` are filled in, ``now_ms`` defaults
           to the current time, hex strings are decoded for ``bytes`` parameters.
    follow {"community": hex}
        -> {"community": hex}                  (accept and sync a community not held yet)
    sync {"community": hex | null}
        -> {"synced": [{"community", "member_id", "ops_in", "ops_out", "ok", "reason"}]}
    communities {}
        -> [{"id", "name"}]

Errors
    JSON-RPC error objects: -32700 parse error, -32600 invalid request, -32601 unknown method,
    -32602 bad params, -32000 for everything else, with ``data`` = {"type": exception class
    name, "reason": stable code (e.g. "not_member" from a rejected op, "not_found")}.

:func:`dispatch` implements the methods on a :class:`node.api.Node` and is shared with the CLI's
in-process (offline) backend, so both give the same answers.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import trio

log = logging.getLogger("we.control")
MAX_REQUEST = 1024 * 1024
SOCKET_NAME = "control.sock"


class RpcError(Exception):
    def __init__(self, code: int, message: str, reason: str = "", type_: str = ""):
        super().__init__(message)
        self.code, self.message, self.reason, self.type = code, message, reason, type_


def to_json(x: Any) -> Any:
    """Plain data -> JSON-shaped data (bytes as hex, tuples as lists, keys as text)."""
    if isinstance(x, bytes | bytearray):
        return bytes(x).hex()
    if isinstance(x, dict):
        return {(k.hex() if isinstance(k, bytes) else str(k)): to_json(v) for k, v in x.items()}
    if isinstance(x, list | tuple | set | frozenset):
        return [to_json(v) for v in x]
    if hasattr(x, "_asdict"):
        return to_json(x._asdict())
    if isinstance(x, Fraction):
        return f"{x.numerator}/{x.denominator}"
    return x


def body_from_json(x: Any) -> Any:
    if isinstance(x, str) and x.startswith("hex:"):
        return bytes.fromhex(x[4:])
    if isinstance(x, dict):
        return {str(k): body_from_json(v) for k, v in x.items()}
    if isinstance(x, list):
        return [body_from_json(v) for v in x]
    return x


def hex_id(x: Any, name: str) -> bytes:
    try:
        b = bytes.fromhex(x)
    except (TypeError, ValueError):
        b = b""
    if len(b) != 32:
        raise RpcError(-32602, f"{name} must be 64 hex characters", "bad_params")
    return b


def _view(name: str) -> Any:
    from node.crdt.records import queries

    fn = getattr(queries, name, None)
    if fn is None:
        try:
            import node.governance as gov

            fn = getattr(gov, name, None)
        except ImportError:
            fn = None
    if fn is None or name.startswith("_") or not callable(fn):
        raise RpcError(-32602, f"unknown view {name!r}", "unknown_view")
    return fn


def run_query(store: Any, view: str, args: dict[str, Any]) -> Any:
    """Call a view with ``state`` (and ``causal``) from ``store`` filled in."""
    fn = _view(view)
    sig = inspect.signature(fn)
    kwargs: dict[str, Any] = {}
    for pname, param in sig.parameters.items():
        if pname == "state":
            kwargs[pname] = store.state
        elif pname == "causal":
            kwargs[pname] = store.causal
        elif pname in args:
            value = args[pname]
            if "bytes" in str(param.annotation) and isinstance(value, str):
                value = hex_id(value, pname)
            kwargs[pname] = value
        elif pname in ("now_ms", "now"):
            kwargs[pname] = int(time.time() * 1000)
    extra = set(args) - set(kwargs)
    if extra and not any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        raise RpcError(-32602, f"unknown argument(s) {sorted(extra)} for {view}", "bad_params")
    for k in extra:
        kwargs[k] = args[k]
    try:
        return to_json(fn(**kwargs))
    except TypeError as exc:
        raise RpcError(-32602, f"{view}: {exc}", "bad_params") from exc


async def dispatch(node: Any, method: str, params: dict[str, Any]) -> Any:
    """Run one control method on ``node`` and return its JSON-shaped result."""
    if not isinstance(params, dict):
        raise RpcError(-32602, "params must be an object", "bad_params")
    if method == "status":
        return to_json(node.status())
    if method == "peers":
        return to_json(node.peers())
    if method == "communities":
        return to_json([{"id": c["id"], "name": c["name"]} for c in node.status()["communities"]])
    if method == "connect":
        addr = params.get("addr")
        if not isinstance(addr, str):
            raise RpcError(-32602, "connect needs addr", "bad_params")
        return {"member_id": await node.connect(addr)}
    if method == "create_community":
        charter = params.get("charter")
        if not isinstance(charter, dict):
            raise RpcError(-32602, "create_community needs a charter object", "bad_params")
        cid = await node.create_community(body_from_json(charter))
        return {"community": cid.hex(), "op_id": cid.hex()}
    if method == "publish":
        c = hex_id(params.get("community"), "community")
        kind, body = params.get("kind"), params.get("body", {})
        if not isinstance(kind, str) or not isinstance(body, dict):
            raise RpcError(-32602, "publish needs kind (text) and body (object)", "bad_params")
        deps = [hex_id(d, "deps") for d in params.get("deps", [])]
        op = await node.publish(c, kind, body_from_json(body), deps=deps)
        return {"op_id": op.id.hex(), "seq": op.seq, "lamport": op.lamport, "kind": op.kind}
    if method == "seal":
        c = hex_id(params.get("community"), "community")
        ops = await node.seal(c, hex_id(params.get("proposal"), "proposal"))
        heads = sum(len(op.body["heads"]) for op in ops)
        return {"op_ids": [op.id.hex() for op in ops], "heads": heads}
    if method == "query":
        view, args = params.get("view"), params.get("args", {})
        if not isinstance(view, str) or not isinstance(args, dict):
            raise RpcError(-32602, "query needs view (text) and args (object)", "bad_params")
        return run_query(node.store, view, args)
    if method == "follow":
        c = hex_id(params.get("community"), "community")
        await node.follow(c)
        return {"community": c.hex()}
    if method == "sync":
        c = params.get("community")
        results = await node.sync_now(None if c is None else hex_id(c, "community"))
        return {"synced": to_json(results)}
    raise RpcError(-32601, f"unknown method {method!r}", "unknown_method")


def _error(req_id: Any, code: int, message: str, reason: str = "", type_: str = "") -> dict:
    data = {"type": type_, "reason": reason} if (reason or type_) else None
    err: dict[str, Any] = {"code": code, "message": message}
    if data:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": req_id, "error": err}


async def handle_line(node: Any, line: bytes) -> dict:
    try:
        req = json.loads(line)
    except ValueError:
        return _error(None, -32700, "parse error")
    if not isinstance(req, dict) or req.get("jsonrpc") != "2.0" or "method" not in req:
        return _error(req.get("id") if isinstance(req, dict) else None, -32600, "bad request")
    rid = req.get("id")
    try:
        result = await dispatch(node, str(req["method"]), req.get("params") or {})
        return {"jsonrpc": "2.0", "id": rid, "result": result}
    except RpcError as exc:
        return _error(rid, exc.code, exc.message, exc.reason, exc.type or "RpcError")
    except Exception as exc:  # a rule violation or bad input: report, never crash the daemon
        reason = getattr(exc, "reason", "") or ""
        return _error(rid, -32000, str(exc) or type(exc).__name__, reason, type(exc).__name__)


async def _serve_conn(node: Any, conn: trio.SocketStream) -> None:
    buf = bytearray()
    async with conn:
        try:
            while True:
                chunk = await conn.receive_some(65536)
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, _, rest = bytes(buf).partition(b"\n")
                    buf = bytearray(rest)
                    if line.strip():
                        resp = await handle_line(node, line)
                        await conn.send_all(json.dumps(resp).encode() + b"\n")
                if len(buf) > MAX_REQUEST:
                    await conn.send_all(
                        json.dumps(_error(None, -32600, "request too large")).encode() + b"\n"
                    )
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return


async def serve(node: Any, data_dir: Path, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Listen on ``<data_dir>/control.sock`` (mode 0600) until cancelled."""
    path = Path(data_dir) / SOCKET_NAME
    if path.exists() or path.is_symlink():
        path.unlink()
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket is born 0600: no window where others could connect
    try:
        await sock.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(16)
    listener = trio.SocketListener(sock)
    try:
        async with trio.open_nursery() as nursery:
            task_status.started(path)
            while True:
                conn = await listener.accept()
                nursery.start_soon(_serve_conn, node, conn)
    finally:
        with trio.CancelScope(shield=True):
            await listener.aclose()
        try:
            path.unlink()
        except OSError:
            pass
