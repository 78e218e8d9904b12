"""Benchmarks of smsrouter, run by hand: ``make bench`` (``python -m bench``).

Not tests: they measure. Each module is one benchmark with a ``run(quick)`` coroutine that
returns its figures; :mod:`bench.__main__` runs them in one go and prints the report that
``bench/README.md`` records. ``--quick`` runs each with a few dozen messages, the fewest that
still go through every path, which is what ``tests/test_bench.py`` does so the scripts
never rot.
"""
