"""Benchmarks: ``python -m bench NAME`` runs ``bench/NAME.py:main()``; ``python -m bench all``
runs every benchmark present. Each prints a table and writes ``bench/results/NAME.json``."""
