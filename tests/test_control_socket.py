"""No request stops the node: the control socket of a real daemon (a subprocess, one for this
module) under hostile lines — deep nesting, huge, not UTF-8, not JSON, every method with any
params, every view with any arguments — must answer each with a JSON-RPC response and still
answer ``status`` afterwards. The daemon process dying fails every test after it."""

from __future__ import annotations

import inspect
import json
import signal
import time

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.service import control
from node.service.control import MAX_DEPTH, MAX_REQUEST, METHODS, views
from tests.test_daemon import Rpc, start, wait_ready

CODES = {-32700, -32600, -32601, -32602, -32603, -32000}
# A valid subscribe turns its connection into an event stream (fuzzed on fresh connections
# below); every other method answers on the same connection.
REQUESTS = tuple(m for m in METHODS if m != "subscribe")
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Client(Rpc):
    def answer(self, line: bytes) -> dict:
        """The daemon's response to one line, checked for shape."""
        resp = self.raw(line)
        assert resp["jsonrpc"] == "2.0" and ("result" in resp) != ("error" in resp), resp
        if "error" in resp:
            assert resp["error"]["code"] in CODES, resp
            assert isinstance(resp["error"]["message"], str) and resp["error"]["message"]
        return resp

    def alive(self) -> None:
        """The node still answers a normal request, on this connection and on a new one."""
        assert self.call("status")["result"]["member_id"] == self.member_id
        fresh = Client(self.path, self.member_id)
        try:
            assert fresh.call("status")["result"]["member_id"] == self.member_id
        finally:
            fresh.close()

    def __init__(self, path, member_id: str):
        super().__init__(path)
        self.path, self.member_id = path, member_id


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    """A daemon with one community holding a profile, an offer, a need, a proposal and a thread, so
    that the views have records to work on; and the ids a fuzzed request may name."""
    d = tmp_path_factory.mktemp("ctl")
    proc = start(d)
    try:
        info = wait_ready(proc, d)
        rpc = Client(d / "control.sock", info["member_id"])
        me = rpc.call("status")["result"]
        cid = rpc.call("create_community", charter={"name": "Fuzzed"})["result"]["community"]
        now = int(time.time() * 1000)
        later = now + 86_400_000
        ops = [
            ("profile.set", {"display_name": "F", "skills": ["x"]}),
            ("offer.create", _listing("Drill", later)),
            ("need.create", _listing("Ladder", later)),
            ("proposal.create", {"title": "P", "method": "basic", "opens": now, "closes": later}),
            ("thread.create", {"title": "T", "text": "a first word"}),
        ]
        ids = [cid, me["public_key"], me["member_id"]]
        for kind, body in ops:
            resp = rpc.call("publish", community=cid, kind=kind, body=body)
            assert "result" in resp, resp
            ids.append(resp["result"]["op_id"])
        yield rpc, ids
        rpc.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode()
        assert out.decode().strip().endswith("stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _listing(title: str, expires: int) -> dict:
    return {
        "title": title,
        "category": "tools",
        "action": "lend",
        "expires": expires,
    }


def _request(method, params, rid=7) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}).encode()


# ---- the two reported cases, and the bounds ----------------------------------------------


def test_two_hundred_thousand_brackets_are_refused_and_the_node_answers(daemon):
    rpc, _ = daemon
    err = rpc.answer(b"[" * 200_000)["error"]
    assert (err["code"], err["data"]["reason"]) == (-32600, "too_deep")
    err = rpc.answer(b"[]]" * 200_000)["error"]  # shallow, but closes what never opened
    assert (err["code"], err["data"]["reason"]) == (-32700, "parse_error")
    deep = b"[" * 200_000 + b"]" * 200_000  # valid JSON, too deep
    err = rpc.answer(deep)["error"]
    assert (err["code"], err["data"]["reason"]) == (-32600, "too_deep")
    assert str(MAX_DEPTH) in err["message"]
    nested = {"x": 1}
    for _ in range(MAX_DEPTH + 1):
        nested = {"x": nested}
    err = rpc.answer(_request("status", nested))["error"]
    assert err["data"]["reason"] == "too_deep"
    rpc.alive()


def test_a_query_of_what_is_no_view_is_refused_and_the_node_answers(daemon):
    """``State`` is a class that queries.py imports: it once ran and its result, which JSON
    cannot hold, took the daemon down."""
    rpc, _ = daemon
    for name in ("State", "Context", "Iterable", "as_key", "decode", "make_handlers", "_x"):
        err = rpc.answer(_request("query", {"view": name, "args": {}}))["error"]
        assert err["data"]["reason"] == "unknown_view", (name, err)
    rpc.alive()


