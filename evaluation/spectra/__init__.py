"""Spectra as curves: broadening, comparison metrics, experimental JCAMP-DX spectra, plots."""
