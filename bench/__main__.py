"""``python -m bench NAME [args...]`` or ``python -m bench all``."""

from __future__ import annotations

import importlib
import importlib.util
import sys

ALL = ("ingest", "oplayout", "records", "sync", "tally", "cli", "adversarial", "net", "scale")


def run(name: str, args: list[str]) -> None:
    module = importlib.import_module(f"bench.{name}")
    sys.argv = [f"bench {name}", *args]
    module.main()


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(f"usage: python -m bench NAME [args...] | all   (benchmarks: {', '.join(ALL)})")
    name, args = sys.argv[1], sys.argv[2:]
    if name != "all":
        if importlib.util.find_spec(f"bench.{name}") is None:
            sys.exit(f"no benchmark named {name!r}")
        run(name, args)
        return
    for name in ALL:
        if importlib.util.find_spec(f"bench.{name}") is None:
            print(f"== {name}: not present, skipped")
            continue
        print(f"== {name}")
        run(name, args)


if __name__ == "__main__":
    main()
