"""Readers for local copies of the molecule datasets used by the benchmark suites.

- tmQM (Balcells & Skjelstad; github.com/uiocompcat/tmQM): ``tmQM_X*.xyz[.gz]``, xyz blocks
  separated by a blank line, comment line
  ``CSD_code = WIXKOE | q = 0 | S = 0 | Stoichiometry = C47H65LaN2O | MND = 7`` (the 2024
  release appends ``| 2020-2024 CSD``), coordinates in Å; ``tmQM_y.csv`` is ``;``-separated
  with a ``CSD_code`` column (Electronic_E and HOMO/LUMO in Hartree, Dipole_M in Debye).
- GeckoQ (Besel et al., Sci. Data 2023): a CSV with one row per molecule (an id column such
  as ``index``/``ID`` and a ``SMILES`` column) and one xyz file per molecule named
  ``<id>.xyz`` anywhere below the dataset folder, or one multi-frame (ext)xyz file whose
  frames carry ``id=<id>`` in their info.
- extxyz: any ASE-readable (ext)xyz file, a frame chosen by index or by ``info['id']``.

A record missing from a local copy raises :class:`DatasetRecordMissing`, naming the record
id and the files that were searched.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from ase import Atoms

from mace4ir.errors import DataFormatError, Mace4irError


class DatasetRecordMissing(Mace4irError):
    """A requested record is not in the local copy of a dataset."""


# --------------------------------------------------------------------------- tmQM xyz


def parse_tmqm_comment(line: str) -> dict[str, str]:
    """``CSD_code = X | q = 0 | ...`` -> dict; a trailing field without '=' is ``CSD_release``."""
    out = {}
    for part in line.split("|"):
        part = part.strip()
        if "=" in part:
            key, value = part.split("=", 1)
            out[key.strip()] = value.strip()
        elif part:
            out["CSD_release"] = part
    return out


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def iter_tmqm_xyz(path: str | Path) -> Iterator[Atoms]:
    """Yield every record of a tmQM xyz file (gzipped or not) as ``ase.Atoms``.

    ``atoms.info`` holds the comment fields (CSD_code, q, S, Stoichiometry, MND) plus
    ``charge`` (q) and ``multiplicity`` (2S+1). The formula is checked against
    Stoichiometry so that a mis-parsed block fails loudly.
    """
    path = Path(path)
    with _open_text(path) as fh:
        lineno = 0
        while True:
            line = fh.readline()
            lineno += 1
            if not line:
                return
            if not line.strip():
                continue  # blank separator line(s)
            start = lineno
            try:
                natoms = int(line.split()[0])
            except ValueError:
                raise DataFormatError(
                    f"{path}:{start}: expected an atom count, got {line.strip()!r}"
                ) from None
            comment = fh.readline()
            lineno += 1
            rows = [fh.readline() for _ in range(natoms)]
            lineno += natoms
            yield _tmqm_block(path, start, natoms, comment, rows)


def _tmqm_block(path: Path, start: int, natoms: int, comment: str, rows: list[str]) -> Atoms:
    meta = parse_tmqm_comment(comment)
    code = meta.get("CSD_code")
    if not code:
        raise DataFormatError(
            f"{path}:{start + 1}: comment line has no CSD_code: {comment.strip()!r}"
        )
    symbols, pos = [], []
    for k, row in enumerate(rows):
        parts = row.split()
        if len(parts) < 4:
            raise DataFormatError(
                f"{path}: record {code}: atom line {k + 1} of {natoms} is "
                f"malformed or missing: {row.strip()!r}"
            )
        symbols.append(parts[0])
        pos.append([float(x) for x in parts[1:4]])
    try:
        atoms = Atoms(symbols=symbols, positions=np.array(pos))
    except KeyError as exc:
        raise DataFormatError(f"{path}: record {code}: unknown element {exc}") from None
    stoich = meta.get("Stoichiometry")
    if stoich and atoms.get_chemical_formula(mode="hill") != stoich:
        raise DataFormatError(
            f"{path}: record {code}: atoms give formula "
            f"{atoms.get_chemical_formula(mode='hill')} but Stoichiometry = {stoich}"
        )
    atoms.info.update(meta)
    atoms.info["charge"] = int(float(meta.get("q", 0)))
    atoms.info["multiplicity"] = int(round(2 * float(meta.get("S", 0)))) + 1
    return atoms


def tmqm_files(location: str | Path) -> list[Path]:
    """The tmQM xyz files of a local copy: the file itself or all ``*.xyz[.gz]`` below a folder."""
    location = Path(location)
    if location.is_file():
        return [location]
    if not location.is_dir():
        raise DatasetRecordMissing(f"tmQM copy not found: {location}")
    files = sorted(p for p in location.rglob("*") if p.name.endswith((".xyz", ".xyz.gz")))
    if not files:
        raise DatasetRecordMissing(f"no tmQM xyz files (*.xyz, *.xyz.gz) below {location}")
    return files


def read_tmqm_records(location: str | Path, codes: Iterable[str]) -> dict[str, Atoms]:
    """Find CSD codes in a tmQM copy with one pass over its files.

    Returns the records found; use :func:`read_tmqm_record` for one code with an error if missing.
    """
    wanted = set(codes)
    found: dict[str, Atoms] = {}
    for path in tmqm_files(location):
        for atoms in iter_tmqm_xyz(path):
            code = atoms.info["CSD_code"]
            if code in wanted and code not in found:
                found[code] = atoms
                if len(found) == len(wanted):
                    return found
    return found


def read_tmqm_record(location: str | Path, code: str) -> Atoms:
    found = read_tmqm_records(location, [code])
    if code not in found:
        searched = ", ".join(str(p) for p in tmqm_files(location))
        raise DatasetRecordMissing(f"tmQM record {code!r} not found (searched {searched})")
    return found[code]


def read_tmqm_csv(path: str | Path) -> dict[str, dict[str, float | str]]:
    """tmQM_y.csv (``;``-separated; ``,`` also accepted) -> {CSD_code: {column: value}}."""
    path = Path(path)
    with _open_text(path) as fh:
        text = fh.read()
    header = text.splitlines()[0] if text else ""
    delimiter = ";" if header.count(";") >= header.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    fields = [f.strip() for f in (reader.fieldnames or [])]
    if "CSD_code" not in fields:
        raise DataFormatError(f"{path}: no CSD_code column in header {header!r}")
    out = {}
    for row in reader:
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        out[row["CSD_code"]] = {k: _number(v) for k, v in row.items() if k != "CSD_code"}
    return out


def _number(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


# --------------------------------------------------------------------------- GeckoQ

GECKOQ_ID_COLUMNS = ("index", "Index", "ID", "Id", "id", "")
GECKOQ_SMILES_COLUMNS = ("SMILES", "smiles", "Smiles")


class GeckoQ:
    """A local GeckoQ copy: a CSV table plus xyz structures (see module docstring)."""

    def __init__(self, location: str | Path):
        self.root = Path(location)
        if not self.root.exists():
            raise DatasetRecordMissing(f"GeckoQ copy not found: {self.root}")
        self.table_path = self._find_table()
        self.rows = self._read_table() if self.table_path else {}
        self._xyz_by_id: dict[str, Path] | None = None

    def _find_table(self) -> Path | None:
        if self.root.is_file():
            return self.root if self.root.suffix == ".csv" else None
        tables = sorted(self.root.rglob("*.csv"))
        return tables[0] if tables else None

    def _read_table(self) -> dict[str, dict[str, str]]:
        with open(self.table_path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            self.id_column = next((c for c in GECKOQ_ID_COLUMNS if c in fields), None)
            self.smiles_column = next((c for c in GECKOQ_SMILES_COLUMNS if c in fields), None)
            if self.id_column is None:
                raise DataFormatError(
                    f"{self.table_path}: no id column (one of "
                    f"{', '.join(repr(c) for c in GECKOQ_ID_COLUMNS)}) in {fields}"
                )
            return {row[self.id_column].strip(): row for row in reader}

    @property
    def folder(self) -> Path:
        return self.root if self.root.is_dir() else self.root.parent

    def id_for_smiles(self, smiles: str) -> str:
        """The GeckoQ id whose SMILES is the same molecule (RDKit canonical forms compared)."""
        if not self.rows or self.smiles_column is None:
            raise DatasetRecordMissing(
                f"GeckoQ: cannot look up SMILES {smiles!r}: no table with "
                f"a SMILES column below {self.root}"
            )
        target = canonical_smiles(smiles)
        for rid, row in self.rows.items():
            if canonical_smiles(row[self.smiles_column], strict=False) == target:
                return rid
        raise DatasetRecordMissing(
            f"GeckoQ record with SMILES {smiles!r} not found (searched {self.table_path})"
        )

    def read(self, rid: str) -> Atoms:
        rid = str(rid)
        index = self._xyz_index()
        if rid in index:
            atoms = _read_single(index[rid], rid)
        else:
            atoms = self._read_from_multiframe(rid)
        self._check_against_table(rid, atoms)
        atoms.info.setdefault("geckoq_id", rid)
        return atoms

    def _xyz_index(self) -> dict[str, Path]:
        if self._xyz_by_id is None:
            files = self.folder.rglob("*") if self.folder.is_dir() else []
            self._xyz_by_id = {
                p.name.split(".")[0]: p
                for p in files
                if p.name.endswith((".xyz", ".extxyz")) and p.is_file()
            }
        return self._xyz_by_id

    def _read_from_multiframe(self, rid: str) -> Atoms:
        # Only files that are not per-molecule files (named after a table id) can hold many frames.
        files = sorted(p for stem, p in self._xyz_index().items() if stem not in self.rows)
        for path in files:
            try:
                return read_extxyz_frame(path, key=rid)
            except DatasetRecordMissing:
                continue
        searched = [str(self.folder / f"**/{rid}.xyz")] + [str(p) for p in files]
        raise DatasetRecordMissing(
            f"GeckoQ record {rid!r} not found (searched {', '.join(searched)})"
        )

    def _check_against_table(self, rid: str, atoms: Atoms) -> None:
        row = self.rows.get(rid)
        if row and row.get("NumOfAtoms", "").strip():
            n = int(float(row["NumOfAtoms"]))
            if n != len(atoms):
                raise DataFormatError(
                    f"GeckoQ record {rid!r}: structure has {len(atoms)} atoms but "
                    f"{self.table_path} says NumOfAtoms = {n}"
                )


def canonical_smiles(smiles: str, strict: bool = True) -> str | None:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        if strict:
            raise DataFormatError(f"invalid SMILES {smiles!r}")
        return None
    return Chem.MolToSmiles(mol)


# --------------------------------------------------------------------------- extxyz


def _read_single(path: Path, rid: str) -> Atoms:
    from ase.io import read

    try:
        return read(path, index=0)
    except Exception as exc:  # ASE raises many types for malformed files
        raise DataFormatError(f"{path}: cannot read record {rid!r}: {exc}") from None


def read_extxyz_frame(path: str | Path, index: int | None = None, key: str | None = None) -> Atoms:
    """One frame of an (ext)xyz file, by position or by ``info['id']`` (or a bare comment id)."""
    from ase.io import iread, read

    path = Path(path)
    if not path.is_file():
        raise DatasetRecordMissing(f"extxyz file not found: {path}")
    try:
        if index is not None:
            try:
                return read(path, index=index)
            except (IndexError, StopIteration):
                raise DatasetRecordMissing(f"frame {index} not found in {path}") from None
        for atoms in iread(path, index=":"):
            ids = {str(atoms.info.get("id", "")), str(atoms.info.get("comment", "")).strip()}
            ids |= {str(k) for k, v in atoms.info.items() if v is True}  # bare-word comment
            if str(key) in ids:
                return atoms
    except DatasetRecordMissing:
        raise
    except Exception as exc:
        raise DataFormatError(f"{path}: cannot read: {exc}") from None
    raise DatasetRecordMissing(f"frame with id {key!r} not found (searched {path})")
