"""``mace4ir.load``: a released EF + D pair (local folder or Hub repo) as one ASE calculator.

Finding and verifying the files is :mod:`mace4ir.training.models.release_files`; this
module turns them into the IR engine's calculator.
"""

from __future__ import annotations

from pathlib import Path

from mace4ir.training.models.build import fast_model_build
from mace4ir.training.models.release_files import model_paths, resolve_release, verify_release


def load(
    repo_id_or_path: str | Path,
    revision: str | None = None,
    trust_pickle: bool = False,
    device: str = "cpu",
    cache_dir: str | Path | None = None,
    **calculator_kwargs,
):
    """The released EF + D pair as a
    :class:`~mace4ir.evaluation.calculators.mace_ir.MaceIRCalculator`.

    ``repo_id_or_path``: a release folder or a Hub repo id ``ORG/NAME`` (``revision``:
    branch, tag or commit). Energy eV, forces eV/Å, dipole e·Å.
    """
    from mace4ir.evaluation.calculators.mace_ir import MaceIRCalculator

    folder = resolve_release(repo_id_or_path, revision, cache_dir)
    verify_release(folder)
    ef, dipole = model_paths(folder, trust_pickle)
    with fast_model_build():
        return MaceIRCalculator.from_paths(
            ef, dipole, trust_pickle=trust_pickle, device=device, **calculator_kwargs
        )
