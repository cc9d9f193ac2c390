"""How good the committee of one iteration is, per molecule (one history row each).

* held-out error: the committee mean against the oracle on frames it never trained on
  (forces meV/Å, dipoles meÅ), and its force disagreement there;
* harmonic: the committee's spectrum from the oracle's minimum, its per-mode frequency
  spread, and the frequency MAE (modes assigned by frequency, Hungarian) and the intensity
  Pearson (modes matched by shape) against the oracle's own harmonic spectrum.
"""

from __future__ import annotations

import numpy as np

from mace4ir.data_prep.prepared.records import record_to_atoms
from mace4ir.evaluation.calculators.committee import CommitteeCalculator
from mace4ir.evaluation.harmonic.committee import frequency_spread, harmonic_committee
from mace4ir.evaluation.harmonic.mode_matching import compare_harmonic


def assess(run, k: int, committee_folder, refs, holdout: list[str], fit="loop") -> list[dict]:
    """One row per molecule for the committee fitted on iteration ``k``'s data (``fit``:
    "loop", the iteration's own, or "final", the refit that ``final_fit`` makes)."""
    committee = CommitteeCalculator.from_folder(committee_folder)
    per_mol = run.opts.holdout_per_molecule
    n_train = _n_train(run.iteration_dir(k) / "train.extxyz")
    rows = []
    for m, (name, ref) in enumerate(zip(run.names, refs)):
        records = run.labels.records(holdout[m * per_mol : (m + 1) * per_mol])
        row = {
            "iteration": k,
            "fit": fit,
            "molecule": name,
            "n_train": n_train.get(ref.atoms.get_chemical_formula(), 0),
            "oracle_calls": run.labels.calls(),
            "oracle_failures": run.labels.failures(),
            **holdout_errors(committee, records),
            **harmonic_scores(committee, ref),
            "elapsed_min": run.elapsed_s() / 60,
            "cpu_min": run.cpu_s() / 60,
        }
        rows.append(row)
    return rows


def holdout_errors(committee, records: list[dict]) -> dict:
    if not records:
        return {"holdout_force_mae_meV_A": None, "holdout_dipole_mae_meA": None}
    results = committee.evaluate([record_to_atoms(r) for r in records])
    df = np.concatenate([res["forces"] - r["forces"] for res, r in zip(results, records)])
    dmu = np.array([res["dipole"] - r["dipole"] for res, r in zip(results, records)])
    return {
        "holdout_force_mae_meV_A": 1e3 * float(np.abs(df).mean()),
        "holdout_dipole_mae_meA": 1e3 * float(np.abs(dmu).mean()),
        "holdout_force_disagreement_meV_A": 1e3
        * float(np.mean([r["force_disagreement"] for r in results])),
    }


def harmonic_scores(committee, ref) -> dict:
    result = harmonic_committee(ref.atoms, committee)
    return {"frequency_spread_cm1": frequency_spread(result), **compare_harmonic(result, ref)}


def _n_train(path) -> dict[str, int]:
    from ase.io import iread

    counts: dict[str, int] = {}
    for atoms in iread(str(path), index=":"):
        f = atoms.get_chemical_formula()
        counts[f] = counts.get(f, 0) + 1
    return counts
