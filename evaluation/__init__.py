"""Stage 3: test-set errors, harmonic and MD IR spectra, spectral metrics, benchmark suites."""
