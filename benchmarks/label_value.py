"""Which frames are worth an oracle call? Fixed label sets of one closed-loop molecule, each
refitted with the recipe of that run's final refit, scored by harmonic frequency MAE against
GFN2-xTB's own spectrum.

Active learning is only worth its machinery if the frames it picks teach the model more per
call than cheaper choices. This script takes a molecule that ``closed_loop.py`` has run
(its ``active_learning/`` and, for the MD sets, ``baseline/`` folders) and refits the same
starting model on label sets of equal size (n: the run's training labels):

* ``loop``: the run's own labels (its initial normal-mode frames and the loop's picks);
* ``nm300``, ``nm_mixed``, ``nm_hot``: n normal-mode frames at 300 K, at 300/500/700 K,
  at 500/700/1000 K; ``nm300_600``: 600 at 300 K (does quantity help?);
* ``mixed_loop``: the initial frames at 300/500/700 K instead of 300 K, plus the loop's picks;
* ``pool``: the initial frames at 300/500/700 K plus as many frames as the loop picked, the
  ones iteration 0's committee disagrees on most in a pool of normal-mode frames (uncertainty
  selection without committee MD);
* ``md_half``, ``md``: every second frame of the plain-MD baseline's labels, and all of them.

    OMP_NUM_THREADS=1 python benchmarks/label_value.py --run closed_loop/fluoroethene \\
        --demo demo_run --out label_value --seeds 0 1

Members: the run's EF committee size (the refit's frequencies need no dipole model; the
run's own dipole model scores the spectra). Labels and fits are kept in OUT, so a rerun
continues and adds sets or seeds. Each fit costs what the run's refit did (fluoroethene:
~4 minutes on two cores).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
from closed_loop import ensure_demo, refit_recipe, refit_steps

SETS = ("loop", "nm300", "nm_mixed", "nm_hot", "nm300_600", "mixed_loop", "pool", "md_half", "md")
MIXED, HOT = (300.0, 500.0, 700.0), (500.0, 700.0, 1000.0)
POOL_PER_TEMPERATURE = 500

log = logging.getLogger("label_value")


def main() -> int:
    args = parse()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    run = Run(args.run / "active_learning", args.out)
    results = run.load_results()
    for name in args.sets:
        for seed in args.seeds:
            key = f"{name}/seed{seed}"
            if key not in results:
                results[key] = run.score(name, seed, ensure_demo(args.demo))
                run.save_results(results)
    print_table(results, args.sets, args.seeds, run.n_train)
    return 0


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="a molecule's closed_loop.py folder")
    p.add_argument("--demo", type=Path, required=True, help="the demo run (its EF + D models)")
    p.add_argument("--out", type=Path, required=True, help="labels, fits and results.json")
    p.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS, metavar="SET")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="refit seeds (0 1)")
    return p.parse_args()


class Run:
    """One active-learning run's molecule, labels and refit recipe."""

    def __init__(self, al: Path, out: Path):
        from ase.io import read

        from mace4ir.active_learning.labels import LabelStore
        from mace4ir.active_learning.oracle import OracleSpec
        from mace4ir.active_learning.reference import reference

        self.al, self.out = al, out
        done = json.loads((al / "run.json").read_text())
        self.fit = refit_recipe(done, refit_steps(al, done))
        oracle = OracleSpec(
            done["oracle"]["name"], tuple(sorted(done["oracle"]["options"].items()))
        )
        refs = sorted((al / "reference").glob("*.json"))
        if len(refs) != 1:
            raise SystemExit(f"{al}: expected one molecule's reference, found {len(refs)}")
        # the run's cached reference, read back (no atoms: nothing to compute)
        self.ref = reference(oracle, None, al / "reference", refs[0].stem)[0]
        self.labelled = read(al / "data" / "labelled.extxyz", index=":")
        self.n_train = len(self.labelled)
        with np.load(al / "iterations" / "iter_000" / "selected.npz") as z:
            self.n_initial = int(z["n"])
        self.store = LabelStore(out, oracle)

    # -- label sets ------------------------------------------------------------------------
    def frames(self, name: str) -> list[tuple]:
        n, k0 = self.n_train, self.n_initial
        loop = [(a.numbers, a.positions) for a in self.labelled[k0:]]
        if name == "loop":
            return [(a.numbers, a.positions) for a in self.labelled]
        if name in ("nm300", "nm_mixed", "nm_hot", "nm300_600"):
            temps = {"nm_mixed": MIXED, "nm_hot": HOT}.get(name, (300.0,))
            return self.normal_modes(temps, 600 if name == "nm300_600" else n, 100)
        if name == "mixed_loop":
            return self.normal_modes(MIXED, k0, 100) + loop
        if name == "pool":
            return self.normal_modes(MIXED, k0, 100) + self.most_uncertain(len(loop))
        base = read_md(self.al.parent / "baseline" / "data" / "labelled.extxyz")
        return base[::2][:n] if name == "md_half" else base

    def normal_modes(self, temps, n: int, seed: int) -> list[tuple]:
        """``n`` frames shared over ``temps``, temperature i drawn with ``seed + i``."""
        from mace4ir.active_learning.sampling import normal_mode_frames

        seeds = [seed + i for i in range(len(temps))]
        return [(self.ref.atoms.numbers, p) for p in normal_mode_frames(self.ref, n, temps, seeds)]

    def most_uncertain(self, k: int) -> list[tuple]:
        """``k`` frames of a normal-mode pool, shared over the temperatures, that iteration 0's
        committee disagrees on most."""
        from ase import Atoms

        from mace4ir.evaluation.calculators.committee import CommitteeCalculator

        committee = CommitteeCalculator.from_folder(self.al / "iterations/iter_000/committee")
        out, z = [], self.ref.atoms.numbers
        for i, temp in enumerate(MIXED):
            pool = self.normal_modes([temp], POOL_PER_TEMPERATURE, 200 + i)  # own draws
            res = committee.evaluate([Atoms(z, p) for _, p in pool], dipole=False)
            worst = np.argsort([-r["force_disagreement"] for r in res])
            out += [pool[j] for j in worst[: k // len(MIXED) + (i < k % len(MIXED))]]
        return out

    # -- fits ------------------------------------------------------------------------------
    def score(self, name: str, seed: int, demo: dict) -> dict:
        from mace4ir.active_learning.committee_fit import Sources, fit_committee
        from mace4ir.data_prep.labelled_frames import write_labelled_frames
        from mace4ir.evaluation import harmonic_ir
        from mace4ir.evaluation.calculators.committee import CommitteeCalculator
        from mace4ir.evaluation.harmonic.mode_matching import compare_harmonic

        frames = self.frames(name)
        ids = self.store.label_frames(frames, workers=2)
        data = self.out / name / "train.extxyz"
        if not data.is_file():
            data.parent.mkdir(parents=True, exist_ok=True)
            write_labelled_frames(data, self.store.records(ids))
        log.info("%s, seed %d: %d labels", name, seed, len(ids))
        src = Sources([str(demo["ef"])] * self.fit.committee, [])
        folder = fit_committee(self.out / name / f"seed{seed}", data, src, self.fit, True, seed)
        calc = CommitteeCalculator.from_folder(folder, self.al / "committee")
        result = harmonic_ir(self.ref.atoms.copy(), calc)
        mae = compare_harmonic(result, self.ref)["frequency_mae_cm1"]
        errors = np.sort(result.frequencies_cm1) - np.sort(self.ref.frequencies_cm1)
        return {"labels": len(ids), "frequency_mae_cm1": mae, "sorted_errors_cm1": errors.tolist()}

    def load_results(self) -> dict:
        path = self.out / "results.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def save_results(self, results: dict) -> None:
        from mace4ir.atomic_write import write_json_atomic

        write_json_atomic(self.out / "results.json", results)


def read_md(path: Path) -> list[tuple]:
    from ase.io import read

    if not path.is_file():
        raise SystemExit(f"{path}: no baseline labels (run closed_loop.py with its baseline)")
    return [(a.numbers, a.positions) for a in read(path, index=":")]


def print_table(results: dict, sets, seeds, n: int) -> None:
    print(f"\nharmonic frequency MAE (cm^-1) against GFN2-xTB; the run has {n} training labels")
    print("set | labels | " + " | ".join(f"seed {s}" for s in seeds) + " | mean")
    for name in sets:
        rows = [results.get(f"{name}/seed{s}") for s in seeds]
        maes = [r["frequency_mae_cm1"] for r in rows if r]
        labels = next((r["labels"] for r in rows if r), "-")
        cells = [f"{r['frequency_mae_cm1']:.2f}" if r else "-" for r in rows]
        mean = f"{np.mean(maes):.2f}" if maes else "-"
        print(f"{name} | {labels} | " + " | ".join(cells) + f" | {mean}")


if __name__ == "__main__":
    raise SystemExit(main())
