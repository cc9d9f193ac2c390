"""The model files a release folder holds, each with its kind, elements, size and precision.

This project's releases are described by ``mace4ir_release.json`` (nothing is loaded).
Other folders hold mace-torch ``.model`` pickles anywhere below them, hidden folders
skipped (the MACE4IR paper's Hub repo: several EF models and a dipole model next to scripts
and a tutorial). A pickle tells what it is only once unpickled, which runs code from the
file: that needs ``trust_pickle``. The kind always comes from the model, never a file name.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ase.data import chemical_symbols

from mace4ir.errors import Mace4irError
from mace4ir.training.models.release_layout import PICKLE_SUFFIX, RELEASE_CONFIG, is_release_file

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
_IRREP = re.compile(r"(\d+)x(\d+)([eo])")


@dataclass
class ModelEntry:
    name: str  # path below the folder, e.g. "MACE4IR_D.model": what ef=/dipole= name
    path: Path  # the pickle, or the stem of NAME.safetensors + NAME.json
    kind: str  # "ef" or "dipole"
    atomic_numbers: list[int]
    hidden_irreps: str  # e.g. "128x0e+128x1o"
    num_interactions: int
    precision: str  # "float32" or "float64"
    n_parameters: int
    mace_torch: str  # version of mace-torch that wrote the file; "unknown" if it does not say
    loaded: Any = field(default=None, repr=False, compare=False)  # the unpickled model

    @property
    def is_pickle(self) -> bool:
        return self.path.suffix == PICKLE_SUFFIX

    @property
    def channels(self) -> int:
        return max(int(mul) for mul, _, _ in _IRREP.findall(self.hidden_irreps))

    @property
    def max_L(self) -> int:  # noqa: N802  (the paper's name)
        return max(int(ell) for _, ell, _ in _IRREP.findall(self.hidden_irreps))

    @property
    def elements(self) -> list[str]:
        return [chemical_symbols[z] for z in self.atomic_numbers]

    def label(self) -> str:
        """One-line description for messages: ``NAME (EF, float32, 8 channels)``."""
        kind = "EF" if self.kind == "ef" else "dipole"
        return f"{self.name} ({kind}, {self.precision}, {self.channels} channels)"

    def as_dict(self) -> dict:
        row = {k: v for k, v in asdict(self).items() if k != "loaded"}
        row.update(path=str(self.path), channels=self.channels, max_L=self.max_L)
        return {**row, "elements": self.elements}


def holdings(entries: list[ModelEntry]) -> str:
    """What a folder holds, for one-line errors."""
    return "; ".join(e.label() for e in entries) or "no model files"


def pickle_entries(folder: Path, trust_pickle: bool, where=None) -> list[ModelEntry]:
    """The MACE models among a folder's pickles, sorted by name (unpickled: needs trust);
    ``where`` names the folder in messages (e.g. the Hub repo id it came from)."""
    where = where or folder
    pickles = pickle_files(folder)
    if not pickles:
        raise Mace4irError(
            f"{where}: not a mace4ir release (no {RELEASE_CONFIG}) and no mace-torch "
            f"{PICKLE_SUFFIX} files"
        )
    if not trust_pickle:
        names = ", ".join(p.relative_to(folder).as_posix() for p in pickles)
        raise Mace4irError(
            f"{where}: holds mace-torch pickles ({names}); what a pickled model is can only be "
            "read by unpickling it, which runs code from the file: pass trust_pickle=True "
            "(CLI: --trust-pickle) only for a source you trust, or convert it once with "
            "'mace4ir release import'"
        )
    entries = [e for p in pickles if (e := pickle_entry(folder, p)) is not None]
    if not entries:
        raise Mace4irError(f"{where}: none of its {PICKLE_SUFFIX} files is a MACE model")
    return entries


def pickle_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob(f"*{PICKLE_SUFFIX}")
        if p.is_file() and is_release_file(p.relative_to(folder).as_posix())
    )


def pickle_entry(folder: Path, path: Path) -> ModelEntry | None:
    """A trusted pickle unpickled and described; None (with a warning) if not a MACE model."""
    from mace4ir.training.models.mace_pickles import describe
    from mace4ir.training.models.weights_io import load_mace_pickle

    model = load_mace_pickle(path, trust_pickle=True)
    try:
        info = describe(model, path)
    except Mace4irError as exc:
        log.warning("%s; skipped", exc)
        return None
    name = path.relative_to(folder).as_posix()
    return ModelEntry(name=name, path=path, mace_torch=UNKNOWN, loaded=model, **info)


def release_entries(folder: Path, config: dict) -> list[ModelEntry]:
    """The models of this project's release, from its config alone (no model is loaded)."""
    written_with = config.get("software", {}).get("mace-torch", UNKNOWN)
    entries = []
    for kind, m in config["models"].items():
        arch = m["architecture"]
        entries.append(
            ModelEntry(
                name=m["weights"],
                path=folder / Path(m["weights"]).stem,
                kind=kind,
                atomic_numbers=list(m["atomic_numbers"]),
                hidden_irreps=arch["hidden_irreps"],
                num_interactions=int(arch["num_interactions"]),
                precision=m["precision"],
                n_parameters=int(m["n_parameters"]),
                mace_torch=m.get("mace_torch", written_with),
            )
        )
    return sorted(entries, key=lambda e: e.name)
