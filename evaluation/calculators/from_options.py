"""Calculators described by options: the one place where command-line flags and the
calculator block of a benchmark run become an ASE calculator.

A *spec* is a small JSON-able dict (stored in benchmark ``run.json`` files and passed to
worker processes): ``{"type": "xtb", "accuracy": ...}``, ``{"type": "model", "path": RELEASE}``
(with ``"ef_file"``/``"dipole_file"`` where the release holds several models) or
``{"type": "paths", "ef": RUN, "dipole": RUN}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mace4ir.elements import check_elements
from mace4ir.errors import ConfigError
from mace4ir.evaluation.calculators.molecule_checks import check_charge_and_spin, molecule_name
from mace4ir.evaluation.calculators.xtb import DEFAULT_ACCURACY, xtb_calculator
from mace4ir.geometry import check_geometry


def add_arguments(group) -> None:
    """The calculator flags shared by ``mace4ir ir`` and ``mace4ir bench``."""
    group.add_argument(
        "--model",
        metavar="RELEASE",
        help="released model pair: a release folder or a Hugging Face Hub id ORG/NAME "
        "(mace4ir.load; checksums verified, cached, works offline with HF_HUB_OFFLINE=1)",
    )
    group.add_argument("--revision", help="Hub branch, tag or commit for --model")
    group.add_argument(
        "--ef-file",
        metavar="NAME",
        help="EF model file inside --model, where it holds several ('mace4ir models' lists "
        "them; default: the smallest float32 EF)",
    )
    group.add_argument(
        "--dipole-file",
        metavar="NAME",
        help="dipole model file inside --model (default: the only dipole model)",
    )
    group.add_argument(
        "--ef",
        metavar="RUN",
        help="EF model: training RUN dir, model stem DIR/name, "
        "or mace .model (with --trust-pickle)",
    )
    group.add_argument("--dipole", metavar="RUN", help="dipole (D) model, same forms as --ef")
    group.add_argument(
        "--calculator",
        choices=("model", "xtb"),
        help="model: --model or the --ef/--dipole pair (the default); xtb: tblite GFN2-xTB "
        "reference",
    )
    group.add_argument(
        "--xtb-accuracy",
        type=float,
        default=DEFAULT_ACCURACY,
        help="tblite SCF accuracy (default %(default)g; tblite's own 1.0 is too loose for "
        "derivatives)",
    )
    group.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow mace-torch .model pickles (they can run code: only files you trust)",
    )
    group.add_argument(
        "--device",
        default="cpu",
        help="torch device for the models: cpu, cuda, cuda:1 (default cpu)",
    )
    group.add_argument(
        "--committee",
        action="store_true",
        help="use every member: --model a committee release, or --ef/--dipole committee folders "
        "(committee.json, from train/finetune --committee or active-learn); the mean drives, "
        "spectra and modes.csv get the members' spread",
    )


def spec_from_args(args) -> dict[str, Any]:
    """The spec the flags describe; a clear error for a missing, doubled or nonexistent choice."""
    if (args.ef_file or args.dipole_file) and not args.model:
        raise ConfigError(
            "--ef-file/--dipole-file choose model files inside --model RELEASE; give model "
            "files or runs themselves with --ef/--dipole"
        )
    xtb = args.calculator == "xtb"
    given = [
        name
        for name, v in (
            ("--model", args.model),
            ("--ef/--dipole", args.ef or args.dipole),
            ("--calculator xtb", xtb),
        )
        if v
    ]
    if len(given) != 1:
        raise ConfigError(
            "give exactly one of --model, --ef and --dipole (together), or --calculator xtb"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if xtb:
        if getattr(args, "committee", False):
            raise ConfigError("--committee applies to models (--model or --ef/--dipole), not xTB")
        return {"type": "xtb", "method": "GFN2-xTB", "accuracy": args.xtb_accuracy}
    common = {"trust_pickle": bool(args.trust_pickle), "device": args.device}
    if getattr(args, "committee", False):
        common["committee"] = True
    if args.model:
        path = Path(args.model)
        spec = {
            "type": "model",
            "path": str(path.resolve()) if path.exists() else args.model,  # else a Hub id
            **common,
        }
        optional = {
            "revision": args.revision,
            "ef_file": args.ef_file,
            "dipole_file": args.dipole_file,
        }
        return {**spec, **{k: v for k, v in optional.items() if v}}
    if not (args.ef and args.dipole):
        raise ConfigError("--ef and --dipole must be given together")
    for flag, value in (("--ef", args.ef), ("--dipole", args.dipole)):
        if not Path(value).exists() and not Path(value + ".json").exists():
            raise ConfigError(f"{flag} {value}: no such run folder or model file")
    return {
        "type": "paths",
        "ef": str(Path(args.ef).resolve()),
        "dipole": str(Path(args.dipole).resolve()),
        **common,
    }


def _model_elements(spec: dict[str, Any]) -> list[int] | None:
    """The EF model's element table read from its JSON (no model built), when it is local."""
    from mace4ir.training.models.release_files import read_release_config
    from mace4ir.training.models.release_layout import RELEASE_CONFIG
    from mace4ir.training.models.weights_io import model_stem

    try:
        if spec["type"] == "paths":
            spec_file = model_stem(spec["ef"]).with_suffix(".json")
            return json.loads(spec_file.read_text())["atomic_numbers"]
        folder = Path(spec["path"])
        if (folder / RELEASE_CONFIG).is_file():
            return read_release_config(folder)["models"]["ef"]["atomic_numbers"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # unreadable here: the calculator reports it when it loads the model
    return None


def check_molecules(spec: dict[str, Any], molecules) -> None:
    """The molecule checks a calculator makes, before it is built (a model takes seconds to
    load, and xTB crashes on overlapping atoms): geometry always; for models also charge,
    spin and, when the model's files are local, elements."""
    known = None if spec["type"] == "xtb" else _model_elements(spec)
    for atoms in molecules:
        where = molecule_name(atoms)
        check_geometry(atoms, where)
        if spec["type"] != "xtb":
            check_charge_and_spin(atoms, where)
        if known is not None:
            check_elements(known, atoms.numbers, where)


def label(spec: dict[str, Any]) -> str:
    """A short name for folder names and plot legends."""
    if spec["type"] == "xtb":
        return "xtb"
    if spec["type"] == "model" and spec.get("ef_file"):  # several EF models of one release
        return f"{Path(spec['path']).name}-{Path(spec['ef_file']).stem}"
    return Path(spec["path"] if spec["type"] == "model" else spec["ef"]).name


def build(spec: dict[str, Any]):
    """The calculator a spec describes (models are loaded here: seconds)."""
    kind = spec["type"]
    if kind == "xtb":
        return xtb_calculator(accuracy=spec.get("accuracy", DEFAULT_ACCURACY))
    if kind == "model":
        from mace4ir.evaluation.calculators.release import load

        return load(
            spec["path"],
            revision=spec.get("revision"),
            trust_pickle=spec.get("trust_pickle", False),
            device=spec.get("device", "cpu"),
            ef=spec.get("ef_file"),
            dipole=spec.get("dipole_file"),
            committee=spec.get("committee", False),
        )
    if kind == "paths" and spec.get("committee"):
        from mace4ir.evaluation.calculators.committee import CommitteeCalculator

        return CommitteeCalculator.from_folder(
            spec["ef"], spec["dipole"], device=spec.get("device", "cpu")
        )
    if kind == "paths":
        from mace4ir.evaluation.calculators.mace_ir import MaceIRCalculator

        return MaceIRCalculator.from_paths(
            spec["ef"],
            spec["dipole"],
            trust_pickle=spec.get("trust_pickle", False),
            device=spec.get("device", "cpu"),
        )
    raise ConfigError(f"unknown calculator type {kind!r} (known: xtb, model, paths)")


_BUILT: dict[str, Any] = {}  # one calculator per process and spec


def cached(spec: dict[str, Any]):
    """:func:`build`, once per process and spec (worker processes reuse their calculator)."""
    key = json.dumps(spec, sort_keys=True)
    if key not in _BUILT:
        _BUILT[key] = build(spec)
    return _BUILT[key]
