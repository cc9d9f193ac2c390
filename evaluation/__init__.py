"""Stage 3: test-set errors, harmonic and MD IR spectra, spectral metrics, benchmark suites.

The IR engine's public names are imported lazily (torch and mace load only when
used), so ``import mace4ir.evaluation`` stays cheap for the CLI.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "MaceIRCalculator": "calculator",
    "load_model_handle": "calculator",
    "xtb_calculator": "xtb",
    "harmonic_ir": "harmonic",
    "harmonic_ir_many": "harmonic",
    "HarmonicResult": "harmonic",
    "broaden": "broadening",
    "ir_spectrum_from_dipoles": "autocorrelation",
    "replica_spectra": "autocorrelation",
    "md_ir": "md",
    "MDOptions": "md",
    "MDResult": "md",
    "SpectrumResult": "autocorrelation",
    "HarmonicProvider": "providers",
    "read_jcamp": "experimental",
    "load_molecule": "molecules",
    "metrics": None,
    "molecules": None,
    "plots": None,
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mace4ir.evaluation' has no attribute {name!r}")
    module = importlib.import_module(f"mace4ir.evaluation.{_EXPORTS[name] or name}")
    value = module if _EXPORTS[name] is None else getattr(module, name)
    globals()[name] = value
    return value
