"""mDNS discovery between two daemons in network namespaces this test creates (veth pair).

Multicast never leaves the two namespaces. Needs root (``ip netns``); elsewhere it is skipped
with the reason shown.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def two_namespaces():
    tag = uuid.uuid4().hex[:6]
    ns = [f"we-mdns-a-{tag}", f"we-mdns-b-{tag}"]
    va, vb = f"wea{tag}", f"web{tag}"
    try:
        ip("netns", "add", ns[0])
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot create network namespaces here: {exc}")
    try:
        ip("netns", "add", ns[1])
        ip("link", "add", va, "type", "veth", "peer", "name", vb)
        for n, v, addr in ((ns[0], va, "10.201.7.1/24"), (ns[1], vb, "10.201.7.2/24")):
            ip("link", "set", v, "netns", n)
            ip("-n", n, "addr", "add", addr, "dev", v)
            ip("-n", n, "link", "set", v, "up", "multicast", "on")
            ip("-n", n, "link", "set", "lo", "up")
            ip("-n", n, "route", "add", "224.0.0.0/4", "dev", v)
        yield ns
    finally:
        for n in ns:
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


def rpc(sock: Path, method: str) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(sock))
        s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method}).encode() + b"\n")
        return json.loads(s.makefile("rb").readline())["result"]


def test_two_daemons_find_each_other_by_mdns(two_namespaces, tmp_path):
    env = {
        **os.environ,
        "WE_INSECURE_PLAINTEXT": "1",
        "WE_MDNS": "1",
        "PYTHONPATH": str(ROOT),
    }
    procs, dirs = [], []
    try:
        for n, addr in zip(two_namespaces, ("10.201.7.1", "10.201.7.2"), strict=True):
            d = tmp_path / n
            d.mkdir()
            dirs.append(d)
            cmd = [
                "ip",
                "netns",
                "exec",
                n,
                sys.executable,
                "-m",
                "node.daemon",
                str(d),
                f"/ip4/{addr}/tcp/0",
            ]
            procs.append(
                subprocess.Popen(
                    cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                )
            )
        for p, d in zip(procs, dirs, strict=True):
            for _ in range(600):
                if (d / "daemon.json").exists() and (d / "control.sock").exists():
                    break
                assert p.poll() is None, p.stderr.read().decode()
                time.sleep(0.05)
        ids = [json.loads((d / "daemon.json").read_text())["member_id"] for d in dirs]
        found = False
        for _ in range(400):  # no bootstrap, no connect: only mDNS can introduce them
            peers = rpc(dirs[0] / "control.sock", "status")["peers"]
            if ids[1] in peers:
                found = True
                break
            time.sleep(0.1)
        assert found, "the daemons did not find each other by mDNS"
        assert ids[0] in rpc(dirs[1] / "control.sock", "status")["peers"]
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
