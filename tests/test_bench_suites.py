"""Suite files: the shipped suites load; broken ones fail with errors naming file, molecule and
problem."""

from pathlib import Path

import pytest
import yaml

from mace4ir.evaluation.suites.suite_files import SuiteError, available_suites, load_suite

SHIPPED = ("nist_shipped", "nist_md", "harmonic_classes", "element_rarity")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_suites_load_with_existing_references(name):
    suite = load_suite(name)
    assert name in available_suites()
    ids = [m.id for m in suite.molecules]
    assert len(ids) == len(set(ids))
    for mol in suite.molecules:
        assert mol.cls in suite.classes
        for ref in mol.references.values():
            assert Path(ref).is_file()


def test_paper_sets_are_complete():
    md = {m.id for m in load_suite("nist_md").molecules}
    assert len(md) == 20
    assert {
        "methylsilane",
        "fluoroethene",
        "dimethyl_sulfoxide",
        "vanillin",
        "trifluoroacetic_acid",
        "paracetamol",
        "boron_trifluoride",
        "pentachlorophenol",
        "methyl_dodecanoate",
    } <= md
    rare = {m.name.split(" (")[0].lower() for m in load_suite("element_rarity").molecules}
    assert {
        "iodoethane",
        "chlorotrimethylstannane",
        "ferrocene",
        "silver cyanate",
        "lithium carbonate",
        "calcium carbonate",
        "zinc acetylacetonate",
    } <= rare
    classes = load_suite("harmonic_classes")
    assert {m.cls for m in classes.molecules} == set(classes.classes) and len(classes.classes) == 4
    assert {m.structure["kind"] for m in classes.molecules if m.cls == "metal_complexes"} == {
        "tmqm"
    }


def test_shipped_nist_suite_references_are_the_nist_files_with_headers():
    suite = load_suite("nist_shipped")
    shared = (
        Path(__file__).resolve().parents[2] / "shared" / "data" / "nist_ir"
    )  # ../shared beside the clone
    for mol in suite.molecules:
        ref = Path(mol.references["experimental"])
        text = ref.read_text(errors="replace")
        assert text.startswith("##TITLE=") and "##XYDATA" in text and "##END" in text
        if shared.is_dir():  # byte-for-byte copies of the shared NIST files
            assert ref.read_bytes() == (shared / ref.name).read_bytes()
    assert (Path(suite.path).parent / "nist_ir" / "README.md").is_file()


def _write_suite(tmp_path, molecules, **top):
    data = {"name": "t", "classes": {"organic": "Organic"}, "molecules": molecules, **top}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "molecules, expected",
    [
        (
            [
                {"id": "a", "class": "organic", "smiles": "C"},
                {"id": "a", "class": "organic", "smiles": "CC"},
            ],
            ["molecule 'a'", "duplicate id"],
        ),
        ([{"id": "b", "class": "organic"}], ["molecule 'b'", "missing structure"]),
        (
            [{"id": "b2", "class": "organic", "cas": "64-17-5"}],
            ["molecule 'b2'", "CAS number alone"],
        ),
        (
            [{"id": "c", "class": "metals", "smiles": "C"}],
            ["molecule 'c'", "unknown class 'metals'", "organic"],
        ),
        (
            [
                {
                    "id": "d",
                    "class": "organic",
                    "smiles": "C",
                    "references": {"experimental": "nope.jdx"},
                }
            ],
            ["molecule 'd'", "experimental reference file missing", "nope.jdx"],
        ),
        (
            [{"id": "e", "class": "organic", "smiles": "C", "file": "x.xyz"}],
            ["molecule 'e'", "exactly one structure"],
        ),
        (
            [{"id": "f", "class": "organic", "file": "missing.xyz"}],
            ["molecule 'f'", "structure file missing"],
        ),
        (
            [{"id": "g", "class": "organic", "smiles": "C", "colour": "red"}],
            ["molecule 'g'", "unknown key(s) colour"],
        ),
        (
            [{"id": "h/1", "class": "organic", "smiles": "C"}],
            ["molecule 'h/1'", "must not contain"],
        ),
        (
            [{"id": "i", "class": "organic", "smiles": "C", "references": {"dft": "x"}}],
            ["molecule 'i'", "unknown reference kind 'dft'"],
        ),
        ([{"class": "organic", "smiles": "C"}], ["molecules[0]", "missing 'id'"]),
        (
            [{"id": "j", "class": "organic", "geckoq": {"inchi": "x"}}],
            ["molecule 'j'", "geckoq must be"],
        ),
    ],
)
def test_invalid_suites_name_file_molecule_and_problem(tmp_path, molecules, expected):
    path = _write_suite(tmp_path, molecules)
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    message = str(err.value)
    assert str(path) in message
    for part in expected:
        assert part in message


def test_top_level_errors(tmp_path):
    with pytest.raises(SuiteError, match="non-empty list"):
        load_suite(_write_suite(tmp_path, []))
    with pytest.raises(SuiteError, match="kind must be one of"):
        load_suite(
            _write_suite(tmp_path, [{"id": "a", "class": "organic", "smiles": "C"}], kind="fast")
        )
    with pytest.raises(SuiteError, match="unknown dataset 'qm9'"):
        load_suite(
            _write_suite(
                tmp_path, [{"id": "a", "class": "organic", "smiles": "C"}], datasets={"qm9": "x"}
            )
        )
    bad = tmp_path / "bad.yaml"
    bad.write_text("molecules: [\n")
    with pytest.raises(SuiteError, match="invalid YAML"):
        load_suite(bad)


def test_selection_by_ids_chunks_and_limit(tmp_path):
    suite = load_suite("nist_shipped")
    all_ids = [m.id for m in suite.molecules]
    chunks = [[m.id for m in suite.select(chunk=(i, 3))] for i in (1, 2, 3)]
    assert sorted(sum(chunks, [])) == sorted(all_ids)  # disjoint cover
    assert [m.id for m in suite.select(["methanol", "water"])] == [
        "water",
        "methanol",
    ]  # suite order
    assert len(suite.select(limit=2)) == 2
    with pytest.raises(SuiteError, match="unknown molecule id"):
        suite.select(["unobtainium"])
