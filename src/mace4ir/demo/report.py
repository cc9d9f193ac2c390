"""The demo report: ``OUT/report.md`` and ``OUT/report.html`` with PNG figures in ``OUT/figures``.

Built only from what the steps left on disk (step results, run logs, spectra CSVs), so
it can be rewritten at any time (``mace4ir demo --steps report --force``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from mace4ir.demo.steps import slug

PAPER = "MACE4IR paper (EF small/float32 + D, 10M QCML, PBE0)"


def fmt(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) >= 10**-digits or value == 0 else f"{value:.2e}"
    return str(value)


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows])


def learning_curve(run, path: Path) -> Path | None:
    """Validation MAE vs training step for both models (from RUN/metrics.jsonl)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mace4ir.training.loop.metrics_log import read_rows

    series = [
        ("ef", "energy_mae_mev_atom", "E MAE (meV/atom)"),
        ("ef", "forces_mae_mev_A", "F MAE (meV/Å)"),
        ("dipole", "dipole_mae_meA", "μ MAE (meÅ)"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3), dpi=130)
    drawn = False
    for ax, (kind, key, label) in zip(axes, series):
        rows = [r for r in read_rows(run.run_dir(kind), "val") if r.get(key) is not None]
        if rows:
            values = [r[key] for r in rows]
            ax.plot([r["step"] for r in rows], values, "o-", ms=3)
            if max(values) > 3 * min(values) > 0:
                ax.set_yscale("log")
            drawn = True
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
    fig.suptitle("validation error during training")
    fig.tight_layout()
    if drawn:
        fig.savefig(path)
    plt.close(fig)
    return path if drawn else None


def spectrum_figure(csv: Path, path: Path, title: str, std: bool) -> Path:
    from mace4ir.evaluation.spectra.plots import overlay

    data = np.loadtxt(csv, delimiter=",", skiprows=1)
    curves = [
        {"y": data[:, 2], "label": "GFN2-xTB (reference)", "std": data[:, 4] if std else None},
        {"y": data[:, 1], "label": "trained tiny MACE", "std": data[:, 3] if std else None},
    ]
    return overlay(path, data[:, 0], curves, title=title)


def section_data(run, figures: Path) -> str:
    prep = run.done("prep")["result"]
    parts = [
        "## 1. Data",
        f"QCML-format sample: {run.cfg['sample']['n_records']} GFN2-xTB conformers (tblite), "
        f"written in the "
        "TFDS/TFRecord layout of QCML and read back without TensorFlow. Filtered to neutral "
        "singlets.",
        table(["split", "structures"], [[k, v] for k, v in prep["splits"].items()]),
        "Rejected: " + ", ".join(f"{k} {v}" for k, v in prep["rejected"].items()) + ".",
    ]
    png = run.prepared / "elements.png"
    if png.is_file():
        shutil.copy(png, figures / "elements.png")
        parts.append("![element map](figures/elements.png)")
    return "\n\n".join(parts)


def section_training(run, figures: Path) -> str:
    e = run.done("errors")["result"]
    ef, dip = e["ef"], e["dipole"]
    parts = [
        "## 2. Training and test-set errors",
        f"Tiny MACE-EF ({run.cfg['train']['ef']['model']}, {run.cfg['train']['ef']['max_steps']} "
        f"steps) and "
        f"MACE-D ({run.cfg['train']['dipole']['model']}, {run.cfg['train']['dipole']['max_steps']} "
        f"steps) on CPU.",
        table(
            ["model", "test structures", "E MAE (meV/atom)", "F MAE (meV/Å)", "μ MAE (meÅ)"],
            [
                [
                    "this demo",
                    ef.get("n_structures"),
                    ef.get("energy_mae_mev_atom"),
                    ef.get("forces_mae_mev_A"),
                    dip.get("dipole_mae_meA"),
                ],
                [PAPER, "100,000", "3.3", "44.4", "23.3"],
            ],
        ),
    ]
    curve = learning_curve(run, figures / "learning_curve.png")
    if curve:
        parts.append("![learning curve](figures/learning_curve.png)")
    return "\n\n".join(parts)


