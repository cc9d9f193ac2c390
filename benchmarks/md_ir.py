"""MD-IR speed: batched BAOAB replicas (mace4ir) vs ASE Langevin + MACECalculator, same run.

Part 1 — throughput, forces *and* dipoles every step, same EF + D weights:
  anchor: ase.md.langevin.Langevin (0.5 fs, 300 K, friction 0.01 ASE units) driving
  mace-torch's MACECalculator (EF), plus a second MACECalculator (model_type="DipoleMACE")
  called every step for the dipole — one replica, as a user would script it;
  ours: md_ir's engine with R replicas in one graph. Prints replica-steps/s and the ratio.
Part 2 (--spectrum) — wall time to a converged spectrum: one long trajectory (paper:
  5 + 50 ps) against R short replicas (strong-friction thermalisation, production doubled
  until the spectrum's Pearson correlation with the long run's reaches 0.98). The dynamics
  need a physical potential: by default the exact harmonic model of the molecule from
  GFN2-xTB (cheap, so it runs here), or the given EF/D models with --spectrum-model mace
  (use trained models: --ef RUN_EF --dipole RUN_D). Wall times for the MACE engine are
  projected from part 1's measured per-step costs (steps x seconds/step at that R).

Models for part 1 are untrained mace-torch models of the given configs unless paths are
given (cost does not depend on the weights). Small run on this CPU:

    OMP_NUM_THREADS=2 python benchmarks/md_ir.py --ef ef_tiny --dipole dipole_tiny --replicas 1 8 32
    --steps 100
    OMP_NUM_THREADS=2 python benchmarks/md_ir.py --spectrum --reference-ps 55 --replicas 32
GPU (the batched engine's real target): add --device cuda --replicas 1 64 256 1024.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")


def load_pair(args):
    import sys

    from mace4ir.evaluation import MaceIRCalculator
    from mace4ir.evaluation.calculators.mace_ir import load_model_handle

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # shared with the tests
    from untrained_models import untrained_pair

    if Path(args.ef).exists():
        ef = load_model_handle(args.ef, "ef", args.trust_pickle, args.device)
        d = load_model_handle(args.dipole, "dipole", args.trust_pickle, args.device)
        return MaceIRCalculator(ef, None, d, None, device=args.device), ef.model, d.model
    ef_m, ef_s, d_m, d_s = untrained_pair(
        args.ef, args.dipole, elements=(1, 6, 7, 8, 9), precision=args.precision
    )
    return MaceIRCalculator(ef_m, ef_s, d_m, d_s, device=args.device), ef_m, d_m


# ---- part 1: throughput -------------------------------------------------------------------
def ase_steps_per_s(atoms, ef_model, d_model, args) -> float:
    import numpy as np
    import torch
    from ase import units
    from ase.calculators.calculator import all_changes
    from ase.md.langevin import Langevin
    from mace.calculators import MACECalculator

    with tempfile.TemporaryDirectory() as tmp:
        torch.save(ef_model, Path(tmp) / "ef.model")
        torch.save(d_model, Path(tmp) / "d.model")
        dtype = str(next(ef_model.parameters()).dtype).replace("torch.", "")
        ef = MACECalculator(
            model_paths=str(Path(tmp) / "ef.model"), device=args.device, default_dtype=dtype
        )
        dip = MACECalculator(
            model_paths=str(Path(tmp) / "d.model"),
            device=args.device,
            default_dtype=dtype,
            model_type="DipoleMACE",
        )
    a = atoms.copy()
    a.calc = ef
    dipoles = []

    def record():
        dip.calculate(a, ["dipole"], all_changes)
        dipoles.append(dip.results["dipole"].copy())

    rng = np.random.default_rng(1)
    a.set_momenta(rng.normal(size=(len(a), 3)) * np.sqrt(units.kB * 300 * a.get_masses())[:, None])
    dyn = Langevin(
        a, timestep=0.5 * units.fs, temperature_K=300, friction=0.01, fixcm=False, rng=rng
    )
    dyn.attach(record, interval=1)
    dyn.run(5)  # warm-up
    start = time.perf_counter()
    dyn.run(args.steps)
    return args.steps / (time.perf_counter() - start)


def ours_steps_per_s(atoms, calc, replicas: int, steps: int) -> float:
    from mace4ir.evaluation import md_ir

    md_ir(
        atoms,
        calc,
        replicas=replicas,
        thermalization_ps=0.0,
        production_ps=0.0025,
        traj_every=0,
        progress=False,
    )  # warm-up (graph, allocator)
    start = time.perf_counter()
    md_ir(
        atoms,
        calc,
        replicas=replicas,
        thermalization_ps=0.0,
        production_ps=steps * 0.5e-3,
        traj_every=0,
        progress=False,
        chunk_steps=max(steps, 1),
    )
    return replicas * steps / (time.perf_counter() - start)


# ---- part 2: time to a converged spectrum -----------------------------------------------------
def spectrum_on_grid(res, grid):
    import numpy as np

    s = res.spectra[0]
    return np.interp(grid, s.wavenumbers_cm1, s.intensity)


def time_to_spectrum(atoms, args, provider_factory):
    import numpy as np

    from mace4ir.evaluation import md_ir
    from mace4ir.evaluation.spectra.metrics import pearson

    grid = np.arange(400.0, 4000.0, 2.0)
    start = time.perf_counter()
    ref = md_ir(
        atoms,
        provider_factory(),
        replicas=1,
        thermalization_ps=5.0,
        production_ps=args.reference_ps - 5.0,
        traj_every=0,
        progress=False,
        seed=100,
    )
    t_ref = time.perf_counter() - start
    ref_steps = int(round(args.reference_ps * 2000))
    ref_y = spectrum_on_grid(ref, grid)
    R = max(args.replicas)
    prod, therm = 0.5, 1.0
    while True:
        start = time.perf_counter()
        res = md_ir(
            atoms,
            provider_factory(),
            replicas=R,
            thermalization_ps=therm,
            thermalization_friction_fs_inv=0.02,
            production_ps=prod,
            traj_every=0,
            progress=False,
            seed=200,
        )
        t_rep = time.perf_counter() - start
        r = pearson(spectrum_on_grid(res, grid), ref_y)
        print(
            f"  {R} replicas x ({therm} + {prod} ps): pearson {r:.4f} vs the {args.reference_ps} "
            f"ps run"
        )
        if r >= 0.98 or prod >= args.reference_ps:
            return ref_steps, t_ref, int(round((therm + prod) * 2000)), t_rep, R, r
        prod *= 2


def harmonic_factory(atoms):
    from mace4ir.evaluation import harmonic_ir, xtb_calculator
    from mace4ir.evaluation.md.providers import HarmonicProvider

    res = harmonic_ir(atoms, xtb_calculator(), fmax=1e-4)
    return res.atoms, lambda: HarmonicProvider.from_result(res)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ef", default="ef_small", help="EF model config name or a trained RUN/model path"
    )
    parser.add_argument(
        "--dipole", default="dipole", help="D model config name or a trained RUN/model path"
    )
    parser.add_argument(
        "--precision", default="float32", help="precision of untrained config models"
    )
    parser.add_argument("--trust-pickle", action="store_true")
    parser.add_argument(
        "--molecule", default="CC(=O)C", help="SMILES or structure file (default acetone)"
    )
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--steps", type=int, default=100, help="timed MD steps per measurement")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--spectrum", action="store_true", help="also run part 2 (time to a converged spectrum)"
    )
    parser.add_argument("--spectrum-model", choices=("harmonic", "mace"), default="harmonic")
    parser.add_argument(
        "--spectrum-molecule",
        default="C=CF",
        help="molecule of part 2 (default fluoroethene, of the paper's MD set; needs a true "
        "GFN2-xTB minimum for the harmonic dynamics)",
    )
    parser.add_argument(
        "--reference-ps", type=float, default=55.0, help="length of the single reference run (ps)"
    )
    args = parser.parse_args()

    import torch

    from mace4ir.evaluation import load_molecule

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    atoms = load_molecule(args.molecule)
    calc, ef_model, d_model = load_pair(args)
    print(
        f"molecule {atoms.get_chemical_formula()} ({len(atoms)} atoms); models {args.ef} + "
        f"{args.dipole}; "
        f"device {args.device}; threads {torch.get_num_threads()}; {args.steps} steps per "
        f"measurement"
    )
    anchor = ase_steps_per_s(atoms, ef_model, d_model, args)
    print(f"ASE Langevin + MACECalculator (EF + D every step): {anchor:9.2f} replica-steps/s")
    per_step = {}
    for R in args.replicas:
        rate = ours_steps_per_s(atoms, calc, R, args.steps)
        per_step[R] = R / rate
        print(
            f"mace4ir batched BAOAB, {R:5d} replicas           : {rate:9.2f} replica-steps/s   "
            f"ratio {rate / anchor:6.1f}x"
        )
    if not args.spectrum:
        return
    print("part 2: wall time to a spectrum with pearson >= 0.98 vs one long run")
    spec_atoms = load_molecule(args.spectrum_molecule)
    if args.spectrum_model == "harmonic":
        start_atoms, factory = harmonic_factory(spec_atoms)
    else:
        start_atoms, factory = spec_atoms, lambda: calc
    ref_steps, t_ref, rep_steps, t_rep, R, r = time_to_spectrum(start_atoms, args, factory)
    print(
        f"  {start_atoms.get_chemical_formula()}, measured ({args.spectrum_model} dynamics): one "
        f"{args.reference_ps} ps run {t_ref:.1f} s, "
        f"{R} replicas {t_rep:.1f} s -> {t_ref / t_rep:.1f}x less wall time"
    )
    if R in per_step and args.spectrum_molecule == args.molecule:
        mace_ref = ref_steps * per_step.get(1, per_step[min(per_step)] / min(per_step))
        mace_ase = ref_steps / anchor
        mace_rep = rep_steps * per_step[R]
        print(
            f"  projected with the MACE engine above: one long run {mace_ref:.0f} s (ours, 1 "
            f"replica) / "
            f"{mace_ase:.0f} s (ASE); {R} batched replicas {mace_rep:.0f} s -> "
            f"{mace_ref / mace_rep:.1f}x / {mace_ase / mace_rep:.1f}x less wall time"
        )


if __name__ == "__main__":
    main()
