"""Wall time of a benchmark suite: `mace4ir bench` machinery vs a plain ASE loop, same run.

Anchor: what a user would otherwise script — for every molecule, BFGS to 1 meV/Å and
``ase.vibrations.Infrared`` (nfree=2, 0.002 Å displacements as in the paper) with the same
GFN2-xTB calculator, one molecule after the other.
Ours: ``run_suite`` (atomic per-molecule results, resume, failures recorded) with 1 and
with N worker processes. Prints seconds and ratios (anchor / ours).

    OMP_NUM_THREADS=1 python benchmarks/bench_suite.py --suite nist_shipped --limit 6 --workers 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def anchor(molecules, structures) -> float:
    from ase.optimize import BFGS
    from ase.vibrations import Infrared

    from mace4ir.evaluation.calculators.xtb import xtb_calculator

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for mol in molecules:
            atoms = structures[mol.id][0].copy()
            atoms.calc = xtb_calculator()
            BFGS(atoms, logfile=None).run(fmax=1e-3, steps=2000)
            ir = Infrared(atoms, name=str(Path(tmp) / mol.id), delta=0.002, nfree=2)
            ir.run()
            ir.get_frequencies()
            ir.clean()
    return time.perf_counter() - start


def ours(suite, molecules, workers: int) -> float:
    from mace4ir.evaluation.suites.runner import BenchOptions, run_suite

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run_suite(
            suite,
            molecules,
            Path(tmp) / "out",
            BenchOptions(workers=workers, settings=suite.settings),
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="nist_shipped")
    parser.add_argument("--limit", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from mace4ir.evaluation.suites.structures import resolve_structures
    from mace4ir.evaluation.suites.suite_files import load_suite

    suite = load_suite(args.suite)
    molecules = suite.select(limit=args.limit)
    structures = resolve_structures(molecules, {})
    t_anchor = anchor(molecules, structures)
    t_one = ours(suite, molecules, 1)
    t_many = ours(suite, molecules, args.workers)
    print(
        f"{len(molecules)} molecules of {args.suite}, GFN2-xTB harmonic, {os.cpu_count()} CPU cores"
    )
    print(f"ASE Infrared loop (anchor): {t_anchor:7.2f} s")
    print(f"mace4ir bench, 1 worker:    {t_one:7.2f} s   ratio {t_anchor / t_one:5.2f}x")
    print(
        f"mace4ir bench, {args.workers} workers:   {t_many:7.2f} s   ratio "
        f"{t_anchor / t_many:5.2f}x "
        "(includes spawning the workers)"
    )


if __name__ == "__main__":
    main()