def section_harmonic(run, figures: Path) -> str:
    rows = run.done("harmonic")["result"]["molecules"]
    parts = [
        "## 3. Harmonic IR: trained model vs GFN2-xTB",
        "Molecules not in the training sample; each method optimises its own geometry (BFGS), then "
        "Hessian and dipole derivatives (autograd for the model, finite differences for xTB). "
        "Modes "
        "matched one-to-one (Hungarian); spectra broadened (Gaussian) on 400–4000 cm⁻¹.",
        table(
            [
                "molecule",
                "atoms",
                "modes",
                "freq MAE (cm⁻¹)",
                "int MAE ((D/Å)²/amu)",
                "Pearson",
                "SIS",
                "Wasserstein (cm⁻¹)",
                "imaginary (model)",
            ],
            [
                [
                    r["molecule"],
                    r["atoms"],
                    r["modes"],
                    r.get("frequency_mae_cm1"),
                    r.get("intensity_mae"),
                    r["pearson"],
                    r["sis"],
                    r["wasserstein_cm1"],
                    r["imaginary_model"],
                ]
                for r in rows
            ],
        ),
        "For scale: the MACE4IR paper reports 11.58 cm⁻¹ frequency MAE and 0.658 (D/Å)²/amu "
        "intensity MAE "
        "over 40 molecules against DFT, with models trained on 10M structures.",
    ]
    for r in rows:
        csv = run.ir_dir / "harmonic" / f"{slug(r['molecule'])}_spectra.csv"
        png = spectrum_figure(
            csv,
            figures / f"harmonic_{slug(r['molecule'])}.png",
            f"{r['molecule']} (harmonic)",
            False,
        )
        parts.append(f"![{r['molecule']} harmonic]({png.relative_to(run.out).as_posix()})")
    return "\n\n".join(parts)


def section_md(run, figures: Path) -> str:
    res = run.done("md")["result"]
    o = res["options"]
    parts = [
        "## 4. MD-based IR: trained model vs GFN2-xTB",
        f"Langevin MD at {o['temperature_K']} K, {o['timestep_fs']} fs steps, "
        f"{o['thermalization_ps']} ps "
        f"thermalisation + {o['production_ps']} ps production, {o['replicas']} replica(s) per "
        f"molecule "
        "(the paper: 5 + 50 ps). Spectrum from the dipole-derivative autocorrelation; bands show "
        "the spread "
        "over replicas.",
        table(
            ["molecule", "Pearson", "Spearman", "SIS", "Wasserstein (cm⁻¹)", "Mimyria"],
            [
                [
                    r["molecule"],
                    r["pearson"],
                    r["spearman"],
                    r["sis"],
                    r["wasserstein_cm1"],
                    r["mimyria"],
                ]
                for r in res["molecules"]
            ],
        ),
    ]
    for r in res["molecules"]:
        csv = run.ir_dir / "md" / f"{slug(r['molecule'])}_spectra.csv"
        png = spectrum_figure(
            csv, figures / f"md_{slug(r['molecule'])}.png", f"{r['molecule']} (MD)", True
        )
        parts.append(f"![{r['molecule']} MD]({png.relative_to(run.out).as_posix()})")
    return "\n\n".join(parts)


