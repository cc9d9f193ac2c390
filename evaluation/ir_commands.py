"""``mace4ir ir harmonic|md``: IR spectra of molecules from a model pair or GFN2-xTB."""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path

from mace4ir.evaluation.calculators import from_options as calculator_options

log = logging.getLogger("mace4ir.ir")

_MOLECULE_HELP = (
    "structure file (any format ase.io reads) or SMILES string (RDKit embedding); several allowed"
)


def register(subparsers) -> None:
    ir = subparsers.add_parser(
        "ir",
        help="harmonic or MD-based IR spectra of molecules",
        description="IR spectra from a MACE-EF + MACE-D model pair or GFN2-xTB.",
    )
    sub = ir.add_subparsers(dest="ir_command", metavar="KIND", required=True)
    _harmonic_parser(sub)
    _md_parser(sub)


def _common(p) -> None:
    p.add_argument("molecules", nargs="+", metavar="MOLECULE", help=_MOLECULE_HELP)
    calculator_options.add_arguments(p)
    p.add_argument(
        "--reference",
        help="experimental JCAMP-DX spectrum to overlay and score against (one molecule)",
    )
    p.add_argument("--name", help="name of the molecule in outputs (default: file stem or formula)")
    p.add_argument("--out", default="ir_results", help="output folder (default ir_results/)")


def _harmonic_parser(sub) -> None:
    p = sub.add_parser(
        "harmonic",
        help="harmonic IR: optimise, Hessian, normal modes, intensities",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Harmonic IR spectrum. Writes modes.csv (cm^-1, km/mol, (D/Å)^2/amu, amu), "
        "harmonic.json, spectrum.csv (km/mol per cm^-1) and spectrum.png per molecule.",
    )
    _common(p)
    p.add_argument(
        "--config", default="harmonic", help="harmonic config: built-in name or YAML path"
    )
    p.add_argument("--fmax", type=float, help="optimiser max force in eV/Å (config default 0.001)")
    p.add_argument("--no-optimize", action="store_true", help="use the geometry as given")
    p.add_argument(
        "--method", choices=("auto", "autograd", "fd"), help="derivatives (config default auto)"
    )
    p.add_argument(
        "--delta", type=float, help="finite-difference displacement in Å (config default 0.002)"
    )
    p.add_argument(
        "--nfree",
        type=int,
        choices=(2, 4),
        help="finite-difference stencil points (config default 2)",
    )
    p.add_argument(
        "--fwhm",
        type=float,
        help="line width (FWHM) in cm^-1 for the broadened spectrum (default 20)",
    )
    p.add_argument(
        "--shape", choices=("gaussian", "lorentzian"), help="line shape (default gaussian)"
    )
    p.set_defaults(func=run_harmonic)


def _md_parser(sub) -> None:
    p = sub.add_parser(
        "md",
        help="MD-based IR: batched Langevin replicas, dipole autocorrelation",
        description="MD-based IR spectrum (BAOAB Langevin, all replicas in one batch). Defaults "
        "from configs/ir/md.yaml (paper: 300 K, 0.5 fs, 5 ps + 50 ps, friction "
        "9.82e-4 fs^-1 = 0.01 ASE units). Writes trajectories (extxyz), spectrum.csv "
        "(km/mol per cm^-1, mean and spread over replicas; with --committee also over the "
        "dipole members along the committee-mean trajectory) and spectrum.png; rerunning "
        "with the same --out resumes an interrupted run.",
    )
    _common(p)
    p.add_argument(
        "--config", default="md", help="MD config: built-in name or YAML path (default md)"
    )
    p.add_argument("--replicas", type=int, help="independent trajectories per molecule (default 1)")
    p.add_argument("--temperature", type=float, help="temperature in K (default 300)")
    p.add_argument("--timestep", type=float, help="time step in fs (default 0.5)")
    p.add_argument("--thermalization-ps", type=float, help="thermalisation in ps (default 5)")
    p.add_argument("--production-ps", type=float, help="production in ps (default 50)")
    p.add_argument("--friction", type=float, help="Langevin friction in fs^-1 (default 9.82e-4)")
    p.add_argument(
        "--dipole-route", choices=("fd", "apt"), help="dμ/dt by finite differences or Σ P_i·v_i"
    )
    p.add_argument("--quantum-correction", choices=("harmonic", "standard", "schofield"))
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--force",
        action="store_true",
        help="run in an existing non-empty run folder that is not an MD run (its files are "
        "never overwritten or removed)",
    )
    p.set_defaults(func=run_md)


# ---- shared helpers --------------------------------------------------------------------
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "molecule"


