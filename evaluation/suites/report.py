"""Tables, figures and report.md of a benchmark output folder; merging chunk outputs.

OUT/tables/molecules.{csv,md}   one row per molecule x (prediction, reference)
OUT/tables/classes.{csv,md}     per class (and "all") means, as the paper's class table
OUT/plots/<id>.png              predicted vs reference spectra (paper Figs. 4-6 in form)
OUT/plots/overview.png          all molecules in one figure
OUT/report.md                   summary, tables, failures, figure links
"""

from __future__ import annotations

import csv
import logging
import math
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from mace4ir.errors import ConfigError
from mace4ir.evaluation.suites.compare import (
    MODE_METRICS,
    REFERENCE_LABELS,
    SPECTRAL_METRICS,
    compare,
    grid_from,
    predicted_spectra,
    reference_spectra,
)
from mace4ir.evaluation.suites.store import ResultStore, check_same_setup, read_json

log = logging.getLogger(__name__)

METRICS = (*MODE_METRICS, *SPECTRAL_METRICS)
MOLECULE_COLUMNS = (
    "id",
    "name",
    "class",
    "status",
    "prediction",
    "reference",
    "n_modes",
    *METRICS,
    "imaginary_modes",
    "converged",
    "elapsed_s",
    "note",
)
CLASS_COLUMNS = ("class", "prediction", "reference", "n", *METRICS)


def write_report(
    out: str | Path, reference_dir: str | Path | None = None, plots: bool = True
) -> Path:
    """(Re)write tables, plots and report.md from the results in ``out``."""
    store = ResultStore(out)
    run = store.read_run() or {}
    results = store.results()
    settings = (run.get("settings") or {}).get("spectrum", {})
    ref_store = ResultStore(reference_dir) if reference_dir else None
    rows = []
    for res in results:
        ref = _reference_result(ref_store, res["id"])
        rows += molecule_rows(res, settings, ref)
    class_rows = class_table(rows, run.get("classes") or {})
    tables = store.out / "tables"
    write_csv(tables / "molecules.csv", MOLECULE_COLUMNS, rows)
    write_csv(tables / "classes.csv", CLASS_COLUMNS, class_rows)
    (tables / "molecules.md").write_text(markdown_table(MOLECULE_COLUMNS[:-1], rows))
    (tables / "classes.md").write_text(markdown_table(CLASS_COLUMNS, class_rows))
    figures = plot_all(results, settings, ref_store, store.out / "plots") if plots else []
    path = store.out / "report.md"
    path.write_text(report_markdown(run, results, rows, class_rows, figures, reference_dir))
    return path


def _reference_result(ref_store: ResultStore | None, mol_id: str) -> dict | None:
    if ref_store is None or not ref_store.path(mol_id).is_file():
        return None
    return read_json(ref_store.path(mol_id))


def molecule_rows(res: dict, settings: dict, reference_run: dict | None) -> list[dict[str, Any]]:
    mol = res["molecule"]
    base = {
        "id": res["id"],
        "name": mol["name"],
        "class": mol["class"],
        "status": res["status"],
        "elapsed_s": res.get("elapsed_s"),
    }
    if res["status"] != "ok":
        return [{**base, "note": res.get("error", "")}]
    harm = res.get("harmonic") or {}
    if harm:
        base["imaginary_modes"] = len(harm.get("imaginary_cm1", []))
        base["converged"] = harm.get("converged")
    comparisons = compare(res, settings, reference_run)
    if not comparisons:
        preds = [p for p in ("harmonic", "md") if res.get(p)]
        return [{**base, "prediction": "+".join(preds), "reference": "-", "note": "no reference"}]
    return [{**base, **row} for row in comparisons]


