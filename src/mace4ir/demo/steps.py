"""The steps of ``mace4ir demo`` (one function each, called by :mod:`.demo`).

Each takes the :class:`~mace4ir.demo.run.DemoRun` and returns a small JSON-able
result, which ``OUT/.steps/<step>.json`` keeps for later steps and the report. The
stage APIs do the work; this module only wires them together.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from pathlib import Path

import numpy as np

from mace4ir.atomic_write import write_json_atomic
from mace4ir.errors import Mace4irError

log = logging.getLogger("mace4ir.demo")


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, data, indent=2)


# ---- data and training ----------------------------------------------------------------------
def step_sample(run) -> dict:
    from mace4ir.data_prep.sample import write_sample

    c = run.cfg["sample"]
    write_sample(
        run.sample_dir,
        n_records=c["n_records"],
        seed=c["seed"],
        records_per_shard=c["records_per_shard"],
        progress=True,
    )
    return {"path": str(run.sample_dir), "n_records": c["n_records"]}


def step_prep(run) -> dict:
    from mace4ir.data_prep.pipeline.prepare import PrepOptions, prepare

    c = run.cfg["prep"]
    manifest = prepare(
        PrepOptions(
            source=run.sample_dir,
            out=run.prepared,
            val_size=c["val_size"],
            test_size=c["test_size"],
            train_size=c["train_size"],
            subsets=(c["train_size"],),
            shard_size=c["shard_size"],
            seed=c["seed"],
            progress=True,
        )
    )
    return {
        "path": str(run.prepared),
        "splits": {k: v["count"] for k, v in manifest["splits"].items()},
        "rejected": manifest["rejected"],
        "elements": len(manifest["e0s"]),
    }


def _train(run, kind: str) -> dict:
    from mace4ir.config import merge
    from mace4ir.training import train

    c = merge(run.cfg["train"].get("common", {}), run.cfg["train"][kind])
    model = c.pop("model")
    resume = (run.run_dir(kind) / "checkpoints").is_dir()  # a killed demo continues its training
    out = train(run.prepared, run.run_dir(kind), model=model, resume=resume, **c)
    return {"run": str(out), "model": model, "max_steps": c.get("max_steps")}


def step_train_ef(run) -> dict:
    return _train(run, "ef")


def step_train_dipole(run) -> dict:
    return _train(run, "dipole")


def step_errors(run) -> dict:
    from mace4ir.training import evaluate_errors

    keep = (
        "energy_mae_mev_atom",
        "energy_rmse_mev_atom",
        "forces_mae_mev_A",
        "forces_rmse_mev_A",
        "dipole_mae_meA",
        "dipole_rmse_meA",
        "n_structures",
    )
    result = {}
    for kind in ("ef", "dipole"):  # each run gets its own RUN/test_errors.json (export reads them)
        errors = evaluate_errors(run.run_dir(kind), run.prepared, split="test")
        result[kind] = {k: errors.get(k) for k in keep}
        result[kind]["per_element"] = errors.get("per_element", {})
    return result


# ---- IR spectra: trained model vs GFN2-xTB ---------------------------------------------------
_CALCULATORS: dict = {}


def model_calculator(run):
    """The trained pair as one calculator, built once per process (harmonic and MD share it)."""
    from mace4ir.evaluation.calculators.mace_ir import MaceIRCalculator

    key = str(run.out.resolve())
    if key not in _CALCULATORS:
        _CALCULATORS[key] = MaceIRCalculator.from_paths(run.run_dir("ef"), run.run_dir("dipole"))
    return _CALCULATORS[key]


def heldout_molecules(run, names: list[str]) -> dict:
    """{name: ase.Atoms} of the configured molecules the model can describe and training never
    saw."""
    from mace4ir.data_prep.sample import SAMPLE_MOLECULES
    from mace4ir.molecules import load_molecule

    manifest = json.loads((run.prepared / "manifest.json").read_text())
    table = {int(z) for z in manifest["e0s"]}
    seen = {s for s in SAMPLE_MOLECULES.values()}
    known = run.cfg["ir"]["molecules"]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise Mace4irError(
            f"demo config: molecule(s) {unknown} not defined under ir.molecules "
            f"({', '.join(known)})"
        )
    out = {}
    for name in names:
        smiles = known[name]
        if name in SAMPLE_MOLECULES or smiles in seen:
            raise Mace4irError(
                f"demo config: molecule {name!r} ({smiles}) is in the training sample; pick a "
                f"held-out one"
            )
        atoms = load_molecule(smiles, name=name)
        missing = sorted(set(atoms.numbers.tolist()) - table)
        if missing:
            log.warning("%s: elements %s not in the trained element table; skipped", name, missing)
            continue
        out[name] = atoms
    if not out:
        raise Mace4irError(
            "demo: none of the configured IR molecules can be described by the trained models"
        )
    return out


def harmonic_pair(name, atoms, calc, xtb, c, folder: Path) -> dict:
    """Model and xtb harmonic IR of one molecule (cached as JSON), compared."""
    from mace4ir.evaluation import harmonic_ir, metrics
    from mace4ir.evaluation.spectra.broadening import broaden, wavenumber_grid

    results = {}
    for label, calculator in (("model", calc), ("xtb", xtb)):
        path = folder / f"{slug(name)}_{label}.json"
        if not path.is_file():  # per-molecule resume inside the step
            res = harmonic_ir(atoms.copy(), calculator, fmax=c["fmax"], steps=c["steps"])
            write_json(path, res.to_dict())
        results[label] = json.loads(path.read_text())
    m, x = results["model"], results["xtb"]
    grid = wavenumber_grid()
    spec = {
        k: broaden(r["frequencies_cm1"], r["intensities_km_mol"], grid, c["fwhm_cm1"])[1]
        for k, r in results.items()
    }
    row = {
        "molecule": name,
        "atoms": len(atoms),
        "modes": len(x["frequencies_cm1"]),
        **{
            k: v
            for k, v in metrics.mode_mae(
                m["frequencies_cm1"],
                m["intensities_D2A2amu"],
                x["frequencies_cm1"],
                x["intensities_D2A2amu"],
            ).items()
            if k != "assignment"
        },
        **metrics.compare_spectra(spec["model"], spec["xtb"], grid),
        "intensity_pearson_shape": _shape_matched_pearson(m, x, atoms),
        "imaginary_model": len(m["imaginary_cm1"]),
        "converged_model": m["converged"],
        "converged_xtb": x["converged"],
    }
    np.savetxt(
        folder / f"{slug(name)}_spectra.csv",
        np.column_stack([grid, spec["model"], spec["xtb"]]),
        delimiter=",",
        header="wavenumber_cm1,model_km_mol_per_cm1,xtb_km_mol_per_cm1",
        comments="",
    )
    return row


def _shape_matched_pearson(model: dict, xtb: dict, atoms) -> float:
    """Intensity Pearson over modes matched by shape (close frequencies would swap modes)."""
    from mace4ir.evaluation.harmonic.mode_matching import match_modes
    from mace4ir.evaluation.spectra.metrics import pearson

    order = match_modes(np.asarray(xtb["modes"]), np.asarray(model["modes"]), atoms.get_masses())
    return pearson(np.asarray(model["intensities_km_mol"])[order], xtb["intensities_km_mol"])


def step_harmonic(run) -> dict:
    from mace4ir.evaluation.calculators.xtb import xtb_calculator

    c, folder = run.cfg["ir"]["harmonic"], run.ir_dir / "harmonic"
    calc, xtb = model_calculator(run), xtb_calculator(accuracy=float(run.cfg["ir"]["xtb_accuracy"]))
    mols = heldout_molecules(run, names=c["molecules"])
    rows = [harmonic_pair(name, atoms, calc, xtb, c, folder) for name, atoms in mols.items()]
    write_json(folder / "metrics.json", rows)
    return {"molecules": rows}


def step_active_learning(run) -> dict:
    """One active-learning round trip on a held-out molecule: the trained pair before, the
    committee after, both against GFN2-xTB's harmonic spectrum."""
    import mace4ir
    from mace4ir.active_learning.loop import active_learn
    from mace4ir.active_learning.options import load_options
    from mace4ir.evaluation.calculators.xtb import xtb_calculator

    c = run.cfg["active_learning"]
    name = c["molecule"]
    atoms = heldout_molecules(run, names=[name])[name]
    overrides = {**c["options"], "ef": str(run.run_dir("ef")), "dipole": str(run.run_dir("dipole"))}
    smiles = run.cfg["ir"]["molecules"][name]
    out = active_learn(load_options([smiles], run.out / "active_learning", None, overrides))
    folder, h = run.ir_dir / "active_learning", run.cfg["ir"]["harmonic"]
    xtb = xtb_calculator(accuracy=float(run.cfg["ir"]["xtb_accuracy"]))
    before = harmonic_pair(name, atoms, model_calculator(run), xtb, h, folder / "before")
    committee = mace4ir.load(out / "release", committee=True)
    after = harmonic_pair(name, atoms, committee, xtb, h, folder / "after")
    state = json.loads((out / "state.json").read_text())
    history = json.loads(
        (sorted((out / "iterations").glob("iter_*"))[-1] / "assessment.json").read_text()
    )
    return {
        "molecule": name,
        "before": before,
        "after": after,
        "oracle_calls": history[-1]["oracle_calls"],
        "iterations": int(state["iteration"]) + 1,
        "cpu_min": state["cpu_s"] / 60,
        "stop_reason": state["stop_reason"],
        "folder": str(out),
    }