def _molecules(args):
    from mace4ir.errors import Mace4irError
    from mace4ir.molecules import load_molecule

    if args.name and len(args.molecules) > 1:
        raise Mace4irError("--name applies to a single MOLECULE")
    if args.reference and len(args.molecules) > 1:
        raise Mace4irError("--reference applies to a single MOLECULE")
    mols = [load_molecule(m, name=args.name) for m in args.molecules]
    for spec, atoms in zip(args.molecules, mols):
        if len(atoms) < 2:  # no vibrations: nothing to plot, no strongest band to report
            raise Mace4irError(
                f"molecule {spec}: a single atom has no vibrations, so no IR spectrum"
            )
    return mols, [_safe(str(a.info.get("name") or a.get_chemical_formula())) for a in mols]


def _inputs(args):
    """Everything the user gave, read and checked before the (slow) calculator is built:
    (calculator spec, molecules, names, reference spectrum (x, y) or None)."""
    from mace4ir.evaluation.spectra.experimental import read_jcamp

    spec = calculator_options.spec_from_args(args)
    mols, names = _molecules(args)
    calculator_options.check_molecules(spec, mols)
    reference = read_jcamp(args.reference) if args.reference else None
    return spec, mols, names, reference


def _kind(spec) -> str:
    if spec["type"] == "xtb":
        return "xtb"
    return "committee mean ± spread" if spec.get("committee") else "model"


def _md_label(spec, spectrum, replicas: int) -> str:
    who = "committee mean" if spec.get("committee") else _kind(spec)
    band = "replicas"
    if spectrum.per_member is not None:
        band += f" and {len(spectrum.per_member)} dipole members"
    return f"MD ({who}, {replicas} replicas; band: spread over {band})"


def _reference_curve(reference, grid):
    from mace4ir.evaluation.spectra.experimental import comparable

    return comparable(*reference, grid) if reference is not None else None


def _write_outputs(
    folder: Path, name: str, grid, y, std, reference, label: str, sticks=None
) -> dict:
    import numpy as np

    from mace4ir.evaluation.spectra.metrics import compare_spectra
    from mace4ir.evaluation.spectra.plots import overlay

    curves = [{"y": y, "std": std, "label": label}]
    scores = {}
    if reference is not None:
        curves.append({"y": reference, "label": "experiment"})
        scores = compare_spectra(y / (np.max(np.abs(y)) or 1.0), reference, grid)
        (folder / "metrics.json").write_text(json.dumps(scores, indent=2))
    overlay(folder / "spectrum.png", grid, curves, title=name, sticks=sticks)
    return scores


# ---- harmonic ----------------------------------------------------------------------------
def run_harmonic(args) -> int:
    import numpy as np

    from mace4ir.config import load_config
    from mace4ir.evaluation.spectra.broadening import wavenumber_grid

    cfg = load_config(args.config, group="ir")
    for key, value in (
        ("fmax", args.fmax),
        ("method", args.method),
        ("delta", args.delta),
        ("nfree", args.nfree),
        ("fwhm_cm1", args.fwhm),
        ("shape", args.shape),
    ):
        if value is not None:
            cfg[key] = value
    if args.no_optimize:
        cfg["optimize"] = False
    spec, mols, names, reference = _inputs(args)
    opt = dict(
        optimize=cfg["optimize"], fmax=cfg["fmax"], steps=cfg["steps"], optimizer=cfg["optimizer"]
    )
    results = _harmonic_results(spec, calculator_options.build(spec), mols, cfg, opt)
    grid = wavenumber_grid(*cfg["grid_cm1"])
    for name, res in zip(names, results):
        folder = Path(args.out) / name
        folder.mkdir(parents=True, exist_ok=True)
        _write_harmonic(folder, res)
        _, y = res.spectrum(grid, cfg["fwhm_cm1"], cfg["shape"])
        band = _member_band(res, grid, cfg)
        np.savetxt(
            folder / "spectrum.csv",
            np.column_stack([grid, y]),
            delimiter=",",
            header="wavenumber_cm1,intensity_km_mol_per_cm1",
            comments="",
        )
        scores = _write_outputs(
            folder,
            name,
            grid,
            y,
            band,
            _reference_curve(reference, grid),
            f"harmonic ({_kind(spec)})",
            sticks=[
                {
                    "freq": res.frequencies_cm1,
                    "intensity": res.intensities_km_mol,
                    "label": "modes",
                    "color": "0.3",
                }
            ],
        )
        _log_harmonic(name, res, folder, scores)
    return 0


