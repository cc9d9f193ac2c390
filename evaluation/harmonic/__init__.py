"""Harmonic IR: Hessian-seeded optimisation, normal modes, intensities."""
