"""Stage 3: test-set errors, harmonic and MD IR spectra, spectral metrics, benchmark suites.

Public names are imported on first use (torch and mace load only when needed), so
``import mace4ir.evaluation`` stays cheap for the CLI.

Subpackages: ``calculators`` (the ASE calculators users get: MACE pair, GFN2-xTB, from
releases), ``engine`` (batched torch evaluation, Hessians, APTs; ``engine/kernels`` its
fast inference forms), ``harmonic``, ``md``, ``spectra`` (broadening, metrics, JCAMP,
plots) and ``suites`` (scripted benchmark suites, consumers of the rest).
"""

from mace4ir.lazy import lazy_exports

_EXPORTS = {
    "MaceIRCalculator": "evaluation.calculators.mace_ir",
    "load_model_handle": "evaluation.calculators.mace_ir",
    "xtb_calculator": "evaluation.calculators.xtb",
    "harmonic_ir": "evaluation.harmonic.calculation",
    "harmonic_ir_many": "evaluation.harmonic.calculation",
    "HarmonicResult": "evaluation.harmonic.calculation",
    "broaden": "evaluation.spectra.broadening",
    "ir_spectrum_from_dipoles": "evaluation.md.autocorrelation",
    "replica_spectra": "evaluation.md.autocorrelation",
    "SpectrumResult": "evaluation.md.autocorrelation",
    "md_ir": "evaluation.md.simulation",
    "MDOptions": "evaluation.md.simulation",
    "MDResult": "evaluation.md.simulation",
    "HarmonicProvider": "evaluation.md.providers",
    "read_jcamp": "evaluation.spectra.experimental",
    "load_molecule": "molecules",
    "metrics": "evaluation.spectra.metrics",
    "molecules": "molecules",
    "plots": "evaluation.spectra.plots",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
