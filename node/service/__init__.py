"""The node daemon: host + store + gossip + sync + the local control API.

``run(data_dir, listen=[...], bootstrap=[...])`` is the blocking entry point used by
``we daemon``; it stops cleanly on SIGINT/SIGTERM.
"""

from .daemon import run

__all__ = ["run"]
