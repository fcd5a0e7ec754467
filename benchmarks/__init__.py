"""
The benchmark suite: this project measured beside its peer libraries.

Run it with ``python benchmarks/run.py`` (``--quick`` for a smoke run); see
``docs/benchmarks.rst`` for how to read the table it prints.
"""
