"""Time to a first energy+forces+dipole from a released model pair.

Ours: ``mace4ir.load(release_folder)`` (SHA256SUMS check, rebuild from safetensors + JSON,
no unpickling). Anchor, in the same run: what users of the original MACE4IR files run —
mace-torch's ``MACECalculator`` on the pickled ``.model`` files of the same weights (one
calculator for EF, one ``model_type="DipoleMACE"``). Each route runs in a fresh Python
process (imports included), ``--repeats`` times; medians and the ratio are printed.

    python benchmarks/release_load.py [--model ef_small] [--repeats 3] [--work /tmp/release_bench]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

OURS = """
import time, json; t = time.perf_counter()
import mace4ir; from ase.build import molecule
calc = mace4ir.load({release!r}); a = molecule("CH3CH2OH"); a.calc = calc
e, f, d = a.get_potential_energy(), a.get_forces(), a.get_dipole_moment()
print(json.dumps({{"seconds": time.perf_counter() - t, "energy": e, "dipole": d.tolist()}}))
"""
ANCHOR = """
import time, json; t = time.perf_counter()
from mace.calculators import MACECalculator; from ase.build import molecule
ef = MACECalculator(model_paths={ef!r}, device="cpu", default_dtype="float64")
dip = MACECalculator(model_paths={dip!r}, device="cpu", model_type="DipoleMACE", default_dtype="float64")
a = molecule("CH3CH2OH"); a.calc = ef; e, f = a.get_potential_energy(), a.get_forces()
dip.calculate(a); d = dip.results["dipole"]
print(json.dumps({{"seconds": time.perf_counter() - t, "energy": e, "dipole": list(map(float, d))}}))
"""


def make_release(work: Path, model: str) -> tuple[Path, Path, Path]:
    """A release folder and the same weights as mace-torch pickles."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from release_helpers import make_run  # noqa: E402  (tiny made-up manifest, random weights)

    from mace4ir.release.export import ExportOptions, export_release
    from mace4ir.training.models.build import build_model, load_model_config, model_spec
    from mace4ir.training.models.weights_io import load_model, save_model

    ef_run, d_run = make_run(work, "ef"), make_run(work, "dipole")
    if model != "ef_tiny":  # replace the EF model by the requested size
        from release_helpers import MANIFEST

        spec = model_spec(load_model_config(model, "float64"), MANIFEST)
        save_model(build_model(spec), spec, ef_run / "best_model")
    release = export_release(
        ExportOptions(ef=ef_run, dipole=d_run, out=work / "release", overwrite=True)
    )
    pickles = []
    for run, name in ((ef_run, "ef.model"), (d_run, "dipole.model")):
        torch.save(load_model(run / "best_model")[0], work / name)
        pickles.append(work / name)
    return release, pickles[0], pickles[1]


def timed(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default="ef_small", help="EF model config (default: ef_small)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--work", type=Path, default=Path("/tmp/release_bench"))
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    release, ef, dip = make_release(args.work, args.model)
    ours = [timed(OURS.format(release=str(release))) for _ in range(args.repeats)]
    anchor = [timed(ANCHOR.format(ef=str(ef), dip=str(dip))) for _ in range(args.repeats)]
    assert abs(ours[0]["energy"] - anchor[0]["energy"]) < 1e-6, (
        ours[0]["energy"],
        anchor[0]["energy"],
    )
    t_ours = statistics.median(r["seconds"] for r in ours)
    t_anchor = statistics.median(r["seconds"] for r in anchor)
    print(
        f"EF model {args.model}, float64, CPU; median of {args.repeats} fresh processes (imports "
        f"included)"
    )
    print(
        f"  mace4ir.load(release) + first E/F/μ:            {t_ours:6.2f} s  (checksums verified, "
        f"no pickle)"
    )
    print(f"  mace-torch MACECalculator(.model pickles) + E/F/μ: {t_anchor:6.2f} s")
    print(
        f"  ratio anchor/ours: {t_anchor / t_ours:.2f}x  (same energy: {ours[0]['energy']:.6f} eV)"
    )


if __name__ == "__main__":
    main()
