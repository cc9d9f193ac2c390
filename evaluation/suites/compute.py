"""The work done for one suite molecule: harmonic IR and/or MD IR with the IR engine.

Results are plain JSON-able dicts (lists, floats), stored in ``results/<id>.json``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from mace4ir.errors import ConfigError
from mace4ir.evaluation.calculators.xtb import for_molecule, is_xtb, xtb_factory

DROPPED_HARMONIC_KEYS = ("modes",)  # normal-mode vectors: large, not needed by the report


def check_settings(kind: str, settings: dict[str, dict]) -> None:
    """Refuse unknown option names before any molecule runs (else every molecule would fail)."""
    import inspect

    from mace4ir.evaluation.suites.compare import DEFAULT_SPECTRUM

    known = {"spectrum": set(DEFAULT_SPECTRUM)}
    if kind in ("harmonic", "both"):
        from mace4ir.evaluation.harmonic.calculation import harmonic_ir

        known["harmonic"] = set(inspect.signature(harmonic_ir).parameters) - {"atoms", "calculator"}
    if kind in ("md", "both"):
        from mace4ir.evaluation.md.simulation import MDOptions

        known["md"] = set(MDOptions.__dataclass_fields__)
    for block, names in known.items():
        unknown = sorted(set(settings.get(block) or {}) - names)
        if unknown:
            raise ConfigError(
                f"unknown {block} option(s) {', '.join(unknown)} (known: "
                f"{', '.join(sorted(names))})"
            )


def compute_molecule(
    atoms, calculator, kind: str, settings: dict[str, dict], workdir=None
) -> dict[str, Any]:
    """{"harmonic": {...}, "md": {...}} for ``kind`` harmonic, md or both.

    ``workdir``: folder for this molecule's MD trajectories and checkpoints, so that a
    killed MD run resumes where it stopped.
    """
    calculator = for_molecule(calculator, atoms)
    out: dict[str, Any] = {}
    if kind in ("harmonic", "both"):
        out["harmonic"] = compute_harmonic(atoms, calculator, settings.get("harmonic", {}))
    if kind in ("md", "both"):
        out["md"] = compute_md(atoms, calculator, settings.get("md", {}), workdir)
    return out


def compute_harmonic(atoms, calculator, options: dict) -> dict[str, Any]:
    from mace4ir.evaluation import harmonic_ir

    result = harmonic_ir(atoms.copy(), calculator, **options)
    return {k: _plain(v) for k, v in result.to_dict().items() if k not in DROPPED_HARMONIC_KEYS}


def compute_md(atoms, calculator, options: dict, workdir=None) -> dict[str, Any]:
    """MD spectrum (mean and spread over replicas) in km/mol per cm^-1."""
    from mace4ir.evaluation import md_ir

    if is_xtb(calculator):  # md_ir wants one ASE calculator per replica
        calculator = xtb_factory(**dict(calculator.parameters))
    result = md_ir(atoms.copy(), calculator, out=workdir, progress=False, **options)
    spectrum = result.spectra[0]
    return {
        "wavenumbers_cm1": _plain(spectrum.wavenumbers_cm1),
        "intensity": _plain(spectrum.intensity),
        "std": _plain(spectrum.std),
        "options": _plain(asdict(result.options)),
        **{k: _plain(v) for k, v in result.info.items()},
    }


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
