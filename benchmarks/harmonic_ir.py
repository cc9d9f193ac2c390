"""Harmonic IR speed: mace4ir (autograd Hessian + dipole derivatives, batched) vs
ase.vibrations.Infrared driving mace-torch's MACECalculator, same weights, same run.

Anchor: what a user would otherwise run — ``ase.vibrations.Infrared`` (nfree=2,
0.002 Å, as in the paper) with an ASE calculator that asks mace-torch's
``MACECalculator`` for forces (EF model) and a second one (model_type="DipoleMACE")
for dipoles, both loaded from ``torch.save`` files of the very same models.
Ours: ``harmonic_ir`` per molecule (autograd), and ``harmonic_ir_many`` (all
molecules in one call: on a GPU their Hessians come from one graph, on a CPU one graph per
molecule with the rows spread over the cores). Each molecule is timed by both sides back to
back, so a shared machine's changing load hits both alike; ``--rounds`` repeats this with
the order swapped and prints every round's ratio. Both start from the same geometry (RDKit +
MMFF). Without ``--optimize`` only the derivatives are timed; with it both sides
first optimise to 1 meV/Å (anchor: ASE BFGS on the EF MACECalculator; ours: the
default exact-Hessian-seeded BFGS) and the timings include it. Models are untrained (random weights)
mace-torch models
of the given configs — cost does not depend on the weights' values.

    OMP_NUM_THREADS=2 python benchmarks/harmonic_ir.py --ef ef_small --dipole dipole --molecules
    ethanol toluene
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")

# 9-25 atoms, elements H C N O (paper's MD/NIST set members and common small organics)
MOLECULES = {
    "ethanol": "CCO",  # 9
    "acetone": "CC(=O)C",  # 10
    "alanine": "CC(N)C(=O)O",  # 13
    "toluene": "Cc1ccccc1",  # 15
    "vanillin": "COc1cc(C=O)ccc1O",  # 19
    "paracetamol": "CC(=O)Nc1ccc(O)cc1",  # 20
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",  # 21
    "caffeine": "Cn1cnc2c1c(=O)n(C)c(=O)n2C",  # 24
}


def mace_ase_calculator(ef_model, d_model, dtype: str, device: str, tmp: Path):
    """One ASE calculator = MACECalculator (EF) for forces + MACECalculator (DipoleMACE) for
    dipoles."""
    import torch
    from ase.calculators.calculator import Calculator, all_changes
    from mace.calculators import MACECalculator

    torch.save(ef_model, tmp / "ef.model")
    torch.save(d_model, tmp / "d.model")
    ef = MACECalculator(model_paths=str(tmp / "ef.model"), device=device, default_dtype=dtype)
    dip = MACECalculator(
        model_paths=str(tmp / "d.model"),
        device=device,
        default_dtype=dtype,
        model_type="DipoleMACE",
    )

    class EFPlusDipole(Calculator):
        implemented_properties = ["energy", "free_energy", "forces", "dipole"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            ef.calculate(self.atoms, ["energy", "forces"], all_changes)
            dip.calculate(self.atoms, ["dipole"], all_changes)
            self.results = {
                "energy": ef.results["energy"],
                "free_energy": ef.results["energy"],
                "forces": ef.results["forces"],
                "dipole": dip.results["dipole"],
            }

    calc = EFPlusDipole()
    calc.ef_only = ef  # what a user's geometry optimisation would run on
    return calc


def time_anchor(name: str, atoms, calc, tmp: Path, optimize: bool = False):
    """Seconds for ase.vibrations.Infrared (after BFGS with ``optimize``) on one molecule, and
    |ν|."""
    import numpy as np
    from ase.optimize import BFGS
    from ase.vibrations import Infrared

    start = time.perf_counter()
    a = atoms.copy()
    if optimize:
        a.calc = calc.ef_only
        BFGS(a, logfile=None).run(fmax=1e-3, steps=2000)
    a.calc = calc
    ir = Infrared(a, name=str(tmp / f"ir_{name}"), delta=0.002, nfree=2)
    ir.run()
    freqs = np.sort(np.abs(ir.get_frequencies()))[6:]  # |ν|: imaginary ones included
    seconds = time.perf_counter() - start
    ir.clean()
    return seconds, freqs


def time_ours(atoms, calc, optimize: bool = False):
    """Seconds for mace4ir's harmonic_ir on one molecule, and |ν|."""
    import numpy as np

    from mace4ir.evaluation import harmonic_ir

    start = time.perf_counter()
    result = harmonic_ir(atoms, calc, optimize=optimize)
    return time.perf_counter() - start, np.sort(np.abs(result.frequencies_cm1))


