"""The daemon's local control API: JSON-RPC 2.0 over a Unix socket.

Transport
    ``<data_dir>/control.sock``, created with mode 0600 (only the node's user can talk to it);
    never a TCP port. One JSON object per line (newline-delimited JSON, UTF-8) in each
    direction; a connection may carry many requests, answered in order. Bounds: a request line
    holds at most 1 MiB (``MAX_REQUEST``; a longer one is answered with a ``too_large`` error
    and, when no newline came within the bound, the connection closed) and nests at most 64
    arrays/objects (``MAX_DEPTH``). Every line gets an answer and no request ends the daemon.

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
        -> the view's result, JSON-shaped. ``name`` is a public function of a records
           view module (e.g. "members", "community_info" in ``node.crdt.records.queries``,
           "offers" in ``listing_views``) or of ``node.governance`` (e.g. "proposals", "proposal_tally") whose first parameter is
           ``state`` (:func:`views`); ``state`` and ``causal`` are filled in, ``now_ms``
           defaults to the current time, hex strings are decoded for ``bytes`` parameters,
           and an argument of the wrong JSON type is refused (``bad_params``).
    follow {"community": hex}
        -> {"community": hex}                  (accept and sync a community not held yet)
    export_ops {"community": hex, "after": {"author": hex, "seq": int} | null, "limit": int}
        -> {"ops": [hex], "fork_proofs": [hex], "next": {"author", "seq"} | null}
           (the exact signed ops, author by author in seq order, at most ``limit`` <= 5000 a
           page; ``next`` is where the following page starts; fork proofs on the first page)
    import_ops {"ops": [hex]}
        -> {"statuses": {status: count}, "outcomes": [[id hex, status, reason]],
            "communities": [hex]}   (ingested like synced ops: every rule applies; a
           community not followed yet is followed; calls within ``IMPORT_LINGER`` s of each
           other share commits, made once they stop; ``outcomes`` in the order of ``ops``,
           the id "" for an op that does not decode)
    op_status {"ids": [hex]}
        -> {"statuses": [status | null]}   (applied, rejected, void or pending now; null for
           an op this node does not hold; at most 5000 ids a call)
    block {"member_id": str, "undo": bool}
        -> {"member_id", "blocked": bool, "changed": bool}
                                (cut a peer off / let it back; kept in <data_dir>/blocked.json)
    blocked {} -> {"blocked": [member_id]}
    unfollow {"community": hex}
        -> {"community": hex, "was_followed": bool}   (stop syncing it; its ops stay stored)
    sync {"community": hex | null}
        -> {"synced": [{"community", "member_id", "ops_in", "ops_out", "ok", "reason"}]}
    communities {}
        -> [{"id", "name"}]
    subscribe {"community": hex | null, "events": [str] | null}
        -> {"subscribed": true, "queue": int}, then the connection is an event stream: the
           daemon pushes one JSON-RPC notification a line as things happen,
           {"jsonrpc": "2.0", "method": "event", "params": EVENT}, where EVENT is
           {"event": "op" | "fork" | "synced" | "sync_progress" | "peer_connected" |
            "peer_disconnected", "community": hex | null, "op_id": hex | null,
            "op_kind": str | null, "peer": member_id | null, "author": hex | null,
            "ts": int | null, "summary": str | null, "status": str | null,
            "done": int | null, "expected": int | null}
           (``author``, ``ts``, ``status`` (applied, void, rejected...) and ``summary``, the
           op's title or name or note, for op and fork events; ``done``/``expected`` ops for sync_progress), filtered by community
           and event names when given. Each client has a queue of ``queue`` events: one that
           reads too slowly is dropped with {"jsonrpc": "2.0", "method": "dropped",
           "params": {"reason": "slow_reader", "message"}} and the connection closed; the
           daemon never waits for it. Lines the client sends after subscribing are ignored;
           closing the connection ends the subscription. Daemon only (the offline backend
           answers ``bad_params``).

Errors
    JSON-RPC error objects: -32700 parse error, -32600 invalid request, -32601 unknown method,
    -32602 bad params, -32603 internal error (a result JSON cannot hold: a bug, logged once;
    the message names the method), -32000 for everything else, with ``data`` = {"type":
    exception class name, "reason": stable code, "hint"?: what to do, when the node says}. Reasons of the request checks: "parse_error",
    "not_utf8" (-32700), "too_large", "too_deep", "bad_request" (-32600), "bad_params"
    (-32602), "unknown_method", "unknown_view", "internal"; of rules, e.g. "not_member" from a
    rejected op, "not_found". The id is echoed when the request had a readable one, else null.

:func:`dispatch` implements the methods on a :class:`node.api.Node` and is shared with the CLI's
in-process (offline) backend, so both give the same answers.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import re
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import trio

log = logging.getLogger("we.control")
MAX_REQUEST = 1024 * 1024  # bytes in one request line
IMPORT_LINGER = 2.0  # seconds an import call's commit waits for the next call's
MAX_DEPTH = 64  # arrays/objects nested in one request (an op body needs far fewer)
SOCKET_NAME = "control.sock"
METHODS = (
    "status",
    "peers",
    "communities",
    "connect",
    "create_community",
    "publish",
    "seal",
    "query",
    "follow",
    "unfollow",
    "block",
    "blocked",
    "export_ops",
    "import_ops",
    "op_status",
    "sync",
    "adopt_chain",
    "subscribe",
)
MAX_EXPORT_PAGE = 5000
SUBSCRIBER_QUEUE = 1024  # events a subscriber may leave unread before it is dropped
DROP_GRACE = 5.0  # seconds a dropped subscriber has to take the notice before the close
EVENTS = ("op", "fork", "synced", "sync_progress", "peer_connected", "peer_disconnected")
SUMMARY_FIELDS = ("title", "name", "display_name", "verdict", "status", "note", "text")


class RpcError(Exception):
    def __init__(self, code: int, message: str, reason: str = "", type_: str = ""):
        super().__init__(message)
        self.code, self.message, self.reason, self.type = code, message, reason, type_


_AS_IS = frozenset((str, int, bool, float, type(None)))


def to_json(x: Any) -> Any:
    """Plain data -> JSON-shaped data (bytes as hex, tuples as lists, keys as text)."""
    if type(x) in _AS_IS:  # leaves first: a list view has ~10^5 of them
        return x
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


@functools.cache
def views() -> dict[str, Any]:
    """The views ``query`` serves: the public functions defined in the records' view modules
    (``queries``, ``listing_views``, ``views``, ``discussion``) and those ``node.governance``
    exports, whose first parameter is ``state`` (helpers, classes and what the records' modules import from
    elsewhere are not views)."""
    from node.crdt.records import discussion, listing_views, queries
    from node.crdt.records import views as shaped

    found: dict[str, Any] = {}
    modules: list[tuple[Any, bool]] = [
        (queries, True),
        (listing_views, True),
        (shaped, True),
        (discussion, True),
    ]
    try:
        import node.governance as gov

        modules.append((gov, False))  # its package exports the views of its modules
    except ImportError:
        pass
    for module, own in modules:
        for name, fn in vars(module).items():
            if name.startswith("_") or name in found or not inspect.isfunction(fn):
                continue
            if own and fn.__module__ != module.__name__:
                continue
            params = list(inspect.signature(fn).parameters.values())
            if params and params[0].name == "state" and all(map(_servable, params[1:])):
                found[name] = fn
    return found


def _json_types(param: inspect.Parameter) -> tuple[type, ...] | None:
    """The JSON types an argument may have, from the names in the parameter's annotation;
    None when it names anything JSON cannot carry (State, Mapping, Electorate) or nothing."""
    if param.annotation is param.empty:
        return None
    ann = param.annotation
    names = re.findall(r"\w+", ann if isinstance(ann, str) else getattr(ann, "__name__", ""))
    if not names or any(n not in _JSON_TYPES for n in names):
        return None
    allowed = tuple(t for n in names for t in _JSON_TYPES[n])
    return allowed + (type(None),) if param.default is None else allowed


def _servable(param: inspect.Parameter) -> bool:
    """A view is served when the control API can fill each parameter it requires."""
    return (
        param.name in ("causal", "now_ms", "now")
        or param.kind is param.VAR_KEYWORD
        or param.default is not param.empty
        or _json_types(param) is not None
    )


def _view(name: str) -> Any:
    fn = views().get(name)
    if fn is None:
        raise RpcError(-32602, f"unknown view {name!r}", "unknown_view")
    return fn


# JSON types of view arguments, by the type names in a parameter's annotation.
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "bytes": (str, bytes),  # hex over the socket; bytes from an embedder (Node.query)
    "int": (int,),
    "str": (str,),
    "bool": (bool,),
    "None": (type(None),),
    "MemberRef": (str, bytes),  # a public key (hex) or a member id
    "Iterable": (list,),
}


def _check_arg(view: str, param: inspect.Parameter, value: Any) -> Any:
    """Refuse an argument of a type the view does not take, or one JSON cannot express
    (the view's default is used for those); decode hex for ``bytes`` parameters."""
    allowed = _json_types(param)
    if allowed is None:
        raise RpcError(
            -32602, f"{view}: {param.name} cannot be given over the control API", "bad_params"
        )
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        ann = param.annotation if isinstance(param.annotation, str) else str(param.annotation)
        want = ann.replace("bytes", "hex").replace("MemberRef", "member")
        raise RpcError(-32602, f"{view}: {param.name} must be {want}", "bad_params")
    if "bytes" in str(param.annotation) and isinstance(value, str):
        value = hex_id(value, param.name)
    return value


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
            kwargs[pname] = _check_arg(view, param, args[pname])
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


def _check_multiaddr(addr: str) -> None:
    try:
        from multiaddr import Multiaddr
    except ImportError:  # no libp2p here: the node refuses to connect anyway
        return
    try:
        ok = "/p2p/" in str(Multiaddr(addr))
    except Exception as exc:  # the parser raises several kinds
        raise RpcError(
            -32602, f"connect: {addr!r} is not a multiaddr ({exc})", "bad_params"
        ) from None
    if not ok:
        raise RpcError(-32602, "connect: the address must end in /p2p/<member id>", "bad_params")


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
        _check_multiaddr(addr)  # before the peer book keeps it as a dial target
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
        deps = params.get("deps", [])
        if not isinstance(deps, list):
            raise RpcError(-32602, "deps must be a list of op ids (hex)", "bad_params")
        deps = [hex_id(d, "deps") for d in deps]
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
    if method == "block":
        peer, undo = params.get("member_id"), params.get("undo", False)
        if not isinstance(peer, str) or not peer.startswith("12D3KooW") or type(undo) is not bool:
            raise RpcError(-32602, "block needs member_id (12D3KooW...) and undo", "bad_params")
        if undo:
            was = node.unblock(peer)
        else:
            was = peer in node.blocked()
            await node.block(peer)
        return {"member_id": peer, "blocked": not undo, "changed": was == undo}
    if method == "blocked":
        return {"blocked": node.blocked()}
    if method == "subscribe":  # valid ones became a stream in _serve_conn, before this
        _filters(params)  # the error of bad params
        raise RpcError(-32602, "subscribe streams events from a running daemon only", "bad_params")
    if method == "export_ops":
        return _export_ops(node.store, params)
    if method == "import_ops":
        return await _import_ops(node, params)
    if method == "op_status":
        return _op_status(node.store, params)
    if method == "unfollow":
        c = hex_id(params.get("community"), "community")
        return {"community": c.hex(), "was_followed": node.unfollow(c)}
    if method == "sync":
        c = params.get("community")
        results = await node.sync_now(None if c is None else hex_id(c, "community"))
        return {"synced": to_json(results)}
    if method == "adopt_chain":
        node.adopt_chain()
        return node.guard.status()
    raise RpcError(-32601, f"unknown method {method!r}", "unknown_method")


def _export_ops(store: Any, params: dict[str, Any]) -> dict:
    c = hex_id(params.get("community"), "community")
    limit, after = params.get("limit", 1000), params.get("after")
    if type(limit) is not int or not 1 <= limit <= MAX_EXPORT_PAGE:
        raise RpcError(-32602, f"limit must be 1..{MAX_EXPORT_PAGE}", "bad_params")
    start_author, start_seq = b"", 1
    if after is not None:
        if not isinstance(after, dict) or type(after.get("seq")) is not int:
            raise RpcError(-32602, "after must be {author, seq} from a previous page", "bad_params")
        start_author, start_seq = hex_id(after.get("author"), "after.author"), after["seq"]
    ops: list[str] = []
    nxt = None
    for author in sorted(a for a in store.heights(c) if a >= start_author):
        first = start_seq if author == start_author else 1
        raws = store.raw_from(c, author, first, limit - len(ops) + 1)
        take = raws[: limit - len(ops)]
        ops += [r.hex() for r in take]
        if len(raws) > len(take):
            nxt = {"author": author.hex(), "seq": first + len(take)}
            break
    proofs = [p.encode().hex() for p in store.fork_proofs(c)] if after is None else []
    return {"ops": ops, "fork_proofs": proofs, "next": nxt}


async def _import_ops(node: Any, params: dict[str, Any]) -> dict:
    from node.crdt.op import decode_op
    from node.crdt.replica import INVALID

    raws = params.get("ops")
    if not isinstance(raws, list) or not all(isinstance(x, str) for x in raws):
        raise RpcError(-32602, "import_ops needs ops: a list of hex strings", "bad_params")
    try:
        data = [bytes.fromhex(x) for x in raws]
    except ValueError:
        raise RpcError(-32602, "an op is not hex", "bad_params") from None
    counts: dict[str, int] = {}
    outcomes = []
    communities = set()
    # `we import` sends a file a MiB at a time: the calls share commits (``Store.linger``), or
    # at a million ops each call rewrote pages all over the state (~190 KB written an op)
    node.store.linger(IMPORT_LINGER)
    for raw, outcome in zip(data, node.store.ingest(data), strict=True):
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        outcomes.append([outcome.op_id.hex(), outcome.status, outcome.reason])
        if outcome.status != INVALID:  # a forged op names any community: none is followed
            communities.add(decode_op(raw, verify=False).community_id)
    for c in sorted(communities):
        await node.follow(c)
    return {
        "statuses": counts,
        "outcomes": outcomes,
        "communities": sorted(c.hex() for c in communities),
    }


def _op_status(store: Any, params: dict[str, Any]) -> dict:
    """What became of ops: an op pending after one import call may be applied by the next
    (its deps came later in the file), so the caller asks once all calls are done."""
    ids = params.get("ids")
    if not isinstance(ids, list) or len(ids) > MAX_EXPORT_PAGE:
        raise RpcError(-32602, f"op_status needs ids: a list of 0..{MAX_EXPORT_PAGE}", "bad_params")
    found = [store.status(hex_id(x, "id")) for x in ids]
    return {"statuses": [None if f is None else f[0] for f in found]}


def _error(
    req_id: Any, code: int, message: str, reason: str = "", type_: str = "", hint: str = ""
) -> dict:
    data: dict[str, str] | None = {"type": type_, "reason": reason} if (reason or type_) else None
    if data is not None and hint:
        data["hint"] = hint
    err: dict[str, Any] = {"code": code, "message": message}
    if data:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": req_id, "error": err}


_STRING = re.compile(rb'"[^"]*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def nesting(line: bytes) -> int | None:
    """How deep arrays and objects nest in the UTF-8 ``line`` (counting no further than
    MAX_DEPTH + 1; a longer run of openers counts as too deep, balanced or not), or None when
    its brackets do not balance (then it is not JSON). Found
    without parsing, so that a hostile line never reaches the recursive JSON decoder: escapes
    and strings are cut out, the brackets kept, and each pass removes the innermost pairs
    (byte operations only; in UTF-8 no multi-byte character holds an ASCII byte)."""
    s = line.replace(b"\\\\", b"").replace(b'\\"', b"")  # then no quote is escaped
    s = _STRING.sub(b"", s).translate(None, _NOT_BRACKET).replace(b"{", b"[").replace(b"}", b"]")
    depth = 0
    while s and depth <= MAX_DEPTH:
        if b"[" * (MAX_DEPTH + 1 - depth) in s:  # a chain of openers too long to close in bound
            return MAX_DEPTH + 1
        inner = s.replace(b"[]", b"")
        if len(inner) == len(s):
            return None
        s, depth = inner, depth + 1
    return depth


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_request(line: bytes) -> dict[str, Any]:
    """One request line -> the request object, or RpcError saying what is wrong with it."""
    if len(line) > MAX_REQUEST:
        raise RpcError(
            -32600, f"request too large: at most {MAX_REQUEST} bytes a line", "too_large"
        )
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RpcError(
            -32700, f"parse error: the request is not UTF-8 ({exc})", "not_utf8"
        ) from None
    depth = nesting(line)
    if depth is None:
        raise RpcError(-32700, "parse error: brackets do not balance", "parse_error")
    if depth > MAX_DEPTH:
        raise RpcError(-32600, f"request nests deeper than {MAX_DEPTH} arrays/objects", "too_deep")
    try:
        req = json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:  # RecursionError: belt and braces
        raise RpcError(-32700, f"parse error: {exc}", "parse_error") from None
    if not isinstance(req, dict):
        raise RpcError(-32600, "bad request: send one JSON object a line", "bad_request")
    return req


def method_params(req: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    method, params = req.get("method"), req.get("params")
    if req.get("jsonrpc") != "2.0" or not isinstance(method, str):
        raise RpcError(
            -32600,
            'bad request: needs "jsonrpc": "2.0" and a "method" text',
            "bad_request",
        )
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RpcError(-32602, "params must be an object", "bad_params")
    return method, params


_logged: set[tuple[str, str]] = set()


def _log_once(what: str, exc: BaseException) -> None:
    """A bug in the node, logged with its traceback the first time per (request, error type)
    so that a client repeating the request cannot flood the log."""
    key = (what, type(exc).__name__)
    if key in _logged or len(_logged) >= 256:
        log.debug("%s failed again: %r", what, exc)
        return
    _logged.add(key)
    log.error("control request %s failed (the node keeps running)", what, exc_info=exc)


async def answer(node: Any, line: bytes) -> bytes:
    """The encoded JSON-RPC response to one request line. Never raises (cancellation aside):
    whatever the line holds and whatever the method does, the answer is a response."""
    rid: Any = None
    what = "request"
    try:
        req = parse_request(line)
        rid = req.get("id")
        method, params = method_params(req)
        what = method
        if method == "query" and isinstance(params.get("view"), str):
            what = f"query {params['view']!r}"
        resp: dict = {"jsonrpc": "2.0", "id": rid, "result": await dispatch(node, method, params)}
    except RpcError as exc:
        resp = _error(rid, exc.code, exc.message, exc.reason, exc.type or "RpcError")
    except Exception as exc:  # a rule violation or bad input: report, never crash the daemon
        reason = getattr(exc, "reason", "")
        if not isinstance(reason, str) or not reason:  # not a rule's verdict: a bug to see
            reason = ""
            _log_once(what, exc)
        hint = getattr(exc, "hint", "")  # what to do, where the node knows (standing.py)
        hint = hint if isinstance(hint, str) else ""
        resp = _error(rid, -32000, str(exc) or type(exc).__name__, reason, type(exc).__name__, hint)
    try:
        return json.dumps(resp).encode()
    except Exception as exc:  # a result JSON cannot hold (the id came from JSON: it can)
        _log_once(what, exc)
        msg = f"{what}: internal error, the result cannot be encoded as JSON ({exc})"
        return json.dumps(_error(rid, -32603, msg, "internal", type(exc).__name__)).encode()


async def _serve_conn(node: Any, conn: trio.SocketStream) -> None:
    """Answer the requests of one connection in order until it closes. A line longer than
    MAX_REQUEST is answered with an error and the connection closed (the rest of that line
    cannot be told from new requests); nothing a client sends ends the daemon."""
    buf = bytearray()
    async with conn:
        try:
            while True:
                chunk = await conn.receive_some(65536)
                if not chunk:
                    return
                start = len(buf)
                buf += chunk
                begin = 0
                while (end := buf.find(b"\n", max(begin, start))) >= 0:
                    line, begin, start = bytes(buf[begin:end]), end + 1, end + 1
                    if not line.strip():
                        continue
                    sub = _subscription(line)
                    if sub is not None:  # the connection becomes the event stream
                        await _stream_events(node, conn, *sub)
                        return
                    await conn.send_all(await answer(node, line) + b"\n")
                del buf[:begin]
                if len(buf) > MAX_REQUEST:
                    await conn.send_all(await answer(node, bytes(buf)) + b"\n")
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        except Exception as exc:  # a bug here must cost one connection, never the daemon
            _log_once("connection", exc)


def _subscription(line: bytes) -> tuple[Any, bytes | None, frozenset[str]] | None:
    """(id, community, event names) when ``line`` is a valid subscribe request; anything
    else, a subscribe with bad params included, is answered by :func:`answer` (the
    connection stays a request connection)."""
    try:
        req = parse_request(line)
        method, params = method_params(req)
        if method != "subscribe":
            return None
        return (req.get("id"), *_filters(params))
    except Exception:  # answered (as an error) by answer(), like any other request
        return None


def _filters(params: dict) -> tuple[bytes | None, frozenset[str]]:
    c = params.get("community")
    community = None if c is None else hex_id(c, "community")
    names = params.get("events")
    if names is None:
        return community, frozenset(EVENTS)
    if not (isinstance(names, list) and all(type(n) is str and n in EVENTS for n in names)):
        raise RpcError(-32602, f"events must be a list of {list(EVENTS)}", "bad_params")
    return community, frozenset(names)


def event_json(node: Any, ev: Any) -> dict:
    """One Event as the subscribe stream sends it (see the module doc)."""
    out = {
        "event": ev.kind,
        "community": ev.community.hex() if ev.community else None,
        "op_id": ev.op_id.hex() if ev.op_id else None,
        "op_kind": ev.op_kind,
        "peer": ev.peer,
        "author": None,
        "ts": None,
        "summary": None,
        "status": None,
        "done": ev.done,
        "expected": ev.expected,
    }
    if ev.op_id is not None:
        op = node.store.get_op(ev.op_id)
        if op is not None:
            out["author"], out["ts"] = op.author.hex(), op.ts
            status = node.store.status(ev.op_id)
            out["status"] = status[0] if status else None
            body = op.body if isinstance(op.body, dict) else {}
            words = [body.get(f) for f in SUMMARY_FIELDS]
            words += [
                v.get(f) for v in [body.get("set")] if isinstance(v, dict) for f in SUMMARY_FIELDS
            ]
            out["summary"] = next((w[:200] for w in words if isinstance(w, str) and w), None)
    return out


async def _stream_events(
    node: Any, conn: trio.SocketStream, rid: Any, community: bytes | None, names: frozenset
) -> None:
    """Serve one ``subscribe``: push each matching event as a line until the client closes
    the connection or falls ``SUBSCRIBER_QUEUE`` events behind (then it is told, and the
    connection closed). The node's ``emit`` never waits on this task."""
    sub = node.service.subscribe_or_drop(SUBSCRIBER_QUEUE)
    ok = {"jsonrpc": "2.0", "id": rid, "result": {"subscribed": True, "queue": SUBSCRIBER_QUEUE}}
    async with sub.recv:
        await conn.send_all(json.dumps(ok).encode() + b"\n")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_until_eof, conn, nursery.cancel_scope)
            async for ev in sub.recv:
                if ev.kind not in names or (community is not None and ev.community != community):
                    continue
                note = {"jsonrpc": "2.0", "method": "event", "params": event_json(node, ev)}
                with trio.move_on_after(DROP_GRACE):  # the queue fills meanwhile: dropped
                    await conn.send_all(json.dumps(note).encode() + b"\n")
                    continue
                sub.overflowed = True  # the client stopped reading altogether
                break
            if sub.overflowed:
                message = (
                    f"this watcher fell more than {SUBSCRIBER_QUEUE} events behind and was "
                    "dropped: subscribe again (e.g. run `we watch` again)"
                )
                drop = {
                    "method": "dropped",
                    "params": {"reason": "slow_reader", "message": message},
                }
                log.info("control: dropped a slow subscriber")
                with trio.move_on_after(DROP_GRACE):
                    # after a line cut short the notice starts a fresh line
                    await conn.send_all(
                        b"\n" + json.dumps({"jsonrpc": "2.0", **drop}).encode() + b"\n"
                    )
            nursery.cancel_scope.cancel()


async def _until_eof(conn: trio.SocketStream, scope: trio.CancelScope) -> None:
    """A subscriber's later lines are ignored; its closing ends the subscription."""
    try:
        while await conn.receive_some(65536):
            pass
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    scope.cancel()


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
                try:
                    conn = await listener.accept()
                except OSError as exc:  # e.g. out of file descriptors: wait, keep serving
                    _log_once("accept", exc)
                    await trio.sleep(0.1)
                    continue
                nursery.start_soon(_serve_conn, node, conn)
    finally:
        with trio.CancelScope(shield=True):
            await listener.aclose()
        try:
            path.unlink()
        except OSError:
            pass
