"""Regenerate the mace-torch 0.3.10 fixtures of this folder (run with mace-torch 0.3.10!).

The MACE4IR paper's released models are mace-torch ``.model`` pickles written by mace-torch
0.3.10. This script writes tiny models of the same classes the way mace-torch 0.3.10's
``mace_run_train`` builds and saves them (``tools/model_script_utils._build_model``, then
``torch.save(model, path)``), with random (seeded) weights, plus ``reference.json``: energies,
forces and dipoles computed by mace-torch 0.3.10's own ``MACECalculator`` on the same files,
and ``README.md`` saying how everything was made.

    python3 -m venv /tmp/mace0310 && . /tmp/mace0310/bin/activate
    pip install torch==2.13.0 && pip install mace-torch==0.3.10
    python tests/data/mace_0_3_10/make_fixtures.py

Files (named like the paper's Hub repo ``nitbha007/MACE4IR``; the names carry no meaning for
mace4ir, which reads the kind from the model itself):

- ``MACE4IR_EF_small_float32.model``: ScaleShiftMACE, 8 channels, max_ell 2, float32
- ``MACE4IR_EF_large_float64.model``: ScaleShiftMACE, 16 channels, max_ell 1, float64
- ``MACE4IR_D.model``: AtomicDipolesMACE, 8 channels, max_ell 1, MLP 16x1o, float64
"""

from __future__ import annotations

import datetime
import json
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MACE_VERSION = "0.3.10"
Z_TABLE = [1, 6, 7, 8]  # H C N O
E0S = [-13.6, -1029.8, -1484.9, -2041.9]  # eV, made up
AVG_NUM_NEIGHBORS = 6.5
SCALE, SHIFT = 1.3, -0.4
MOLECULES = ("CH3CH2OH", "CH3CONH2", "H2O")
ARCH = dict(  # mace_run_train defaults, but small radial MLPs (max_L 1 and max_ell per model)
    r_max=5.0,
    num_bessel=8,
    num_polynomial_cutoff=5,
    num_interactions=2,
    correlation=3,
    radial_MLP=[16, 16, 16],
)
# The dipole model's last readout is gated only with l=1 MLP irreps: with mace-torch's
# default 16x0e it has no paths and outputs zero.
MLP_IRREPS = {"ScaleShiftMACE": "16x0e", "AtomicDipolesMACE": "16x1o"}
# file -> (class, channels, max_ell, dtype, seed). max_ell 2 in one model only: the
# symmetric-contraction buffers grow as (max_ell + 1)^6 and the files must stay small.
MODELS = {
    "MACE4IR_EF_small_float32.model": ("ScaleShiftMACE", 8, 2, "float32", 1),
    "MACE4IR_EF_large_float64.model": ("ScaleShiftMACE", 16, 1, "float64", 2),
    "MACE4IR_D.model": ("AtomicDipolesMACE", 8, 1, "float64", 3),
}


def build(cls: str, channels: int, max_ell: int):
    """As mace-torch 0.3.10's ``_build_model`` (``--model ScaleShiftMACE`` /
    ``AtomicDipolesMACE``)."""
    import numpy as np
    from e3nn import o3
    from mace import modules

    common = dict(
        r_max=ARCH["r_max"],
        num_bessel=ARCH["num_bessel"],
        num_polynomial_cutoff=ARCH["num_polynomial_cutoff"],
        max_ell=max_ell,
        interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=modules.interaction_classes["RealAgnosticInteractionBlock"],
        num_interactions=ARCH["num_interactions"],
        num_elements=len(Z_TABLE),
        hidden_irreps=o3.Irreps(f"{channels}x0e+{channels}x1o"),
        MLP_irreps=o3.Irreps(MLP_IRREPS[cls]),
        avg_num_neighbors=AVG_NUM_NEIGHBORS,
        atomic_numbers=Z_TABLE,
        correlation=ARCH["correlation"],
        gate=modules.gate_dict["silu"],
        radial_MLP=ARCH["radial_MLP"],
        radial_type="bessel",
    )
    if cls == "AtomicDipolesMACE":
        return modules.AtomicDipolesMACE(atomic_energies=None, **common)
    return modules.ScaleShiftMACE(
        atomic_energies=np.array(E0S),
        pair_repulsion=False,
        distance_transform="None",
        atomic_inter_scale=SCALE,
        atomic_inter_shift=SHIFT,
        heads=["default"],
        **common,
    )


