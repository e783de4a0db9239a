"""Starting a Python process of our own: ``python -P -m MODULE``, our packages first.

``python -m`` puts the working directory first on the import path: started from a folder that
holds its own ``node`` or ``cli`` package (another checkout, any project, a cloned repository),
that package would run in our place and be handed what we hand ours (the detached daemon gets
the passphrase). ``-P`` (Python 3.11) leaves the working directory out, and the folder that
holds our packages goes first on ``PYTHONPATH``, so a checkout that is not installed works too.
Every process we start goes through :func:`python_module`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])  # the folder holding ``node`` and ``cli``


def python_module(
    module: str, env: Mapping[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command that runs ``module`` as ``python -m`` would, and the environment to run
    it in (``env``, by default this process's, with our folder first on ``PYTHONPATH``)."""
    child = dict(os.environ if env is None else env)
    child["PYTHONPATH"] = os.pathsep.join(filter(None, (ROOT, child.get("PYTHONPATH"))))
    return [sys.executable, "-P", "-m", module], child
