"""tmQM, GeckoQ and extxyz readers on small files in the real formats (tests/data/bench)."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from mace4ir.errors import DataFormatError
from mace4ir.evaluation.suites.dataset_readers import (
    DatasetRecordMissing,
    GeckoQ,
    iter_tmqm_xyz,
    parse_tmqm_comment,
    read_extxyz_frame,
    read_tmqm_csv,
    read_tmqm_record,
    read_tmqm_records,
)
from mace4ir.evaluation.suites.structures import resolve_structures
from mace4ir.evaluation.suites.suite_files import Molecule

DATA = Path(__file__).parent / "data" / "bench"
TMQM = DATA / "tmqm"
GECKOQ = DATA / "geckoq"


def test_tmqm_comment_line_fields():
    meta = parse_tmqm_comment(
        "CSD_code = WELROW | q = 0 | S = 0 | Stoichiometry = C40H36LaN2P3Se6 | MND = 8 "
        "| 2020-2024 CSD"
    )
    assert meta == {
        "CSD_code": "WELROW",
        "q": "0",
        "S": "0",
        "Stoichiometry": "C40H36LaN2P3Se6",
        "MND": "8",
        "CSD_release": "2020-2024 CSD",
    }


def test_tmqm_gzipped_and_plain_files():
    gz = list(iter_tmqm_xyz(TMQM / "tmQM_X1.xyz.gz"))
    assert [a.info["CSD_code"] for a in gz] == ["TSTNIC", "TSTFEC"]
    ni = gz[0]
    assert ni.get_chemical_formula(mode="hill") == "C4NiO4" and len(ni) == 9
    assert ni.info["charge"] == 0 and ni.info["multiplicity"] == 1 and ni.info["MND"] == "4"
    # Ni-C distance of a tetrahedral carbonyl: about 1.8 Å, i.e. coordinates are in Å
    assert 1.6 < np.linalg.norm(ni.positions[1] - ni.positions[0]) < 2.0
    plain = list(iter_tmqm_xyz(TMQM / "tmQM_X2.xyz"))
    assert [a.info["CSD_code"] for a in plain] == ["TSTCRC"]
    assert plain[0].info["CSD_release"] == "2020-2024 CSD"


def test_tmqm_lookup_across_files_and_missing_record():
    found = read_tmqm_records(TMQM, ["TSTCRC", "TSTNIC"])
    assert set(found) == {"TSTCRC", "TSTNIC"}
    assert read_tmqm_record(TMQM, "TSTFEC").get_chemical_formula(mode="hill") == "C5FeO5"
    with pytest.raises(DatasetRecordMissing) as err:
        read_tmqm_record(TMQM, "ABCDEF")
    assert (
        "ABCDEF" in str(err.value)
        and "tmQM_X1.xyz.gz" in str(err.value)
        and "tmQM_X2.xyz" in str(err.value)
    )


def test_tmqm_malformed_block_names_file_and_record(tmp_path):
    lines = gzip.open(TMQM / "tmQM_X1.xyz.gz", "rt").read().splitlines()
    bad = tmp_path / "tmQM_bad.xyz"
    bad.write_text("\n".join(lines[:5]) + "\n")  # TSTNIC cut after 3 of 9 atoms
    with pytest.raises(DataFormatError, match=r"tmQM_bad.xyz: record TSTNIC: atom line 4 of 9"):
        list(iter_tmqm_xyz(bad))
    wrong = tmp_path / "tmQM_wrong.xyz"
    wrong.write_text(
        "\n".join([lines[0], lines[1].replace("C4NiO4", "C4FeO4")] + lines[2:11]) + "\n"
    )
    with pytest.raises(
        DataFormatError, match="record TSTNIC: atoms give formula C4NiO4 but Stoichiometry = C4FeO4"
    ):
        list(iter_tmqm_xyz(wrong))


def test_tmqm_csv():
    table = read_tmqm_csv(TMQM / "tmQM_y.csv")
    assert set(table) == {"TSTNIC", "TSTFEC", "TSTCRC"}
    assert table["TSTFEC"]["Polarizability"] == pytest.approx(60.5)
    assert set(table["TSTNIC"]) == {
        "Electronic_E",
        "Dispersion_E",
        "Dipole_M",
        "Metal_q",
        "HL_Gap",
        "HOMO_Energy",
        "LUMO_Energy",
        "Polarizability",
    }


def test_geckoq_by_id_and_by_smiles():
    gk = GeckoQ(GECKOQ)
    assert gk.id_column == "index" and gk.smiles_column == "SMILES"
    atoms = gk.read("3")
    assert atoms.get_chemical_formula(mode="hill") == "C5H8O3" and atoms.info["geckoq_id"] == "3"
    assert gk.id_for_smiles("O=CC(C)=O") == "1"  # methylglyoxal written differently
    with pytest.raises(
        DatasetRecordMissing, match=r"GeckoQ record '42' not found \(searched .*42.xyz"
    ):
        gk.read("42")
    with pytest.raises(DatasetRecordMissing, match="SMILES 'CCCCCCCC' not found"):
        gk.id_for_smiles("CCCCCCCC")


def test_geckoq_atom_count_checked_against_table(tmp_path):
    copy = tmp_path / "geckoq"
    shutil.copytree(GECKOQ, copy)
    text = (
        (copy / "Dataframe.csv")
        .read_text()
        .replace("2,OCC=O,1.000e-02,8,", "2,OCC=O,1.000e-02,11,")
    )
    (copy / "Dataframe.csv").write_text(text)
    with pytest.raises(
        DataFormatError, match="GeckoQ record '2': structure has 8 atoms but .*NumOfAtoms = 11"
    ):
        GeckoQ(copy).read("2")


def test_geckoq_multiframe_extxyz(tmp_path):
    frames = []
    for rid, sym in (("7", "CO"), ("8", "N2")):
        a = Atoms(sym, positions=[[0, 0, 0], [0, 0, 1.12]])
        a.info["id"] = rid
        frames.append(a)
    write(tmp_path / "geckoq_all.extxyz", frames, format="extxyz")
    assert GeckoQ(tmp_path).read("8").get_chemical_formula() == "N2"


def test_extxyz_frame_by_index_and_key(tmp_path):
    frames = [
        Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]], info={"id": "h2"}),
        Atoms("HF", positions=[[0, 0, 0], [0, 0, 0.92]], info={"id": "hf"}),
    ]
    path = tmp_path / "mols.extxyz"
    write(path, frames, format="extxyz")
    assert read_extxyz_frame(path, key="hf").get_chemical_symbols() == ["H", "F"]
    assert read_extxyz_frame(path, index=0).get_chemical_formula() == "H2"
    with pytest.raises(
        DatasetRecordMissing, match=r"frame with id 'xx' not found \(searched .*mols.extxyz"
    ):
        read_extxyz_frame(path, key="xx")
    with pytest.raises(DatasetRecordMissing, match="frame 5 not found"):
        read_extxyz_frame(path, index=5)


def _mol(mid, **structure):
    return Molecule(id=mid, name=mid, cls="x", source="test", structure=structure)


def test_resolve_structures_records_each_problem_without_stopping(monkeypatch):
    monkeypatch.delenv("MACE4IR_TMQM", raising=False)
    mols = [
        _mol("ni", kind="tmqm", value="TSTNIC"),
        _mol("lost", kind="tmqm", value="NOSUCH"),
        _mol("gk", kind="geckoq", value={"smiles": "OCC=O"}),
    ]
    out = resolve_structures(mols, {"tmqm": TMQM, "geckoq": GECKOQ})
    assert (
        out["ni"][0].get_chemical_formula(mode="hill") == "C4NiO4" and out["ni"][1] == "tmQM TSTNIC"
    )
    assert (
        out["lost"][0] is None
        and "'NOSUCH' not found" in out["lost"][1]
        and "tmQM_X1.xyz.gz" in out["lost"][1]
    )
    assert out["gk"][1] == "GeckoQ 2" and len(out["gk"][0]) == 8
    no_copy = resolve_structures(
        [
            _mol("ni", kind="tmqm", value="TSTNIC", smiles=None),
            _mol("gk", kind="geckoq", value={"smiles": "OCC=O"}, smiles="OCC=O"),
        ],
        {},
    )
    assert no_copy["ni"][0] is None and "--dataset tmqm=PATH" in no_copy["ni"][1]
    # documented fallback: the SMILES is embedded when no local copy is configured, and said so
    assert no_copy["gk"][0].get_chemical_formula(mode="hill") == "C2H4O2"
    assert no_copy["gk"][1] == "RDKit embedding of OCC=O (no local geckoq copy)"
