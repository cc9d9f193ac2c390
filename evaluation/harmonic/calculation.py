"""Harmonic IR spectra: optimise, Hessian + dipole derivatives, normal modes, intensities.

For :class:`MaceIRCalculator` the Hessian and ∂μ/∂x come from autograd (batched
double backward, many molecules in one graph). Any other ASE calculator that gives
forces and dipoles (e.g. GFN2-xTB) is differentiated by central finite differences
(2- or 4-point stencils, 0.002 Å default), evaluating displaced geometries in one
batched call when the calculator supports it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from mace4ir.errors import Mace4irError
from mace4ir.evaluation.harmonic.normal_modes import analyse
from mace4ir.evaluation.harmonic.optimizer import optimize_with_hessian
from mace4ir.evaluation.harmonic.progress import announce, attach_progress
from mace4ir.evaluation.spectra.broadening import broaden

log = logging.getLogger(__name__)

DEFAULT_FMAX = 1e-3  # eV/Å (1 meV/Å, as in the paper)
DEFAULT_DELTA = 0.002  # Å
IMAGINARY_REPORT_CM1 = 0.0  # every negative eigenvalue is reported


@dataclass
class HarmonicResult:
    """Vibrational modes only (3N-6, or 3N-5 for linear molecules), ascending frequency."""

    frequencies_cm1: np.ndarray
    intensities_km_mol: np.ndarray
    intensities_D2A2amu: np.ndarray
    modes: np.ndarray  # (n_vib, n_atoms, 3), normalised Cartesian displacements
    reduced_masses: np.ndarray  # amu
    imaginary_cm1: np.ndarray  # |ν| of imaginary modes (they appear as negative frequencies above)
    atoms: object  # the (optimised) geometry used
    converged: bool  # geometry optimisation reached fmax (True when optimize=False)
    linear: bool = False
    method: str = "autograd"
    optimizer_steps: int = 0
    max_force: float = float("nan")  # eV/Å at the geometry used
    hessian: np.ndarray | None = None  # (3n, 3n) Cartesian, eV/Å² (not in to_dict)
    dmu_dx: np.ndarray | None = None  # (3n, 3) dipole derivatives, e (not in to_dict)
    extra: dict = field(default_factory=dict)

    def spectrum(self, grid=None, fwhm: float = 20.0, shape: str = "gaussian"):
        """(wavenumbers cm^-1, km/mol per cm^-1) broadened spectrum."""
        return broaden(self.frequencies_cm1, self.intensities_km_mol, grid, fwhm, shape)

    def to_dict(self) -> dict:
        return {
            "formula": self.atoms.get_chemical_formula(),
            "symbols": self.atoms.get_chemical_symbols(),
            "positions_A": self.atoms.get_positions().tolist(),
            "frequencies_cm1": self.frequencies_cm1.tolist(),
            "intensities_km_mol": self.intensities_km_mol.tolist(),
            "intensities_D2A2amu": self.intensities_D2A2amu.tolist(),
            "reduced_masses_amu": self.reduced_masses.tolist(),
            "modes": self.modes.tolist(),
            "imaginary_cm1": self.imaginary_cm1.tolist(),
            "converged": bool(self.converged),
            "linear": bool(self.linear),
            "method": self.method,
            "optimizer_steps": int(self.optimizer_steps),
            "max_force_eV_A": float(self.max_force),
            **self.extra,
        }


# ---- geometry optimisation ---------------------------------------------------------
SHOWN_IMAGINARY = 5  # imaginary modes named in the warning (the result holds all)


def optimize_geometry(
    atoms, calculator, fmax: float = DEFAULT_FMAX, steps: int = 2000, optimizer: str = "auto"
):
    """(optimised copy, converged, n_steps). Non-convergence is logged and returned, not raised."""
    work, converged, nsteps, _ = _optimize(atoms, calculator, fmax, steps, optimizer)
    return work, converged, nsteps


def _optimize(atoms, calculator, fmax, steps, optimizer):
    """optimize_geometry plus the (Hessian, ∂μ/∂x) still valid at the result, when one is."""
    import ase.optimize

    announce(atoms, f"optimising the geometry (fmax {fmax:g} eV/Å)")
    if optimizer == "auto":  # exact-Hessian seed where autograd gives it cheaply, else ASE's BFGS
        optimizer = (
            "HessianBFGS" if hasattr(calculator, "hessian_and_dipole_derivatives") else "BFGS"
        )
    derivs = None
    if optimizer == "HessianBFGS":
        if not hasattr(calculator, "hessian_and_dipole_derivatives"):
            raise Mace4irError(
                f"optimizer HessianBFGS needs an autograd Hessian; {type(calculator).__name__} "
                "has none (use BFGS)"
            )
        work, converged, nsteps, derivs = optimize_with_hessian(atoms, calculator, fmax, steps)
    else:
        opt_cls = getattr(ase.optimize, optimizer, None)
        if opt_cls is None:
            raise Mace4irError(
                f"unknown optimizer {optimizer!r} (try auto, HessianBFGS, BFGS, LBFGS, FIRE, "
                "BFGSLineSearch)"
            )
        work = atoms.copy()
        work.calc = calculator
        opt = opt_cls(work, logfile=None)
        attach_progress(opt, work)
        converged, nsteps = bool(opt.run(fmax=fmax, steps=steps)), int(opt.nsteps)
    if not converged:
        fnow = float(np.linalg.norm(work.get_forces(), axis=1).max())
        log.warning(
            "%s: optimisation not converged after %d steps (max force %.2e > %.1e eV/Å)",
            work.get_chemical_formula(),
            nsteps,
            fnow,
            fmax,
        )
    return work, converged, nsteps, derivs


# ---- derivatives -------------------------------------------------------------------
_STENCILS = {2: ((1, 0.5), (-1, -0.5)), 4: ((2, -1 / 12), (1, 8 / 12), (-1, -8 / 12), (-2, 1 / 12))}


def displaced_geometries(atoms, delta: float, nfree: int):
    """All displaced copies for a central stencil, in the order (coordinate, stencil point)."""
    if nfree not in _STENCILS:
        raise Mace4irError(f"finite-difference stencil nfree must be 2 or 4, got {nfree}")
    x0 = atoms.get_positions()
    out = []
    for k in range(3 * len(atoms)):
        for step, _ in _STENCILS[nfree]:
            disp = atoms.copy()
            pos = x0.copy()
            pos[k // 3, k % 3] += step * delta
            disp.positions = pos
            out.append(disp)
    return out


def _evaluate_all(calculator, geometries, batch_size: int):
    """Forces and dipoles of many geometries: batched when the calculator supports it."""
    if hasattr(calculator, "evaluate"):
        res = []
        for i in range(0, len(geometries), batch_size):
            res += calculator.evaluate(geometries[i : i + batch_size])
        return [r["forces"] for r in res], [r["dipole"] for r in res]
    forces, dipoles = [], []
    for geo in geometries:
        geo.calc = calculator
        forces.append(geo.get_forces())
        dipoles.append(geo.get_dipole_moment())
        geo.calc = None
    return forces, dipoles


def finite_difference_derivatives(
    atoms, calculator, delta: float = DEFAULT_DELTA, nfree: int = 2, batch_size: int = 64
):
    """(Hessian (3n, 3n) eV/Å², ∂μ/∂x (3n, 3) e) by central differences of forces and dipoles."""
    geos = displaced_geometries(atoms, delta, nfree)
    forces, dipoles = _evaluate_all(calculator, geos, batch_size)
    weights = [w for _, w in _STENCILS[nfree]]
    n3, npts = 3 * len(atoms), len(weights)
    f = np.asarray(forces).reshape(n3, npts, n3)
    d = np.asarray(dipoles).reshape(n3, npts, 3)
    w = np.asarray(weights)[None, :, None]
    hessian = -np.sum(w * f, axis=1) / delta
    dmu_dx = np.sum(w * d, axis=1) / delta
    return 0.5 * (hessian + hessian.T), dmu_dx


def derivatives(
    atoms, calculator, method: str = "auto", delta: float = DEFAULT_DELTA, nfree: int = 2
):
    """(Hessian, ∂μ/∂x, method used): autograd for our models, finite differences otherwise."""
    if method == "auto":
        method = "autograd" if hasattr(calculator, "hessian_and_dipole_derivatives") else "fd"
    announce(atoms, f"Hessian and dipole derivatives ({method}, {3 * len(atoms)} coordinates)")
    if method == "autograd":
        if not hasattr(calculator, "hessian_and_dipole_derivatives"):
            raise Mace4irError(
                f"calculator {type(calculator).__name__} has no autograd Hessian; use method='fd'"
            )
        hessian, dmu_dx = calculator.hessian_and_dipole_derivatives([atoms])[0]
        return hessian, dmu_dx, "autograd"
    if method == "fd":
        hessian, dmu_dx = finite_difference_derivatives(atoms, calculator, delta, nfree)
        return hessian, dmu_dx, f"fd{nfree}"
    raise Mace4irError(f"unknown derivative method {method!r}; choose auto, autograd or fd")


# ---- the public entry point --------------------------------------------------------
def harmonic_ir(
    atoms,
    calculator,
    optimize: bool = True,
    fmax: float = DEFAULT_FMAX,
    steps: int = 2000,
    optimizer: str = "auto",
    method: str = "auto",
    delta: float = DEFAULT_DELTA,
    nfree: int = 2,
) -> HarmonicResult:
    """Harmonic IR spectrum of one molecule with any ASE calculator giving forces and dipoles.

    ``optimizer="auto"``: BFGS seeded with the exact Hessian for our models, ASE's BFGS otherwise.
    """
    if hasattr(calculator, "check"):
        calculator.check(atoms)
    if optimize:
        geom, converged, nsteps, derivs = _optimize(atoms, calculator, fmax, steps, optimizer)
    else:
        geom, converged, nsteps, derivs = atoms.copy(), True, 0, None
    geom.calc = calculator
    max_force = float(np.linalg.norm(geom.get_forces(), axis=1).max())
    geom.calc = None
    if derivs is not None and method in ("auto", "autograd"):  # geometry unchanged since computed
        hessian, dmu_dx, used = *derivs, "autograd"
    else:
        hessian, dmu_dx, used = derivatives(geom, calculator, method, delta, nfree)
    return _result(geom, hessian, dmu_dx, converged, used, nsteps, max_force)


def harmonic_ir_many(
    atoms_list,
    calculator,
    optimize: bool = True,
    fmax: float = DEFAULT_FMAX,
    steps: int = 2000,
    optimizer: str = "auto",
) -> list[HarmonicResult]:
    """Harmonic IR of many molecules; with a MaceIRCalculator on a GPU all Hessians come from one
    graph (on a CPU one graph per molecule, see
    ``MaceIRCalculator.hessian_and_dipole_derivatives``)."""
    if not hasattr(calculator, "hessian_and_dipole_derivatives"):
        return [harmonic_ir(a, calculator, optimize, fmax, steps, optimizer) for a in atoms_list]
    opt = [
        optimize_geometry(a, calculator, fmax, steps, optimizer)
        if optimize
        else (a.copy(), True, 0)
        for a in atoms_list
    ]
    geoms = [g for g, _, _ in opt]
    for g in geoms:
        announce(g, f"Hessian and dipole derivatives (autograd, {3 * len(g)} coordinates)")
    results = calculator.evaluate(geoms, dipole=False)
    fmaxes = [float(np.linalg.norm(r["forces"], axis=1).max()) for r in results]
    derivs = calculator.hessian_and_dipole_derivatives(geoms)
    return [
        _result(g, h, d, c, "autograd", n, f) for (g, c, n), (h, d), f in zip(opt, derivs, fmaxes)
    ]


def _result(geom, hessian, dmu_dx, converged, method, nsteps, max_force) -> HarmonicResult:
    geom.calc = None
    m = analyse(hessian, dmu_dx, geom.get_masses(), geom.get_positions())
    imaginary = -m.frequencies_cm1[m.frequencies_cm1 < IMAGINARY_REPORT_CM1]
    if imaginary.size:  # one line, however many: all of them are in the result
        shown = ", ".join(f"{v:.1f}i" for v in np.sort(imaginary)[::-1][:SHOWN_IMAGINARY])
        more = f" and {imaginary.size - SHOWN_IMAGINARY} more" if imaginary.size > 5 else ""
        log.warning(
            "%s: %d imaginary mode(s): %s cm^-1%s",
            geom.get_chemical_formula(),
            imaginary.size,
            shown,
            more,
        )
    return HarmonicResult(
        frequencies_cm1=m.frequencies_cm1,
        intensities_km_mol=m.intensities_km_mol,
        intensities_D2A2amu=m.intensities_D2A2amu,
        modes=m.modes,
        reduced_masses=m.reduced_masses,
        imaginary_cm1=imaginary,
        atoms=geom,
        converged=converged,
        linear=m.linear,
        method=method,
        optimizer_steps=nsteps,
        max_force=max_force,
        hessian=hessian,
        dmu_dx=dmu_dx,
    )
