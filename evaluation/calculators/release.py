"""``mace4ir.load``: a released EF + D pair (local folder or Hub repo) as one ASE calculator.

Finding and verifying the files, and choosing among several models, is
:mod:`mace4ir.training.models.release_files`; this module turns the chosen pair into the
IR engine's calculator.
"""

from __future__ import annotations

from pathlib import Path

from mace4ir.training.models.build import fast_model_build
from mace4ir.training.models.release_files import (
    committee_paths,
    resolve_release,
    select_models,
    verify_release,
)


def load(
    repo_id_or_path: str | Path,
    revision: str | None = None,
    trust_pickle: bool = False,
    device: str = "cpu",
    cache_dir: str | Path | None = None,
    ef: str | None = None,
    dipole: str | None = None,
    committee: bool = False,
    **calculator_kwargs,
):
    """The released EF + D pair as a
    :class:`~mace4ir.evaluation.calculators.mace_ir.MaceIRCalculator`.

    ``repo_id_or_path``: a release folder or a Hub repo id ``ORG/NAME`` (``revision``:
    branch, tag or commit). ``ef``/``dipole``: model files to use where the repo holds
    several (names as ``mace4ir models`` lists them); by default the smallest float32 EF
    model and the only dipole model (logged). Energy eV, forces eV/Å, dipole e·Å.
    ``committee``: every member of a committee release as one
    :class:`~mace4ir.evaluation.calculators.committee.CommitteeCalculator`.
    """
    from mace4ir.evaluation.calculators.mace_ir import MaceIRCalculator, handle_from_entry

    folder = resolve_release(repo_id_or_path, revision, cache_dir)
    verify_release(folder, repo_id_or_path)
    if committee:
        from mace4ir.evaluation.calculators.committee import CommitteeCalculator

        paths = committee_paths(folder)
        with fast_model_build():
            return CommitteeCalculator.from_paths(
                paths["ef"], paths["dipole"], device=device, **calculator_kwargs
            )
    chosen = select_models(folder, trust_pickle, ef, dipole, where=str(repo_id_or_path))
    with fast_model_build():
        ef_handle, d_handle = (handle_from_entry(e, device) for e in chosen)
        return MaceIRCalculator(ef_handle, None, d_handle, None, device=device, **calculator_kwargs)
