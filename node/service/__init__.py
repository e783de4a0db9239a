"""The node daemon: host + store + gossip + sync + the local control API.

``run(data_dir, listen=[...], bootstrap=[...])`` is the blocking entry point used by
``we daemon``; it stops cleanly on SIGINT/SIGTERM.
"""


def __getattr__(name: str):
    # Lazy: the CLI imports ``node.service.parse`` and ``node.service.words`` for every command;
    # they must not pull in trio/libp2p through the package.
    if name == "run":
        from .daemon import run

        return run
    raise AttributeError(name)


__all__ = ["run"]
