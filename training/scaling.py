"""Learning curve over the nested training subsets (paper Fig. 3, Table 1).

For each subset size n: train ``model`` (and ``dipole_model``) on the first n training
records, evaluate on the test split, and collect one Table-1 row. A killed scaling
run resumes: finished runs are skipped, unfinished ones continue from their last
checkpoint. Output: DIR/scaling.csv, DIR/scaling.md, DIR/learning_curve.png.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from mace4ir.config import load_config, merge
from mace4ir.data_prep.prepared.reader import load_manifest
from mace4ir.errors import ConfigError
from mace4ir.training.loop import distributed
from mace4ir.training.loop.trainer import train
from mace4ir.training.test_errors import evaluate_errors

log = logging.getLogger(__name__)
COLUMNS = [
    "train_size",
    "energy_mae_mev_atom",
    "energy_rmse_mev_atom",
    "forces_mae_mev_A",
    "forces_rmse_mev_A",
    "dipole_mae_meA",
    "dipole_rmse_meA",
    "n_test",
]
PANELS = (
    ("energy_mae_mev_atom", "E MAE (meV/atom)"),
    ("forces_mae_mev_A", "F MAE (meV/Å)"),
    ("dipole_mae_meA", "μ MAE (meÅ)"),
)


def _train_once(data, run: Path, model: str, precision: str, cfg: dict, subset: int) -> Path:
    if (run / "final_model.json").exists():
        log.info("%s already finished, skipping", run)
        return run
    resume = (run / "checkpoints").exists()
    return train(
        data,
        run,
        model=model,
        config=cfg.get("train_config"),
        precision=precision,
        resume=resume,
        subset=subset,
        **cfg.get("overrides", {}),
    )


def scaling_curve(
    data,
    out,
    config: str = "scaling_curve",
    model: str | None = None,
    dipole_model: str | None = None,
    subsets: list[int] | None = None,
    max_steps: int | None = None,
) -> str:
    """Train per subset, write CSV/markdown/plot; returns the markdown table."""
    cfg = load_config(config)
    cfg = merge(
        cfg,
        {
            k: v
            for k, v in dict(model=model, dipole_model=dipole_model, subsets=subsets).items()
            if v
        },
    )
    if max_steps:
        cfg["overrides"] = {**(cfg.get("overrides") or {}), "max_steps": max_steps}
    if str(cfg.get("dipole_model")).lower() == "none":
        cfg["dipole_model"] = None
    available = sorted(int(s) for s in load_manifest(data).get("subsets", {}))
    sizes = sorted(cfg.get("subsets") or available)
    missing = [n for n in sizes if n not in available]
    if missing:
        raise ConfigError(
            f"scaling curve: subsets {missing} not prepared in {data}; available: {available}"
        )
    out = Path(out)
    info = distributed.setup()  # one process group for all runs under torchrun
    rows = []
    try:
        for n in sizes:
            ef = _train_once(
                data, out / f"{cfg['model']}_{n}", cfg["model"], cfg["precision"], cfg, n
            )
            dip = None
            if cfg.get("dipole_model"):
                dip = _train_once(
                    data,
                    out / f"{cfg['dipole_model']}_{n}",
                    cfg["dipole_model"],
                    cfg["precision"],
                    cfg,
                    n,
                )
            if info.is_main:
                result = evaluate_errors(ef, data, cfg.get("eval_split", "test"), dipole_run=dip)
                rows.append(
                    {
                        "train_size": n,
                        **{k: result.get(k) for k in COLUMNS[1:-1]},
                        "n_test": result["n_structures"],
                    }
                )
            distributed.barrier(info)
    finally:
        distributed.teardown(info)
    if not info.is_main:
        return ""
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "scaling.csv")
    table = markdown_table(rows, cfg)
    (out / "scaling.md").write_text(table + "\n")
    plot_learning_curve(rows, cfg.get("reference") or {}, out / "learning_curve.png", cfg)
    return table


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(rows: list[dict], cfg: dict) -> str:
    def f(v):
        return "–" if v is None else f"{v:.2f}"

    head = (
        f"Test-set errors vs training-set size ({cfg['model']}"
        + (f" + {cfg['dipole_model']}" if cfg.get("dipole_model") else "")
        + f", {cfg['precision']})\n\n"
    )
    lines = [
        "| train size | E MAE (meV/atom) | E RMSE | F MAE (meV/Å) | F RMSE | μ MAE (meÅ) | μ RMSE "
        "| paper E/F/μ MAE |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    ref = {int(k): v for k, v in (cfg.get("reference") or {}).items()}
    for r in rows:
        paper = "/".join(map(str, ref[r["train_size"]])) if r["train_size"] in ref else "–"
        lines.append(
            f"| {r['train_size']} | {f(r['energy_mae_mev_atom'])} | {f(r['energy_rmse_mev_atom'])} "
            f"| "
            f"{f(r['forces_mae_mev_A'])} | {f(r['forces_rmse_mev_A'])} | {f(r['dipole_mae_meA'])} "
            f"| "
            f"{f(r['dipole_rmse_meA'])} | {paper} |"
        )
    return head + "\n".join(lines)


def plot_learning_curve(rows: list[dict], reference: dict, path: Path, cfg: dict) -> None:
    """Log-log MAE vs training-set size for E, F, μ; the paper's numbers as open markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    ref = sorted((int(k), v) for k, v in reference.items())
    for k, (ax, (key, label)) in enumerate(zip(axes, PANELS)):
        pts = [(r["train_size"], r[key]) for r in rows if r.get(key)]
        if pts:
            ax.loglog(
                *zip(*pts),
                "o-",
                color="C0",
                label=f"this run ({cfg['model'] if k < 2 else cfg.get('dipole_model')})",
            )
        if ref:
            ax.loglog(
                [n for n, _ in ref],
                [v[k] for _, v in ref],
                "s--",
                mfc="none",
                color="C3",
                label="paper small/float32",
            )
        ax.set_xlabel("training-set size")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)