def make_model(cls: str, channels: int, max_ell: int, dtype: str, seed: int):
    import torch

    torch.set_default_dtype(getattr(torch, dtype))  # as mace_run_train --default_dtype
    torch.manual_seed(seed)
    model = build(cls, channels, max_ell)
    with torch.no_grad():  # readouts start at zero: make every weight matter
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def geometries():
    from ase.build import molecule

    out = []
    for i, name in enumerate(MOLECULES):
        atoms = molecule(name)
        atoms.rattle(0.05, seed=10 + i)
        out.append(atoms)
    return out


def reference(files: dict[str, tuple]) -> dict:
    """mace-torch 0.3.10's own calculator on the saved files (what its users got)."""
    from mace.calculators import MACECalculator

    rows = {}
    for name, (cls, _, _, dtype, _) in files.items():
        dipole = cls == "AtomicDipolesMACE"
        calc = MACECalculator(
            model_paths=str(HERE / name),
            device="cpu",
            default_dtype=dtype,
            model_type="DipoleMACE" if dipole else "MACE",
        )
        rows[name] = []
        for atoms in geometries():
            atoms.calc = calc
            if dipole:
                rows[name].append({"dipole": atoms.get_dipole_moment().tolist()})
            else:
                rows[name].append(
                    {
                        "energy": float(atoms.get_potential_energy()),
                        "forces": atoms.get_forces().tolist(),
                    }
                )
    return rows


def provenance() -> dict:
    import e3nn
    import mace
    import torch

    return {
        "mace-torch": mace.__version__,
        "torch": torch.__version__,
        "e3nn": e3nn.__version__,
        "python": platform.python_version(),
        "date": datetime.date.today().isoformat(),
        "command": "python tests/data/mace_0_3_10/make_fixtures.py",
    }


README = """# mace-torch {mace-torch} fixtures

Tiny mace-torch models saved the way mace-torch {mace-torch} saves trained models
(`torch.save(model, path)`: a full pickle), named like the files of the MACE4IR paper's
Hub repo. Random (seeded) weights; H, C, N, O; max_L 1, 2 interactions,
correlation 3; E0s, scale and shift made up.

| file | class | channels | max_ell | MLP irreps | precision |
|---|---|---|---|---|---|
{rows}

`reference.json`: energies (eV), forces (eV/Å) and dipoles (e·Å) of the molecules listed
there (positions in Å), computed by mace-torch {mace-torch}'s own `MACECalculator` on these
files right after saving them.

Made with mace-torch {mace-torch}, torch {torch}, e3nn {e3nn}, Python {python} on {date}:

```bash
python3 -m venv /tmp/mace0310 && . /tmp/mace0310/bin/activate
pip install torch==2.13.0 && pip install mace-torch=={mace-torch}
{command}
```

Loading them runs code from the pickles: only with `trust_pickle=True`
(`tests/test_mace_0_3_10.py`).
"""


def main() -> int:
    import mace
    import torch

    if mace.__version__ != MACE_VERSION:
        print(f"needs mace-torch {MACE_VERSION}, found {mace.__version__}", file=sys.stderr)
        return 1
    for name, spec in MODELS.items():
        torch.save(make_model(*spec), HERE / name)
    made = provenance()
    ref = {
        "made_with": made,
        "molecules": [
            {"symbols": a.get_chemical_symbols(), "positions": a.get_positions().tolist()}
            for a in geometries()
        ],
        "results": reference(MODELS),
    }
    (HERE / "reference.json").write_text(json.dumps(ref, indent=1) + "\n")
    rows = "\n".join(
        f"| `{n}` | {c} | {ch} | {ell} | {MLP_IRREPS[c]} | {d} |"
        for n, (c, ch, ell, d, _) in MODELS.items()
    )
    (HERE / "README.md").write_text(README.format(rows=rows, **made))
    for name in MODELS:
        print(f"{name}: {(HERE / name).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