def class_table(rows: list[dict], classes: dict[str, str]) -> list[dict[str, Any]]:
    """Mean of every metric per (class, prediction, reference), plus an "all" class."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        if row.get("status") != "ok" or row.get("reference") in (None, "-"):
            continue
        groups[(row["class"], row["prediction"], row["reference"])].append(row)
        groups[("all", row["prediction"], row["reference"])].append(row)
    order = {c: i for i, c in enumerate([*classes, "all"])}
    out = []
    for (cls, pred, ref), members in sorted(
        groups.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0])
    ):
        row: dict[str, Any] = {
            "class": classes.get(cls, cls),
            "prediction": pred,
            "reference": ref,
            "n": len(members),
        }
        for m in METRICS:
            vals = [
                r[m] for r in members if isinstance(r.get(m), (int, float)) and math.isfinite(r[m])
            ]
            row[m] = float(np.mean(vals)) if vals else None
        out.append(row)
    return out


# ---------------------------------------------------------------------------- writers


def write_csv(path: Path, columns, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(row.get(k), csv_mode=True) for k in columns})
    tmp.replace(path)


def _fmt(value, csv_mode: bool = False) -> str:
    if value is None:
        return "" if csv_mode else "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "nan"
        return repr(value) if csv_mode else f"{value:.4g}"
    return str(value)


def markdown_table(columns, rows) -> str:
    used = [c for c in columns if any(r.get(c) not in (None, "") for r in rows)] or list(columns)
    lines = ["| " + " | ".join(used) + " |", "|" + "---|" * len(used)]
    for row in rows:
        cells = [_fmt(row.get(c)).replace("|", "\\|").replace("\n", " ") for c in used]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def report_markdown(run, results, rows, class_rows, figures, reference_dir) -> str:
    ok = [r for r in results if r["status"] == "ok"]
    failed = [r for r in results if r["status"] != "ok"]
    calc = run.get("calculator", {})
    lines = [
        f"# Benchmark report: {run.get('suite', '?')}",
        "",
        f"- suite file: `{run.get('suite_path', '?')}`",
        f"- calculator: `{_describe(calc)}`",
        f"- kind: {run.get('kind', '?')}",
        f"- molecules: {len(results)} ({len(ok)} ok, {len(failed)} failed)",
    ]
    if reference_dir:
        lines.append(f"- reference run: `{reference_dir}`")
    lines += [
        "",
        "Metrics: frequency MAE (cm⁻¹) and intensity MAE ((D/Å)²/amu, km/mol) after one-to-one "
        "(Hungarian) mode assignment; Pearson, Spearman, cosine, SIS, Wasserstein (cm⁻¹) and "
        "Mimyria "
        "on spectra normalised to unit maximum over the range both cover. References: "
        + ", ".join(f"`{k}` = {v}" for k, v in REFERENCE_LABELS.items())
        + ".",
        "",
        "## Per class",
        "",
        markdown_table(CLASS_COLUMNS, class_rows) if class_rows else "(no comparisons)\n",
        "## Per molecule",
        "",
        markdown_table(MOLECULE_COLUMNS[:-1], rows),
    ]
    if failed:
        lines += ["## Failed molecules", ""]
        lines += [f"- `{r['id']}`: {r.get('error', '')}" for r in failed]
        lines.append("")
    unreferenced = [r["id"] for r in rows if r.get("status") == "ok" and r.get("reference") == "-"]
    if unreferenced:
        lines += [
            f"Without references (spectra computed, nothing to compare; add references to the "
            f"suite or "
            f"pass --reference): {', '.join(unreferenced)}.",
            "",
        ]
    notes = [
        r for r in rows if r.get("note") and r.get("status") == "ok" and r.get("reference") != "-"
    ]
    if notes:
        lines += (
            ["## Notes", ""]
            + [
                f"- `{r['id']}` ({r.get('prediction')} vs {r.get('reference')}): {r['note']}"
                for r in notes
            ]
            + [""]
        )
    if figures:
        lines += ["## Figures", ""] + [f"![{p.stem}](plots/{p.name})" for p in figures] + [""]
    return "\n".join(lines)


def _describe(calc: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in calc.items()) if calc else "?"


# ---------------------------------------------------------------------------- plots


def plot_all(results, settings, ref_store, folder: Path) -> list[Path]:
    """One overlay PNG per ok molecule (the engine's plots.overlay) and an overview grid."""
    from mace4ir.evaluation.spectra.plots import overlay

    grid = grid_from(settings)
    drawn, paths = [], []
    for res in results:
        if res["status"] != "ok":
            continue
        try:
            curves = _curves(res, grid, settings, _reference_result(ref_store, res["id"]))
            sticks = _sticks(res)
            paths.append(
                overlay(folder / f"{res['id']}.png", grid, curves, res["molecule"]["name"], sticks)
            )
        except Exception as exc:  # a figure must never stop the report
            log.warning("no plot for %s: %s", res["id"], exc)
            continue
        drawn.append((res, curves))
    if drawn:
        paths.append(_overview(drawn, grid, folder / "overview.png"))
    return paths


def _curves(res, grid, settings, reference_run) -> list[dict]:
    """Predicted and reference spectra on the grid (zero where a reference has no data)."""
    curves = [
        {"y": np.nan_to_num(y), "label": f"predicted ({k})"}
        for k, y in predicted_spectra(res, grid, settings).items()
    ]
    md = res.get("md") or {}
    if md.get("std") is not None:
        std = np.interp(grid, md["wavenumbers_cm1"], md["std"], left=0.0, right=0.0)
        next(c for c in curves if c["label"] == "predicted (md)")["std"] = std
    for name, (y, _) in reference_spectra(res, grid, settings, reference_run).items():
        curves.append({"y": np.nan_to_num(y), "label": REFERENCE_LABELS.get(name, name)})
    return curves


def _sticks(res) -> list[dict]:
    harm = res.get("harmonic") or {}
    if not harm.get("frequencies_cm1"):
        return []
    return [
        {
            "freq": harm["frequencies_cm1"],
            "intensity": harm["intensities_km_mol"],
            "label": "harmonic modes",
        }
    ]


def _overview(drawn, grid, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(drawn)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.4 * rows), squeeze=False)
    for ax, (res, curves) in zip(axes.flat, drawn):
        for c in curves:
            top = np.max(np.abs(c["y"])) or 1.0
            ax.plot(grid, c["y"] / top, lw=0.9, label=c["label"])
        ax.set_xlim(grid[-1], grid[0])  # decreasing wavenumber, as in the paper's figures
        ax.set_yticks([])
        ax.set_title(res["molecule"]["name"], fontsize=9)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("wavenumber (cm$^{-1}$)", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=max(1, len(labels)), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.25 / rows))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------- merge