async def test_a_result_json_cannot_hold_is_an_internal_error_naming_the_method(
    tmp_path, monkeypatch
):
    """Through the real socket of a running node (in this process, so that a view can be
    planted whose result JSON cannot hold): -32603 naming the query, the node answers on."""
    from node import Node
    from node.crdt.records import queries

    def odd(state, community=None):
        return object()

    odd.__module__ = queries.__name__  # a view is a function defined in a view module
    monkeypatch.setattr(queries, "odd", odd, raising=False)
    views.cache_clear()
    try:
        async with Node.open(
            tmp_path / "n", insecure_plaintext=True, network=False, control_socket=True
        ) as node:
            stream = await trio.open_unix_socket(str(tmp_path / "n" / "control.sock"))
            async with stream:

                async def ask(line: bytes) -> dict:
                    await stream.send_all(line + b"\n")
                    buf = b""
                    while not buf.endswith(b"\n"):
                        buf += await stream.receive_some(65536)
                    return json.loads(buf)

                err = (await ask(_request("query", {"view": "odd", "args": {}}, rid=3)))["error"]
                assert err["code"] == -32603 and err["data"]["reason"] == "internal"
                assert "query 'odd'" in err["message"]
                status = await ask(_request("status", {}, rid=4))
                assert status["id"] == 4 and status["result"]["member_id"] == node.member_id
    finally:
        monkeypatch.delattr(queries, "odd")
        views.cache_clear()


def test_a_line_over_the_bound_is_refused_and_the_connection_closed(daemon):
    rpc, _ = daemon
    conn = Client(rpc.path, rpc.member_id)
    try:
        conn.file.write(b" " * (MAX_REQUEST + 1))  # no newline: the line does not end in bound
        conn.file.flush()
        err = json.loads(conn.file.readline())["error"]
        assert (err["code"], err["data"]["reason"]) == (-32600, "too_large")
        assert conn.file.readline() == b""  # closed
    finally:
        conn.close()
    rpc.alive()


def test_not_utf8_not_an_object_and_bad_envelopes_get_clear_errors(daemon):
    rpc, _ = daemon
    cases = [
        (b'{"jsonrpc":"2.0","id":1,"method":"status","params":{"x":"\xff"}}', "not_utf8"),
        (b"\xc3\x28", "not_utf8"),
        (b"[1, 2]", "bad_request"),
        (b'"status"', "bad_request"),
        (b"{not json", "parse_error"),
        (b'{"jsonrpc":"2.0","id":NaN,"method":"status"}', "parse_error"),
        (b'{"jsonrpc":"2.0","id":1,"method":"status","params":{"x":-Infinity}}', "parse_error"),
        (b'{"jsonrpc":"2.0","id":1,"method":5}', "bad_request"),
        (b'{"jsonrpc":"1.0","id":1,"method":"status"}', "bad_request"),
        (b'{"jsonrpc":"2.0","id":1,"method":"status","params":[1]}', "bad_params"),
        (b'{"jsonrpc":"2.0","id":1,"method":"status","params":' + b"9" * 5000 + b"}", None),
    ]
    for line, reason in cases:
        err = rpc.answer(line)["error"]
        assert reason is None or err["data"]["reason"] == reason, (line[:60], err)
    rpc.alive()


def test_every_method_the_server_knows_is_known(daemon):
    rpc, _ = daemon
    for method in METHODS:
        resp = rpc.answer(_request(method, {"community": "00"}))
        assert resp.get("error", {}).get("code") != -32601, method
    assert rpc.answer(_request("nope", {}))["error"]["code"] == -32601


# ---- fuzz ----------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=20,
)
LINES = (
    st.binary(min_size=1, max_size=2000)
    .map(lambda b: b.replace(b"\n", b""))
    .filter(lambda b: b.strip())
)


def _nested(depth: int, leaf: str, kinds: str) -> str:
    out = leaf
    for i in range(depth):
        out = f"[{out}]" if kinds[i % len(kinds)] == "a" else f'{{"k": {out}}}'
    return out


@FUZZ
@given(
    line=LINES
    | st.text(min_size=1, max_size=500)
    .map(lambda t: t.replace("\n", "").encode())
    .filter(bytes.strip)
    | st.builds(
        lambda d, k, m: _request(m, json.loads(_nested(d, "{}", k)) if d else {}).replace(
            b'"params": {}', b'"params": ' + _nested(d, "{}", k).encode()
        ),
        st.integers(0, 3 * MAX_DEPTH),
        st.text("ao", min_size=1, max_size=4),
        st.sampled_from(REQUESTS),
    )
    | st.builds(
        lambda n, c: c * n, st.integers(1, 300_000), st.sampled_from([b"[", b"{", b'"', b"\\"])
    )
)
def test_fuzz_any_line_gets_an_answer_and_the_node_lives(daemon, line):
    rpc, _ = daemon
    rpc.answer(line)
    rpc.alive()