def section_active_learning(run, figures: Path) -> str:
    res = run.done("active_learning")["result"]
    b, a, name = res["before"], res["after"], res["molecule"]
    parts = [
        "## 5. Active learning: the trained model made accurate for one molecule",
        f"`mace4ir active-learn` on {name} (not in the training sample), GFN2-xTB as the oracle: "
        "normal-mode samples of the oracle's minimum, then committee-mean MD at 300/500/700 K "
        "whose most uncertain frames are labelled, the committee fine-tuned from the trained pair "
        f"each time. {res['iterations']} iteration(s), {res['oracle_calls']} oracle calls, "
        f"{fmt(res['cpu_min'], 1)} CPU minutes; stopped: {res['stop_reason']}.",
        table(
            ["model", "freq MAE (cm⁻¹)", "int Pearson (modes by shape)", "spectrum Pearson", "SIS"],
            [
                [
                    "trained pair (before)",
                    b["frequency_mae_cm1"],
                    b["intensity_pearson_shape"],
                    b["pearson"],
                    b["sis"],
                ],
                [
                    "committee (after)",
                    a["frequency_mae_cm1"],
                    a["intensity_pearson_shape"],
                    a["pearson"],
                    a["sis"],
                ],
            ],
        ),
    ]
    png = before_after_figure(run, name, figures / f"active_learning_{slug(name)}.png")
    parts.append(f"![{name} before and after]({png.relative_to(run.out).as_posix()})")
    history = Path(res["folder"]) / "history.png"
    if history.is_file():
        shutil.copy(history, figures / "active_learning_history.png")
        parts.append("![active-learning history](figures/active_learning_history.png)")
    return "\n\n".join(parts)


def before_after_figure(run, name: str, path: Path) -> Path:
    from mace4ir.evaluation.spectra.plots import overlay

    folder = run.ir_dir / "active_learning"
    before = np.loadtxt(folder / "before" / f"{slug(name)}_spectra.csv", delimiter=",", skiprows=1)
    after = np.loadtxt(folder / "after" / f"{slug(name)}_spectra.csv", delimiter=",", skiprows=1)
    curves = [
        {"y": before[:, 2], "label": "GFN2-xTB (reference)"},
        {"y": before[:, 1], "label": "trained tiny MACE (before)"},
        {"y": after[:, 1], "label": "after active learning (committee mean)"},
    ]
    return overlay(path, before[:, 0], curves, title=f"{name} (harmonic)")


def section_release(run) -> str:
    plan = run.done("push")["result"]["plan"]
    return "\n\n".join(
        [
            "## 6. Release",
            f"Exported to `{run.release_dir.name}/` (safetensors + JSON specs, model card "
            f"[README.md]({run.release_dir.name}/README.md), SHA256SUMS). Push, as a dry run:",
            "```\n" + plan.rstrip() + "\n```",
            f'Load it: `mace4ir.load("{run.release_dir}")`.',
        ]
    )


def section_timings(run) -> str:
    t = run.timings()
    rows = [[s, f"{sec:.1f}"] for s, sec in t.items()]
    return "## Step timings\n\n" + table(
        ["step", "seconds"], rows + [["total", f"{sum(t.values()):.1f}"]]
    )


HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mace4ir demo report</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}pre{{background:#f4f4f4;padding:.5rem;overflow-x:auto}}</style>
</head><body>
{body}
</body></html>
"""


def to_html(markdown_text: str) -> str:
    try:
        import markdown
    except ImportError:  # markdown comes with tensorboard; plain text otherwise
        import html

        return HTML.format(body=f"<pre>{html.escape(markdown_text)}</pre>")
    return HTML.format(body=markdown.markdown(markdown_text, extensions=["tables", "fenced_code"]))


def write_report(run) -> tuple[Path, Path]:
    figures = run.out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    quick = run.cfg["sample"]["n_records"] < 1000
    intro = (
        "# mace4ir demo report\n\nThe whole pipeline on the built-in sample"
        + (" (quick version)" if quick else "")
        + ": GFN2-xTB sample → prep → tiny MACE-EF and MACE-D → "
        "test-set errors → harmonic and MD IR spectra of held-out molecules against GFN2-xTB → "
        "active learning on one of them → release. "
        "The models are tiny and trained for minutes on a CPU: the numbers show that the pipeline "
        "runs end "
        "to end, not the accuracy of MACE4IR."
    )
    sections = [
        intro,
        section_data(run, figures),
        section_training(run, figures),
        section_harmonic(run, figures),
        section_md(run, figures),
        section_active_learning(run, figures),
        section_release(run),
        section_timings(run),
    ]
    text = "\n\n".join(sections) + "\n"
    md, html = run.out / "report.md", run.out / "report.html"
    md.write_text(text)
    html.write_text(to_html(text))
    return md, html