def merge_outputs(sources: list[str | Path], dest: str | Path) -> dict[str, int]:
    """Copy the results of chunk outputs into ``dest`` (same setup required) and report."""
    dest_store = ResultStore(dest)
    runs = []
    for src in sources:
        run = ResultStore(src).read_run()
        if run is None:
            raise ConfigError(f"{src}: not a bench output (no run.json)")
        runs.append(run)
    for src, run in zip(sources[1:], runs[1:]):
        check_same_setup(runs[0], run, Path(src))
    dest_store.start_run({**runs[0], "merged_from": [str(s) for s in sources]})
    counts = {"copied": 0, "kept": 0}
    for src in sources:
        for path in sorted(ResultStore(src).results_dir.glob("*.json")):
            counts[_merge_one(path, dest_store)] += 1
    return counts


def _merge_one(path: Path, dest: ResultStore) -> str:
    """Copy a result unless dest already has one that is ok (an ok result beats a failure)."""
    res = read_json(path)
    target = dest.path(res["id"])
    if target.exists() and target.resolve() == path.resolve():
        return "kept"
    if target.exists():
        old = read_json(target)
        if old["status"] == "ok" or res["status"] != "ok":
            return "kept"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".json.tmp")
    shutil.copyfile(path, tmp)
    tmp.replace(target)
    return "copied"
