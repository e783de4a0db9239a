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


def we(
    home: Path | str | None,
    *args: str,
    env: dict | None = None,
    input: str | None = None,
    timeout: float = 60,
) -> Result:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("WE_")}
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