def _harmonic_results(spec, calc, mols, cfg, opt) -> list:
    from mace4ir.evaluation.harmonic.calculation import harmonic_ir, harmonic_ir_many

    fd = dict(method=cfg["method"], delta=cfg["delta"], nfree=cfg["nfree"])
    if spec["type"] == "xtb":
        from mace4ir.evaluation.calculators.xtb import for_molecule

        return [harmonic_ir(m, for_molecule(calc, m), **fd, **opt) for m in mols]
    if spec.get("committee"):
        from mace4ir.evaluation.harmonic.committee import harmonic_committee

        return [harmonic_committee(m, calc, **opt) for m in mols]
    if cfg["method"] in ("auto", "autograd"):
        return harmonic_ir_many(mols, calc, **opt)
    return [harmonic_ir(m, calc, **{**fd, "method": "fd"}, **opt) for m in mols]


def _member_band(res, grid, cfg):
    """Standard deviation of the committee members' broadened spectra (None for one model)."""
    import numpy as np

    from mace4ir.evaluation.spectra.broadening import broaden

    if "member_frequencies_cm1" not in res.extra:
        return None
    members = zip(res.extra["member_frequencies_cm1"], res.extra["member_intensities_km_mol"])
    curves = [
        broaden(np.asarray(f), np.asarray(i), grid, cfg["fwhm_cm1"], cfg["shape"])[1]
        for f, i in members
    ]
    return np.std(curves, axis=0)


def _write_harmonic(folder: Path, res) -> None:
    import numpy as np
    from ase.io import write

    columns = [
        np.arange(len(res.frequencies_cm1)),
        res.frequencies_cm1,
        res.intensities_km_mol,
        res.intensities_D2A2amu,
        res.reduced_masses,
    ]
    header = "mode,frequency_cm1,intensity_km_mol,intensity_D2A2amu,reduced_mass_amu"
    fmt = ["%d", "%.4f", "%.6g", "%.6g", "%.6g"]
    if "frequency_std_cm1" in res.extra:  # a committee: per-mode spread of its members
        columns += [res.extra["frequency_std_cm1"], res.extra["intensity_std_km_mol"]]
        header += ",frequency_std_cm1,intensity_std_km_mol"
        fmt += ["%.4f", "%.6g"]
    np.savetxt(
        folder / "modes.csv",
        np.column_stack(columns),
        delimiter=",",
        fmt=fmt,
        header=header,
        comments="",
    )
    (folder / "harmonic.json").write_text(json.dumps(res.to_dict(), indent=1))
    write(folder / "optimized.xyz", res.atoms)


def _log_harmonic(name, res, folder, scores) -> None:
    if not res.converged:
        log.warning(
            "%s: geometry optimisation did NOT converge (max force %.2e eV/Å)", name, res.max_force
        )
    strongest = res.frequencies_cm1[res.intensities_km_mol.argmax()]
    log.info(
        "%s: %d modes, strongest at %.1f cm^-1 (%.1f km/mol) -> %s%s",
        name,
        len(res.frequencies_cm1),
        strongest,
        res.intensities_km_mol.max(),
        folder,
        f"; vs experiment pearson {scores['pearson']:.3f}" if scores else "",
    )


# ---- MD ------------------------------------------------------------------------------------
def run_md(args) -> int:
    from mace4ir.evaluation.md.simulation import load_md_config, md_ir

    opts = load_md_config(args.config)
    overrides = {
        "replicas": args.replicas,
        "temperature_K": args.temperature,
        "timestep_fs": args.timestep,
        "thermalization_ps": args.thermalization_ps,
        "production_ps": args.production_ps,
        "friction_fs_inv": args.friction,
        "dipole_route": args.dipole_route,
        "quantum_correction": args.quantum_correction,
        "seed": args.seed,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    calc_spec, mols, names, reference = _inputs(args)
    if calc_spec["type"] == "xtb":
        from mace4ir.evaluation.calculators.xtb import xtb_factory

        calc = xtb_factory(accuracy=calc_spec["accuracy"])
    else:
        calc = calculator_options.build(calc_spec)
    out = Path(args.out)
    run_dir = out / ("md_" + "+".join(names))[:120]
    result = md_ir(
        mols, calc, opts, out=run_dir, progress=not args.no_progress, force=args.force, **overrides
    )
    for name, spec in zip(names, result.spectra):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        spec.to_csv(folder / "md_spectrum.csv")
        keep = (spec.wavenumbers_cm1 >= 400) & (spec.wavenumbers_cm1 <= 4000)
        grid = spec.wavenumbers_cm1[keep]
        scores = _write_outputs(
            folder,
            name,
            grid,
            spec.intensity[keep],
            spec.band[keep],
            _reference_curve(reference, grid),
            _md_label(calc_spec, spec, result.options.replicas),
        )
        log.info(
            "%s: MD spectrum -> %s (trajectories in %s)%s",
            name,
            folder,
            run_dir,
            f"; vs experiment pearson {scores['pearson']:.3f}" if scores else "",
        )
    (out / "md_result.json").write_text(json.dumps(result.to_dict(), indent=2))
    return 0
