"""scaling-curve: one run per nested subset, Table-1 CSV/markdown and the log-log plot;
a rerun skips finished subsets instead of retraining them."""

import csv

from mace4ir.data_prep.prepared.reader import load_manifest
from mace4ir.training import scaling_curve


def test_scaling_curve_tables_and_plot(prepared_sample, tmp_path):
    # one (the smallest) subset keeps this fast; the loop over subsets is the same code
    smallest = min(int(s) for s in load_manifest(prepared_sample)["subsets"])
    cfg = tmp_path / "scaling.yaml"
    cfg.write_text(
        "model: ef_tiny\ndipole_model: null\nprecision: float64\nsubsets: [%d]\ntrain_config: "
        "smoke\n"
        "overrides: {max_steps: 1, tensorboard: false, progress: false}\neval_split: test\n"
        "reference: {100: [14.1, 96.6, 36.9]}\n" % smallest
    )
    out = tmp_path / "curve"
    table = scaling_curve(prepared_sample, out, config=str(cfg))
    subsets = [smallest]
    rows = list(csv.DictReader(open(out / "scaling.csv")))
    assert [int(r["train_size"]) for r in rows] == subsets
    assert all(float(r["forces_mae_mev_A"]) > 0 and r["dipole_mae_meA"] == "" for r in rows)
    assert (out / "learning_curve.png").stat().st_size > 10_000
    assert f"| {smallest} |" in table
    mtime = (out / f"ef_tiny_{subsets[0]}" / "final_model.safetensors").stat().st_mtime_ns
    scaling_curve(prepared_sample, out, config=str(cfg))  # rerun: finished runs are reused
    assert (out / f"ef_tiny_{subsets[0]}" / "final_model.safetensors").stat().st_mtime_ns == mtime