def time_round(mols, anchor_calc, ours_calc, tmp: Path, optimize: bool, ours_first: bool):
    """One round: each molecule timed by both sides back to back (so both see the same machine
    load; the order alternates between rounds), then all molecules at once by harmonic_ir_many."""
    from mace4ir.evaluation import harmonic_ir_many

    rows = []
    for name, atoms in mols.items():
        if ours_first:
            ours = time_ours(atoms, ours_calc, optimize)
            anchor = time_anchor(name, atoms, anchor_calc, tmp, optimize)
        else:
            anchor = time_anchor(name, atoms, anchor_calc, tmp, optimize)
            ours = time_ours(atoms, ours_calc, optimize)
        rows.append((name, len(atoms), anchor, ours))
    start = time.perf_counter()
    harmonic_ir_many(list(mols.values()), ours_calc, optimize=optimize)
    return rows, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ef", default="ef_small", help="EF model config (ef_tiny, ef_small, ...)")
    parser.add_argument("--dipole", default="dipole", help="D model config (dipole_tiny, dipole)")
    parser.add_argument("--precision", default="float32", help="float32 or float64 for both models")
    parser.add_argument(
        "--molecules",
        nargs="+",
        default=None,
        help=f"names from {list(MOLECULES)} (default: ethanol toluene paracetamol caffeine; "
        "with --optimize ethanol toluene: on the untrained models' random surfaces larger "
        "molecules can be driven into overlapping atoms)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--optimize", action="store_true", help="time geometry optimisation (fmax 1 meV/Å) too"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat the comparison; every molecule is timed by both sides back to back, "
        "alternating which goes first (default 1)",
    )
    args = parser.parse_args()

    import logging

    import torch

    from mace4ir.errors import Mace4irError
    from mace4ir.evaluation import MaceIRCalculator, load_molecule

    logging.getLogger("mace4ir.evaluation.harmonic.calculation").setLevel(
        logging.ERROR
    )  # untrained: imaginary modes
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # shared with the tests
    from untrained_models import untrained_pair

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    names = args.molecules or (
        ["ethanol", "toluene"]
        if args.optimize
        else ["ethanol", "toluene", "paracetamol", "caffeine"]
    )
    mols = {n: load_molecule(MOLECULES[n], name=n) for n in names}
    ef, ef_spec, d, d_spec = untrained_pair(args.ef, args.dipole, precision=args.precision)
    ours_calc = MaceIRCalculator(ef, ef_spec, d, d_spec, device=args.device)
    # warm-up both sides on the first molecule (TorchScript / allocator first-call costs)
    first = next(iter(mols.values()))
    ours_calc.hessian_and_dipole_derivatives([first])
    ours_calc.hessian_and_dipole_derivatives(list(mols.values()))
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        anchor_calc = mace_ase_calculator(ef, d, args.precision, args.device, tmp)
        w = first.copy()
        w.calc = anchor_calc
        w.get_forces()
        atoms = [len(a) for a in mols.values()]
        print(
            f"models: {args.ef} + {args.dipole} ({args.precision}), device {args.device}, "
            f"threads {torch.get_num_threads()}; molecules: {', '.join(names)} "
            f"({min(atoms)}-{max(atoms)} atoms); "
            f"{args.rounds} round(s)",
            flush=True,
        )
        try:
            rounds = [
                time_round(mols, anchor_calc, ours_calc, tmp, args.optimize, ours_first=k % 2 == 1)
                for k in range(args.rounds)
            ]
        except (
            Mace4irError
        ) as err:  # e.g. an optimisation on the untrained surface ran atoms together
            raise SystemExit(
                f"harmonic_ir.py: {err} (untrained random-weight models; choose other --molecules "
                "or pass trained models)"
            ) from None
    report(rounds, args.optimize)


def report(rounds, optimize: bool) -> None:
    import numpy as np

    n = len(rounds[0][0])
    print(
        f"{'molecule':12s} {'atoms':>5s} {'anchor s':>9s} {'ours s':>8s} {'ratio':>6s}   (per "
        f"round)"
    )
    for k, (rows, _) in enumerate(rounds):
        for name, n_atoms, (t_a, _), (t_o, _) in rows:
            print(
                f"{name:12s} {n_atoms:5d} {t_a:9.2f} {t_o:8.2f} {t_a / t_o:5.1f}x   (round {k + 1})"
            )
    t_anchor = sum(r[2][0] for rows, _ in rounds for r in rows)
    t_single = sum(r[3][0] for rows, _ in rounds for r in rows)
    t_batch = sum(t for _, t in rounds)
    per_round = [sum(r[2][0] for r in rows) / sum(r[3][0] for r in rows) for rows, _ in rounds]
    m = n * len(rounds)
    spread = f" (rounds: {', '.join(f'{x:.1f}x' for x in per_round)})" if len(rounds) > 1 else ""
    print(f"ase.vibrations.Infrared + MACECalculator : {t_anchor / m:8.3f} s/molecule")
    print(
        f"mace4ir harmonic_ir (autograd)           : {t_single / m:8.3f} s/molecule   ratio "
        f"{t_anchor / t_single:6.1f}x" + spread
    )
    print(
        f"mace4ir harmonic_ir_many (all at once)  : {t_batch / m:8.3f} s/molecule   ratio "
        f"{t_anchor / t_batch:6.1f}x"
    )
    dev = max(float(np.abs(r[2][1] - r[3][1]).max()) for r in rounds[0][0])
    if (
        optimize
    ):  # the untrained surfaces have many minima: the two optimisers may find different ones
        print(
            f"max ||ν| ours - |ν| anchor| = {dev:.2f} cm^-1 (minima may differ on an untrained "
            f"surface)"
        )
    else:
        print(
            f"max ||ν| ours - |ν| anchor| = {dev:.2f} cm^-1 (untrained models at unoptimised "
            f"geometries: "
            "ASE does not project out rotations, which mix with the non-zero gradient)"
        )


if __name__ == "__main__":
    main()
