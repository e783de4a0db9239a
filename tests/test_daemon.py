"""The daemon as a real subprocess: control socket (0600, JSON-RPC), peers, clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def start(data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "WE_INSECURE_PLAINTEXT": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "node.daemon", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )


def wait_ready(proc: subprocess.Popen, data_dir: Path) -> dict:
    info = data_dir / "daemon.json"
    for _ in range(600):
        if info.exists() and (data_dir / "control.sock").exists():
            try:
                doc = json.loads(info.read_text())
            except ValueError:  # being written
                doc = {}
            if doc.get("pid") == proc.pid:  # not a file a killed daemon left behind
                return doc
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode())
        time.sleep(0.05)
    raise AssertionError("daemon did not start")


class Rpc:
    def __init__(self, path: Path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rwb")
        self.n = 0

    def raw(self, line: bytes) -> dict:
        self.file.write(line + b"\n")
        self.file.flush()
        return json.loads(self.file.readline())

    def call(self, method: str, **params):
        self.n += 1
        req = {"jsonrpc": "2.0", "id": self.n, "method": method, "params": params}
        resp = self.raw(json.dumps(req).encode())
        assert resp["id"] == self.n
        return resp

    def close(self):
        self.file.close()
        self.sock.close()


def ready_daemon(tmp_path: Path) -> tuple[Path, subprocess.Popen, Rpc]:
    """One daemon in ``tmp_path/d``, up, and a control connection to it (stopping it is the
    caller's part)."""
    d = tmp_path / "d"
    d.mkdir()
    proc = start(d)
    try:
        wait_ready(proc, d)
        return d, proc, Rpc(d / "control.sock")
    except BaseException:
        proc.kill()
        proc.wait()
        raise


@pytest.fixture
def two_daemons(tmp_path):
    procs = []
    try:
        dirs = [tmp_path / "d0", tmp_path / "d1"]
        for d in dirs:
            d.mkdir()
            procs.append(start(d))
        infos = [wait_ready(p, d) for p, d in zip(procs, dirs, strict=True)]
        yield procs, dirs, infos
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_control_api_and_clean_sigterm(two_daemons):
    procs, dirs, infos = two_daemons
    sock = dirs[0] / "control.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    a, b = Rpc(sock), Rpc(dirs[1] / "control.sock")
    st = a.call("status")["result"]
    assert st["member_id"] == infos[0]["member_id"] and st["peers"] == []
    cid = a.call(
        "create_community", charter={"name": "Daemon club", "membership": {"rule": "open"}}
    )["result"]["community"]
    pub = a.call("publish", community=cid, kind="profile.set", body={"display_name": "A"})
    assert pub["result"]["seq"] == 2
    bad = a.call("publish", community=cid, kind="nope.x", body={})
    assert bad["error"]["data"]["reason"] == "unknown_kind"
    assert a.call("nope")["error"]["code"] == -32601
    assert a.raw(b"{not json")["error"]["code"] == -32700
    assert b.call("follow", community=cid)["result"] == {"community": cid}
    peer = b.call("connect", addr=infos[0]["listen_addrs"][0])["result"]["member_id"]
    assert peer == infos[0]["member_id"]
    for _ in range(200):
        got = b.call("query", view="profile", args={"community": cid, "member": st["public_key"]})
        if got["result"]:
            break
        time.sleep(0.05)
    assert got["result"]["display_name"] == "A"
    assert [p["member_id"] for p in b.call("peers")["result"]] == [infos[0]["member_id"]]
    comm = b.call("status")["result"]["communities"][0]
    assert comm["id"] == cid and comm["ops"] == 2
    for _ in range(200):  # "in sync with N peers": the session on connect counts on both sides
        comms = [r.call("status")["result"]["communities"][0] for r in (a, b)]
        if all(c["in_sync_with"] == 1 for c in comms):
            break
        time.sleep(0.05)
    assert [c["peers_synced"] for c in comms] == [[infos[1]["member_id"]], [infos[0]["member_id"]]]
    a.close()
    b.close()
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p, d in zip(procs, dirs, strict=True):
        out, err = p.communicate(timeout=15)
        assert p.returncode == 0, err.decode()
        assert b"Traceback" not in err
        assert out.decode().strip().endswith("stopped")
        assert not (d / "control.sock").exists() and not (d / "daemon.json").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_the_daemon_cleanly_and_loses_nothing(tmp_path, sig):
    """Each signal, sent right after the last write returned: exit 0 within a liveness bound,
    no traceback, the files it owns removed, and every acknowledged op on disk."""
    from node.store import Store

    d, proc, rpc = ready_daemon(tmp_path)
    try:
        cid = rpc.call(
            "create_community", charter={"name": "durable", "membership": {"rule": "open"}}
        )["result"]["community"]
        acked = [
            rpc.call("publish", community=cid, kind="profile.set", body={"display_name": f"v{i}"})
            for i in range(30)
        ]
        rpc.close()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err and b"Error" not in err, err.decode()
    assert out.decode().strip().endswith("stopped")
    assert not (d / "control.sock").exists() and not (d / "daemon.json").exists()
    with Store.open(d / "store.db") as store:
        for resp in acked:
            assert store.get_op(bytes.fromhex(resp["result"]["op_id"])) is not None
        [(seq, _)] = store.heights(bytes.fromhex(cid)).values()
        assert seq == 31


def test_a_killed_daemon_restarts_and_catches_up(tmp_path):
    """SIGKILL (no clean stop at all): what it had acknowledged survives, and on restart it
    catches up with what its peer wrote meanwhile."""
    da, db = tmp_path / "a", tmp_path / "b"
    da.mkdir()
    db.mkdir()
    procs = [start(da), start(db)]
    try:
        ia, ib = wait_ready(procs[0], da), wait_ready(procs[1], db)
        a, b = Rpc(da / "control.sock"), Rpc(db / "control.sock")
        cid = a.call(
            "create_community", charter={"name": "phoenix", "membership": {"rule": "open"}}
        )["result"]["community"]
        b.call("follow", community=cid)
        b.call("connect", addr=ia["listen_addrs"][0])
        for _ in range(400):  # the genesis arrives by the sync that the connection starts
            if b.call("status")["result"]["communities"][0]["ops"]:
                break
            time.sleep(0.05)
        assert "result" in b.call("publish", community=cid, kind="member.join", body={})
        b.call("publish", community=cid, kind="profile.set", body={"display_name": "b"})
        b.close()
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait()
        for i in range(20):
            a.call("publish", community=cid, kind="profile.set", body={"display_name": f"a{i}"})
        procs[1] = start(db)
        wait_ready(procs[1], db)
        b = Rpc(db / "control.sock")
        assert (
            b.call("connect", addr=ia["listen_addrs"][0])["result"]["member_id"]
            == (ia["member_id"])
        )
        for _ in range(400):
            ops = [r.call("status")["result"]["communities"][0]["ops"] for r in (a, b)]
            if ops == [23, 23]:
                break
            time.sleep(0.05)
        assert ops == [23, 23]  # genesis + 20 of a's, join + profile of b's
        assert b.call("status")["result"]["member_id"] == ib["member_id"]
        a.close()
        b.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_an_import_in_many_calls_is_in_the_file_once_the_calls_stop(tmp_path):
    """`we import` sends a file a MiB at a time; the calls share commits (``Store.linger``):
    the daemon answers from them at once, and its upkeep commits them once they stop (another
    reader of the file sees every op within a few seconds, with the daemon still running)."""
    from tests.factory import community, key, ops_in_file

    ops = community(key(6), 300, kind="profile.set", body=lambda i: {"display_name": f"v{i}"})
    d, proc, rpc = ready_daemon(tmp_path)
    try:
        for i in range(0, len(ops), 100):
            resp = rpc.call("import_ops", ops=[op.raw.hex() for op in ops[i : i + 100]])
            assert resp["result"]["statuses"] == {"applied": 100}, resp
        # bad input: a clear error or an outcome per op, nothing stored, the daemon unhurt
        for bad in ("x", ["zz"], [1]):
            err = rpc.call("import_ops", ops=bad)["error"]
            assert err["code"] == -32602 and err["data"]["reason"] == "bad_params", err
        junk = rpc.call("import_ops", ops=["00", (b"\xa1" * 40).hex()])["result"]
        assert junk["statuses"] == {"invalid": 2} and junk["communities"] == [], junk
        rpc.close()
        deadline = time.monotonic() + 20
        while ops_in_file(d / "store.db") < len(ops):
            assert time.monotonic() < deadline, "the import was not committed"
            time.sleep(0.1)
        time.sleep(1.5)  # the junk's transaction too has been committed by now
        assert ops_in_file(d / "store.db") == len(ops)  # and it stored nothing
        assert proc.poll() is None  # committed by the running daemon, not by its stop
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
