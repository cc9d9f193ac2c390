"""MD-based IR: batched Langevin replicas, resumable storage, dipole autocorrelation spectra."""