def md_options(run):
    from mace4ir.evaluation.md.simulation import MDOptions

    c = {k: v for k, v in run.cfg["ir"]["md"].items() if k != "molecules"}
    return MDOptions(**c)


def step_md(run) -> dict:
    from mace4ir.evaluation import md_ir, metrics
    from mace4ir.evaluation.calculators.xtb import xtb_factory

    mols = heldout_molecules(run, names=run.cfg["ir"]["md"]["molecules"])
    opts, folder = md_options(run), run.ir_dir / "md"
    spectra = {}
    xtb = xtb_factory(accuracy=float(run.cfg["ir"]["xtb_accuracy"]))
    for label, calculator in (("model", model_calculator(run)), ("xtb", xtb)):
        log.info(
            "MD (%s): %d molecule(s) x %d replica(s), %.2f ps",
            label,
            len(mols),
            opts.replicas,
            opts.thermalization_ps + opts.production_ps,
        )
        result = md_ir(
            list(mols.values()), calculator, options=opts, out=folder / label
        )  # resumes from `out`
        spectra[label] = result.spectra
    rows = []
    for i, name in enumerate(mols):
        m, x = spectra["model"][i], spectra["xtb"][i]
        c = metrics.compare_on_band(m, x)
        np.savetxt(
            folder / f"{slug(name)}_spectra.csv",
            np.column_stack(
                [
                    c["grid"],
                    c["pred"],
                    c["ref"],
                    np.interp(c["grid"], m.wavenumbers_cm1, m.std),
                    np.interp(c["grid"], x.wavenumbers_cm1, x.std),
                ]
            ),
            delimiter=",",
            comments="",
            header="wavenumber_cm1,model_km_mol_per_cm1,xtb_km_mol_per_cm1,model_std,xtb_std",
        )
        rows.append(
            {"molecule": name, **{k: v for k, v in c.items() if k not in ("grid", "pred", "ref")}}
        )
    write_json(folder / "metrics.json", rows)
    return {
        "molecules": rows,
        "options": {
            k: getattr(opts, k)
            for k in (
                "replicas",
                "temperature_K",
                "timestep_fs",
                "thermalization_ps",
                "production_ps",
            )
        },
    }


# ---- release -----------------------------------------------------------------------------------
def step_export(run) -> dict:
    from mace4ir.release.export import ExportOptions, export_release

    c = run.cfg["release"]
    out = export_release(
        ExportOptions(
            ef=run.run_dir("ef"),
            dipole=run.run_dir("dipole"),
            out=run.release_dir,
            data=run.prepared,
            overwrite=True,
            model_name=c["model_name"],
            repo_id=c["repo_id"],
        )
    )
    return {"path": str(out)}


def step_push(run) -> dict:
    from mace4ir.release.push import PushOptions, push_release

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        result = push_release(
            PushOptions(folder=run.release_dir, repo_id=run.cfg["release"]["repo_id"], dry_run=True)
        )
    plan = buffer.getvalue()
    print(plan, end="")
    (run.out / "push_dry_run.txt").write_text(plan)
    return {"files": result["files"], "plan": plan}


def step_report(run) -> dict:
    from mace4ir.demo.report import write_report

    md, html = write_report(run)
    return {"markdown": str(md), "html": str(html)}
