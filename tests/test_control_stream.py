"""The control socket's event stream (``subscribe``, node/service/control.py): events pushed
as they happen, filtered, and a reader that stops reading is dropped with a notice while the
node goes on answering (its ``emit`` never waits). A real node with its real control socket,
in this process; the sync progress events come from real sync sessions between two nodes."""

from __future__ import annotations

import json
import socket

import nacl.signing
import trio

from node import Node
from node.crdt.op import sign_op
from node.service import control, syncing
from node.service.storelog import Event
from tests.net_helpers import nodes, wait_until

OPEN = {"name": "c", "membership": {"rule": "open"}}
T_DAY = 86_400_000


class Lines:
    """A trio client of the control socket reading whole lines."""

    def __init__(self, stream: trio.SocketStream):
        self.stream, self.buf = stream, b""

    @classmethod
    async def open(cls, path) -> Lines:
        return cls(await trio.open_unix_socket(str(path)))

    async def send(self, method: str, params: dict, rid: int = 1) -> None:
        req = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
        await self.stream.send_all(json.dumps(req).encode() + b"\n")

    async def line(self) -> bytes | None:
        """The next line (b"" for an empty one); None at the end."""
        while b"\n" not in self.buf:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                out, self.buf = self.buf, b""
                return out or None
            self.buf += chunk
        out, _, self.buf = self.buf.partition(b"\n")
        return out

    async def json(self) -> dict:
        return json.loads(await self.line())


def _offer(title: str, ts_ms: int) -> dict:
    return {"title": title, "category": "tools", "action": "lend", "expires": ts_ms + T_DAY}


async def test_subscribe_pushes_each_op_of_the_community_as_it_is_applied(tmp_path):
    async with Node.open(
        tmp_path / "a", insecure_plaintext=True, network=False, control_socket=True
    ) as node:
        c = await node.create_community(OPEN)
        other = await node.create_community({**OPEN, "name": "other"})
        client = await Lines.open(tmp_path / "a" / "control.sock")
        await client.send("subscribe", {"community": c.hex(), "events": ["op"]}, rid=9)
        assert await client.json() == {
            "jsonrpc": "2.0",
            "id": 9,
            "result": {"subscribed": True, "queue": control.SUBSCRIBER_QUEUE},
        }
        now = node.store.replica.now_ms() if hasattr(node.store.replica, "now_ms") else None
        import time

        now = now or time.time_ns() // 1_000_000
        await node.publish(other, "offer.create", _offer("elsewhere", now))
        ops = [await node.publish(c, "offer.create", _offer(f"drill {i}", now)) for i in range(3)]
        got = [await client.json() for _ in ops]
        assert [g["method"] for g in got] == ["event"] * 3
        events = [g["params"] for g in got]
        assert [e["op_id"] for e in events] == [op.id.hex() for op in ops]  # not `other`'s
        assert {e["event"] for e in events} == {"op"}
        assert [e["summary"] for e in events] == ["drill 0", "drill 1", "drill 2"]
        assert all(
            e["author"] == node.public_key.hex() and e["status"] == "applied" for e in events
        )
        await client.send("status", {})  # ignored: the connection is a stream now
        await client.stream.aclose()
        # a bad subscribe is an answer on a connection that goes on answering
        plain = await Lines.open(tmp_path / "a" / "control.sock")
        await plain.send("subscribe", {"events": ["nope"]})
        assert (await plain.json())["error"]["data"]["reason"] == "bad_params"
        await plain.send("status", {}, rid=2)
        assert (await plain.json())["result"]["member_id"] == node.member_id
        await plain.stream.aclose()


async def test_a_reader_that_stops_reading_is_dropped_and_the_node_never_waits(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(control, "SUBSCRIBER_QUEUE", 8)
    async with Node.open(
        tmp_path / "a", insecure_plaintext=True, network=False, control_socket=True
    ) as node:
        c = await node.create_community(OPEN)
        sock = tmp_path / "a" / "control.sock"
        slow = await Lines.open(sock)
        slow.stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await slow.send("subscribe", {})
        assert (await slow.json())["result"]["subscribed"] is True
        svc = node.service
        await wait_until(lambda: len(svc._strict) == 1)
        emitted = 0
        while svc._strict and emitted < 200_000:  # the reader reads nothing meanwhile
            svc.emit(Event("op", c, c, "community.create"))  # emit is sync: it cannot wait
            emitted += 1
            await trio.sleep(0)  # let the stream task write: the socket fills first
        assert not svc._strict, "the slow subscriber was never dropped"
        # the node answers others all along
        other = await Lines.open(sock)
        await other.send("status", {})
        assert (await other.json())["result"]["member_id"] == node.member_id
        await other.stream.aclose()
        lines = []
        while (line := await slow.line()) is not None:
            lines.append(line)
        notice = json.loads(lines[-1])
        assert notice["method"] == "dropped" and notice["params"]["reason"] == "slow_reader"
        assert "subscribe again" in notice["params"]["message"]
        delivered = [json.loads(x) for x in lines[:-1] if x.endswith(b"}}")]
        assert 0 < len(delivered) < emitted  # it got some, not all, and was told
        assert all(d["method"] == "event" for d in delivered)


async def test_a_large_sync_reports_its_progress(tmp_path, monkeypatch):
    """``sync_progress`` events count the ops received of the ops the peer announced, and
    `we status` (``receiving``) says the same while the session runs."""
    monkeypatch.setattr(syncing, "PROGRESS_EVERY", 0.02)  # several ticks in a short sync
    async with nodes(tmp_path, 2, sync_interval=3600.0) as (a, b):
        c = await a.create_community(OPEN)
        ops = []
        for i in range(2000):  # one batch: 2,000 newcomers' joins
            k = nacl.signing.SigningKey(i.to_bytes(32, "big"))
            ops.append(sign_op(k, community=c, seq=1, prev=None, deps=[c], lamport=2, ts=0,
                               kind="member.join", body={}))  # fmt: skip
        a.store.ingest(ops)
        total = sum(seq for seq, _ in a.store.heights(c).values())
        events = b.service.subscribe()
        said = []  # `we status` at each sync_progress event: (event, what status says)
        emit = b.service.emit

        def emit_and_look(ev):
            if ev.kind == "sync_progress" and ev.community == c:
                row = next(x for x in b.status()["communities"] if x["id"] == c)
                said.append(((ev.done, ev.expected), row["receiving"]))
            emit(ev)

        monkeypatch.setattr(b.service, "emit", emit_and_look)
        await b.follow(c)
        await b.connect(a.listen_addrs[0])
        await wait_until(lambda: len(b.store.heights(c)) == len(a.store.heights(c)), 120)
        await wait_until(lambda: b.store.heights(c) == a.store.heights(c), 120)
        # while a session received, status said how far it got; once done, nothing
        assert said and all(r == {"done": d, "expected": e, "sessions": 1} for (d, e), r in said)
        await wait_until(lambda: not b.service.syncer.receiving)
        assert all(x["receiving"] is None for x in b.status()["communities"])
        progress = []
        while True:
            try:
                ev = events.receive_nowait()
            except trio.WouldBlock:
                break
            if ev.kind == "sync_progress" and ev.community == c:
                progress.append((ev.done, ev.expected))
        assert progress, "no sync_progress event"
        assert all(exp is not None and 0 < done <= exp for done, exp in progress)
        assert max(exp for _, exp in progress) <= total
        assert [d for d, _ in progress] == sorted(d for d, _ in progress)  # per session
