"""On-disk layout of a resumable MD-IR run.

    OUT/run.json                  options + molecules; a rerun must match it
    OUT/traj/mol000_rep000.extxyz one extended-XYZ trajectory per replica (ase.io.read
                                  reads it; info: step, time_fs, energy_eV, dipole_eA)
    OUT/chunks/chunk_000001000.npz production dipoles (steps, replicas, 3) in e·Å,
                                  dμ/dt (APT route) in e·Å/fs, temperatures in K, and
                                  for a committee its dipole members' series
    OUT/checkpoint.pt             step, positions, velocities, forces, RNG state and
                                  the byte size of every trajectory at that step
    OUT/.mace4ir-owner.json       marks the folder as this run's (owned_folder): a folder
                                  holding other files is refused unless force=True

Every chunk is written in this order: trajectory frames appended (fsync), chunk file
(temporary file + rename), checkpoint (temporary file + rename). A run killed at
any point resumes from the last checkpoint: trajectories are truncated back to the
recorded sizes and chunk files past the checkpoint are dropped, so nothing is lost
or duplicated, and the RNG state makes the resumed run identical to an
uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from ase import Atoms, units

from mace4ir.errors import Mace4irError
from mace4ir.owned_folder import claim

CHECKPOINT = "checkpoint.pt"
# what a chunk file holds per production step: μ (steps, replicas, 3) e·Å; dμ/dt (APT route)
# e·Å/fs; temperatures K; a committee's dipole members (steps, members, replicas, 3), μ or dμ/dt
SERIES = ("mu", "dmu_dt", "temperatures", "members")
OUTPUTS = ("traj", "chunks", CHECKPOINT, "run.json", "dipoles.npz", "result.json")


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _run_identity(replicas, opts, model: str | None) -> dict:
    digest = hashlib.sha256()
    for a in replicas:
        digest.update(np.asarray(a.numbers, dtype=np.int64).tobytes())
        digest.update(np.round(a.get_positions(), 8).tobytes())
    opts_d = asdict(opts)
    opts_d.pop("chunk_steps", None)  # checkpoint spacing may change between runs
    return {
        "model": model,
        "options": opts_d,
        "structures_sha256": digest.hexdigest(),
        "formulas": [a.get_chemical_formula() for a in replicas],
    }


def _earlier_md_run(root: Path) -> bool:
    """An MD run from before owner markers (one to resume)."""
    return (root / "run.json").is_file() and (root / "traj").is_dir()


class MDStore:
    def __init__(self, root, replicas, opts, force: bool = False, model: str | None = None):
        self.root = Path(root)
        self.replicas = replicas
        self.opts = opts
        self.owned = claim(self.root, "ir md", force, earlier_output=_earlier_md_run)
        n_mol = len(replicas) // max(opts.replicas, 1)
        spectra = [f"spectrum_mol{m:03d}.csv" for m in range(n_mol)]
        self.owned.require_free(*OUTPUTS, *spectra)
        (self.root / "traj").mkdir(parents=True, exist_ok=True)
        (self.root / "chunks").mkdir(exist_ok=True)
        self._check_identity(_run_identity(replicas, opts, model))

    def _check_identity(self, identity: dict) -> None:
        path = self.root / "run.json"
        if path.exists():
            saved, wanted = json.loads(path.read_text()), json.loads(json.dumps(identity))
            saved.setdefault("model", wanted["model"])  # runs from before models were recorded
            if saved["model"] != wanted["model"]:
                was, now = (str(x)[:24] for x in (saved["model"], wanted["model"]))
                raise Mace4irError(
                    f"{self.root}: holds an MD run of another model ({was}..., this one "
                    f"{now}...); its trajectories cannot be continued with this model: use "
                    "another --out folder"
                )
            if saved != wanted:
                raise Mace4irError(
                    f"{self.root}: holds an MD run with different molecules or options; "
                    "use another --out folder or delete this one to start over"
                )
        else:
            _atomic_write(path, lambda fh: fh.write(json.dumps(identity, indent=2).encode()))

    # ---- trajectories --------------------------------------------------------------
    def traj_path(self, i: int) -> Path:
        m, r = divmod(i, self.opts.replicas)
        return self.root / "traj" / f"mol{m:03d}_rep{r:03d}.extxyz"

    def _append_frames(self, frames) -> None:
        if not frames:
            return
        from ase.io import write

        ptr = np.concatenate([[0], np.cumsum([len(a) for a in self.replicas])])
        for i, ref in enumerate(self.replicas):
            with open(self.traj_path(i), "a") as fh:
                for fr in frames:
                    atoms = Atoms(ref.numbers, fr["positions"][ptr[i] : ptr[i + 1]])
                    atoms.set_velocities(
                        fr["velocities"][ptr[i] : ptr[i + 1]] / units.fs
                    )  # ASE units
                    atoms.info.update(
                        step=fr["step"],
                        time_fs=fr["step"] * self.opts.timestep_fs,
                        energy_eV=float(fr["energies"][i]),
                    )
                    if fr["dipoles"] is not None:
                        atoms.info["dipole_eA"] = np.asarray(fr["dipoles"][i], dtype=np.float64)
                    write(fh, atoms, format="extxyz")
                fh.flush()
                os.fsync(fh.fileno())

    def _traj_sizes(self) -> list[int]:
        return [
            self.traj_path(i).stat().st_size if self.traj_path(i).exists() else 0
            for i in range(len(self.replicas))
        ]

    # ---- chunks and checkpoints -------------------------------------------------------
    def save_chunk(self, start, state, generator, series: dict, frames) -> None:
        """``series``: this chunk's arrays by name (:data:`SERIES`; None: not recorded)."""
        self._append_frames(frames)
        arrays = {k: v for k, v in series.items() if v is not None}
        _atomic_write(
            self.root / "chunks" / f"chunk_{start:09d}.npz", lambda fh: np.savez(fh, **arrays)
        )
        ckpt = {
            "step": state.step,
            "positions": state.positions.cpu(),
            "velocities": state.velocities.cpu(),
            "forces": state.forces.cpu(),
            "energies": state.energies.cpu(),
            "rng_state": generator.get_state(),
            "traj_sizes": self._traj_sizes(),
        }
        _atomic_write(self.root / CHECKPOINT, lambda fh: torch.save(ckpt, fh))

    def load_checkpoint(self, generator):
        """(state, {series name: [chunk array or None, ...]}) at the last checkpoint, or None."""
        from mace4ir.evaluation.md.langevin import LangevinState

        path = self.root / CHECKPOINT
        if not path.exists():
            self._truncate([0] * len(self.replicas))
            return None
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 (a damaged file: say which)
            raise Mace4irError(
                f"{path}: unreadable MD checkpoint ({exc}); delete the folder to start over"
            ) from None
        generator.set_state(ckpt["rng_state"])
        self._truncate(ckpt["traj_sizes"])
        dev = generator.device
        state = LangevinState(
            ckpt["positions"].to(dev),
            ckpt["velocities"].to(dev),
            ckpt["forces"].to(dev),
            ckpt["energies"].to(dev),
            int(ckpt["step"]),
        )
        return state, self._load_chunks(state.step)

    def _truncate(self, sizes) -> None:
        for i, size in enumerate(sizes):
            p = self.traj_path(i)
            if p.exists() and p.stat().st_size > size:
                with open(p, "r+b") as fh:
                    fh.truncate(size)

    def _load_chunks(self, step: int):
        for tmp in (self.root / "chunks").glob("chunk_*.npz.tmp"):  # interrupted by the kill
            self.owned.remove(tmp.relative_to(self.root))
        series = {name: [] for name in SERIES}
        for f in sorted((self.root / "chunks").glob("chunk_*.npz")):
            if int(f.stem.split("_")[1]) >= step:  # written after the checkpoint: redo
                self.owned.remove(f.relative_to(self.root))
                continue
            with np.load(f) as z:
                for name, chunks in series.items():
                    chunks.append(z[name] if name in z else None)
        return series

    # ---- results -------------------------------------------------------------------
    def write_results(self, result) -> None:
        for m, spec in enumerate(result.spectra):
            spec.to_csv(self.root / f"spectrum_mol{m:03d}.csv")
        arrays = {"dipoles_eA": result.dipoles}
        if result.dmu_dt is not None:
            arrays["dmu_dt_eA_per_fs"] = result.dmu_dt
        if result.members is not None:
            arrays["member_series"] = result.members
        _atomic_write(self.root / "dipoles.npz", lambda fh: np.savez_compressed(fh, **arrays))
        text = json.dumps(result.to_dict(), indent=2).encode()
        _atomic_write(self.root / "result.json", lambda fh: fh.write(text))
