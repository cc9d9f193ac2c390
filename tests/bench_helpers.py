"""Helpers for tests/test_bench_*.py that spawned worker processes must import.

Kept in a light module (no pytest, no test fixtures) so that each spawned worker starts fast.
"""

import os

from mace4ir.evaluation.suites.compute import compute_molecule


def crash_on_ammonia(atoms, calc, kind, settings, workdir=None):
    """The real computation, except that the worker process dies (like a segfault) on NH3."""
    if atoms.get_chemical_formula() == "H3N":
        os._exit(9)
    return compute_molecule(atoms, calc, kind, settings, workdir)