@FUZZ
@given(data=st.data(), method=st.sampled_from(REQUESTS), rid=JSON)
def test_fuzz_every_method_with_any_params(daemon, data, method, rid):
    rpc, ids = daemon
    value = JSON | st.sampled_from(ids) | st.lists(st.sampled_from(ids), max_size=3)
    keys = st.sampled_from(
        ["community", "kind", "body", "deps", "view", "args", "addr", "charter", "proposal"]
    ) | st.text(max_size=8)
    params = data.draw(st.dictionaries(keys, value, max_size=5) | JSON)
    if method == "connect" and isinstance(params, dict) and "addr" in params:
        params["addr"] = str(params["addr"])  # never a dial to a real address
    resp = rpc.answer(_request(method, params, rid=rid))
    assert resp["id"] == rid
    rpc.alive()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rid=JSON)
def test_fuzz_subscribe_with_any_params(daemon, data, rid):
    """A subscribe either is refused on its connection (which goes on answering) or is
    answered ``subscribed`` and streams; either way the node lives."""
    rpc, ids = daemon
    value = JSON | st.sampled_from(ids) | st.lists(st.sampled_from(["op", "synced", "x"]))
    keys = st.sampled_from(["community", "events"]) | st.text(max_size=8)
    params = data.draw(st.dictionaries(keys, value, max_size=3) | JSON)
    fresh = Client(rpc.path, rpc.member_id)
    try:
        resp = fresh.answer(_request("subscribe", params, rid=rid))
        assert resp["id"] == rid
        if "error" in resp:
            assert fresh.call("status")["result"]["member_id"] == rpc.member_id
        else:
            assert resp["result"]["subscribed"] is True
    finally:
        fresh.close()
    rpc.alive()


def _plain_args(view: str, ids: list[str]) -> dict:
    """Arguments a view is meant to be called with, on the fixture's records."""
    cid, key, offer, proposal = ids[0], ids[1], ids[4], ids[6]
    plain = {"community": cid, "member": key, "offer_id": offer, "listing_id": offer}
    plain |= {"proposal": proposal, "family": "offer", "thread_id": ids[7]}
    return {k: v for k, v in plain.items() if k in inspect.signature(views()[view]).parameters}


@FUZZ
@given(data=st.data(), view=st.sampled_from(sorted(views())))
def test_fuzz_every_view_with_any_arguments(daemon, data, view):
    """The plain arguments, some of them dropped or replaced by any value, now and then one
    the view does not have: the answer is a result or a refusal, never a -32603."""
    rpc, ids = daemon
    names = [p for p in inspect.signature(views()[view]).parameters if p != "state"]
    args = _plain_args(view, ids)
    for name in data.draw(st.lists(st.sampled_from(names), max_size=3)):
        args[name] = data.draw(
            st.sampled_from(ids) | st.integers() | st.text(max_size=12) | st.none() | JSON
        )
    for name in data.draw(st.lists(st.sampled_from(names), max_size=2)):
        args.pop(name, None)
    if data.draw(st.integers(0, 9)) == 0:
        args[data.draw(st.text(max_size=8))] = data.draw(JSON)
    resp = rpc.answer(_request("query", {"view": view, "args": args}))
    if "error" in resp:
        assert resp["error"]["code"] != -32603, resp
    rpc.alive()


def test_views_answer_on_the_records_they_were_made_for(daemon):
    """The fuzz above mostly hits refusals; each view also answers its plain call."""
    rpc, ids = daemon
    for view in sorted(views()):
        resp = rpc.answer(_request("query", {"view": view, "args": _plain_args(view, ids)}))
        assert "result" in resp, (view, resp)
    rpc.alive()


def test_control_module_keeps_its_bounds():
    assert control.nesting(b"[" * 10 + b"]" * 10) == 10
    assert control.nesting(b'["[[[", "\\\\", "\\"]", {"a": "\xc3\xa9{"}]') == 2
    assert control.nesting(b"[" * 1000) == MAX_DEPTH + 1
    assert control.nesting(b"[" * 10) is None
    assert control.nesting(b"[[]" * 1000) == MAX_DEPTH + 1
    assert control.nesting(b"[]]" * 1000) is None
    assert control.nesting(b"[" * 1000 + b"]" * 1000) == MAX_DEPTH + 1
