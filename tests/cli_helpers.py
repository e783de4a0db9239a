"""Run `we` as a user does: a real subprocess, with its own data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self):
        return json.loads(self.out)

    @property
    def error(self) -> dict:
        """The --json error object printed on stderr."""
        return json.loads(self.err.strip().splitlines()[-1])["error"]


def _inherited(name: str) -> bool:
    """No WE_* setting of the test process reaches a `we` subprocess, but the test run's
    place for chain markers (tests/conftest.py) does."""
    return not name.startswith("WE_") or name == "WE_STATE_DIR"


def we(
    home: Path | str | None,
    *args: str,
    env: dict | None = None,
    input: str | None = None,
    timeout: float = 60,
) -> Result:
    full_env = {k: v for k, v in os.environ.items() if _inherited(k)}
    full_env["PYTHONPATH"] = str(ROOT)
    full_env["COLUMNS"] = "160"
    if env:
        full_env.update(env)
    cmd = [sys.executable, "-m", "cli.main"]
    if home is not None:
        cmd += ["--data-dir", str(home)]
    p = subprocess.run(
        cmd + list(args),
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        input=input,
        timeout=timeout,
    )
    return Result(p.returncode, p.stdout, p.stderr)


def base_env(home: Path | str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if _inherited(k)}
    env["PYTHONPATH"] = str(ROOT)
    env["COLUMNS"] = "160"
    if home is not None:
        env["WE_HOME"] = str(home)
    return env


def we_on_a_terminal(home: Path | str, *args: str) -> tuple[int, str, str]:
    """Run `we` with its stderr on a pseudo-terminal (as a person at a shell has it; stdout
    piped): returns (exit code, stdout, what the terminal received)."""
    import pty
    import select

    master, slave = pty.openpty()
    p = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--data-dir", str(home), *args],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=base_env(),
        cwd=ROOT,
    )
    os.close(slave)
    got = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        try:
            chunk = os.read(master, 65536) if ready else b""
        except OSError:  # EIO: the process closed the terminal
            chunk = b""
        if not chunk:
            break
        got += chunk
    os.close(master)
    out, _ = p.communicate(timeout=60)
    return p.returncode, out.decode(), got.decode(errors="replace")


class Daemon:
    """`we daemon` as a real background process; stopped with SIGTERM."""

    def __init__(self, home: Path, *args: str, timeout: float = 30, env: dict | None = None):
        """``args``: extra `we daemon` options (e.g. ``--relay``); ``timeout``: seconds it
        may take to answer ``status`` with its addresses; ``env``: more environment (e.g. a
        passphrase)."""
        self.home = Path(home)
        self.args = args
        self.env = env or {}
        self.timeout = timeout
        self.log = self.home.parent / f"{self.home.name}.daemon.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> dict:
        import time

        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "--data-dir", str(self.home), "daemon"]
                + list(self.args),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**base_env(), **self.env},
                cwd=ROOT,
            )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            if (self.home / "control.sock").exists():
                r = we(self.home, "--json", "status")
                if r.code == 0 and r.json.get("daemon") and r.json.get("listen_addrs"):
                    return r.json
            time.sleep(0.2)
        raise AssertionError(f"daemon did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_until(probe, what: str, timeout: float = 20.0):
    """Poll ``probe`` until it returns something truthy (replication is asynchronous)."""
    from cli.demo import DemoError, wait_for  # the demo polls the same way

    try:
        return wait_for(what, probe, timeout)
    except DemoError as exc:
        raise AssertionError(str(exc)) from None


def plant_package(folder: Path, module: str) -> Path:
    """A package of ours planted in ``folder`` (``cli.main``, ``node.crdt.sigcheck``) whose
    module leaves a mark and exits: the mark it would leave."""
    parts = module.split(".")
    here = folder
    for part in parts[:-1]:
        here = here / part
        here.mkdir(parents=True, exist_ok=True)
        (here / "__init__.py").write_text("")
    mark = folder / f"{module}.ran"
    (here / f"{parts[-1]}.py").write_text(
        f"import pathlib\npathlib.Path({str(mark)!r}).write_text('ran')\nraise SystemExit(3)\n"
    )
    return mark
