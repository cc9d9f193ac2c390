"""A repo laid out like the MACE4IR paper's Hub repo (several mace-torch 0.3.10 pickles in
folders, scripts, a tutorial), served by the fake Hub: listed, chosen from, refused with a
one-line message when the choice is wrong or ambiguous, and imported to the safe format."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from ase.build import molecule
from release_fake_hub import FakeHub

FIXTURES = Path(__file__).parent / "data" / "mace_0_3_10"
REPO = "org/mace4ir-paper"
README = Path(__file__).parents[1] / "README.md"
LAYOUT = {  # path in the repo -> fixture file (None: a text file)
    "MACE4IR_EF_small_float32.model": "MACE4IR_EF_small_float32.model",
    "MACE4IR_EF_large_float64.model": "MACE4IR_EF_large_float64.model",
    "models/MACE4IR_D.model": "MACE4IR_D.model",
    "scripts/run_md.py": None,
    "tutorial.ipynb": None,
    "README.md": None,
}
CARD = "---\nlicense: mit\nlibrary_name: mace\n---\n# MACE4IR\n"
DIPOLE = "models/MACE4IR_D.model"


def paper_files() -> dict[str, bytes]:
    files = {p: (FIXTURES / f).read_bytes() for p, f in LAYOUT.items() if f}
    files.update({p: b"{}\n" for p, f in LAYOUT.items() if not f})
    files["README.md"] = CARD.encode()
    return files


@pytest.fixture(scope="module")
def paper_folder(tmp_path_factory) -> Path:
    """A local folder laid out like the paper's repo (plus a hidden stale pickle)."""
    root = tmp_path_factory.mktemp("paper") / "MACE4IR"
    for path, data in paper_files().items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    (root / ".cache").mkdir()
    (root / ".cache" / "stale.model").write_bytes(b"not a pickle")  # hidden: never read
    return root


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """The fake Hub serving the paper-like repo, with an empty huggingface_hub cache."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    with FakeHub() as server:
        server.add_repo(REPO, paper_files())
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        yield server


def run_cli(args: list[str]) -> int:
    from mace4ir.cli import main

    return main(args)


def test_models_lists_the_hub_repo(hub, capsys, caplog):
    assert run_cli(["models", REPO]) == 2  # pickles: only with --trust-pickle
    assert caplog.records[-1].getMessage().startswith(f"{REPO}: holds mace-torch pickles (")
    assert run_cli(["models", REPO, "--trust-pickle"]) == 0
    out = capsys.readouterr().out
    rows = {r[0]: r for r in map(str.split, out.splitlines()) if r and r[0] in LAYOUT}
    assert rows["models/MACE4IR_D.model"][1:] == [
        *["dipole", "H", "C", "N", "O", "8", "1", "2", "float64", "4,568", "unknown"]
    ]
    assert rows["MACE4IR_EF_large_float64.model"][1] == "EF"
    assert rows["MACE4IR_EF_large_float64.model"][6:9] == ["16", "1", "2"]  # channels L layers
    assert rows["MACE4IR_EF_small_float32.model"][9] == "float32"
    assert "default EF: MACE4IR_EF_small_float32.model" in out
    assert "default dipole: models/MACE4IR_D.model" in out

    assert run_cli(["models", REPO, "--trust-pickle", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["kind"] for m in listed["models"]] == ["ef", "ef", "dipole"]
    assert listed["default"] == {
        "ef": "MACE4IR_EF_small_float32.model",
        "dipole": "models/MACE4IR_D.model",
    }


def test_listing_pickles_needs_trust(paper_folder, caplog):
    assert run_cli(["models", str(paper_folder)]) == 2
    message = caplog.records[-1].getMessage()
    assert "holds mace-torch pickles" in message and "--trust-pickle" in message
    assert "\n" not in message


def test_load_picks_the_default_pair_and_logs_it(hub, caplog):
    import mace4ir

    with caplog.at_level(logging.INFO):
        calc = mace4ir.load(REPO, trust_pickle=True)
    assert calc.engine.ef.source.endswith("MACE4IR_EF_small_float32.model")
    assert calc.engine.dipole.source.endswith("models/MACE4IR_D.model")
    assert any(
        "using EF model MACE4IR_EF_small_float32.model (default" in r.getMessage()
        for r in caplog.records
    )


def test_load_selects_by_name(paper_folder):
    import mace4ir

    calc = mace4ir.load(
        paper_folder, trust_pickle=True, ef="MACE4IR_EF_large_float64", dipole="MACE4IR_D.model"
    )
    assert calc.engine.ef.source.endswith("MACE4IR_EF_large_float64.model")
    assert str(calc.engine.ef.dtype) == "torch.float64"


@pytest.mark.parametrize(
    "choice, message",
    [
        ({"ef": "MACE4IR_D"}, r"MACE4IR_D.model \(dipole, float64, 8 channels\) is not an EF"),
        ({"ef": "MACE4IR_EF_medium"}, r"no model file 'MACE4IR_EF_medium'"),
        ({"dipole": "nope.model"}, r"no model file 'nope.model'"),
    ],
)
def test_wrong_choice_is_one_line_listing_the_repo(paper_folder, choice, message):
    import mace4ir
    from mace4ir.errors import Mace4irError

    with pytest.raises(Mace4irError) as err:
        mace4ir.load(paper_folder, trust_pickle=True, **choice)
    text = str(err.value)
    assert re.search(message, text) and "\n" not in text
    assert text.startswith(str(paper_folder))
    for name in ("MACE4IR_EF_small_float32.model", "MACE4IR_EF_large_float64.model"):
        assert name in text  # it holds: ...


def test_ambiguous_choices_are_refused(hub):
    """A Hub repo with the dipole file twice (in two folders): no default dipole model, and
    its bare name is ambiguous; the path below the repo chooses."""
    import mace4ir
    from mace4ir.errors import Mace4irError

    files = paper_files()
    hub.add_repo("org/two-dipoles", {**files, "extra/MACE4IR_D.model": files[DIPOLE]})
    with pytest.raises(Mace4irError) as err:
        mace4ir.load("org/two-dipoles", trust_pickle=True)
    assert re.match(
        r"org/two-dipoles: several dipole models fit the default \(extra/", str(err.value)
    )
    assert "--dipole-file" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(Mace4irError, match=r"'MACE4IR_D' is ambiguous \(extra/MACE4IR_D.model, "):
        mace4ir.load("org/two-dipoles", trust_pickle=True, dipole="MACE4IR_D")
    calc = mace4ir.load("org/two-dipoles", trust_pickle=True, dipole="extra/MACE4IR_D.model")
    assert calc.engine.dipole.source.endswith("extra/MACE4IR_D.model")


def test_cli_flags_choose_models_inside_model(paper_folder, tmp_path, caplog):
    """--ef-file/--dipole-file come with every command that takes --model."""
    args = ["ir", "harmonic", "O", "--no-optimize", "--out", str(tmp_path), "--trust-pickle"]
    assert run_cli([*args, "--model", str(paper_folder), "--ef-file", "nope"]) == 2
    assert "no model file 'nope'" in caplog.records[-1].getMessage()
    assert run_cli([*args, "--ef-file", "MACE4IR_D"]) == 2
    assert "choose model files inside --model" in caplog.records[-1].getMessage()
    assert (
        run_cli([*args, "--model", str(paper_folder), "--ef-file", "MACE4IR_EF_large_float64"]) == 0
    )


def test_import_from_the_hub_gives_a_safe_release(hub, paper_folder, tmp_path, capsys):
    import mace4ir
    from mace4ir.hashing import sha256_file

    out = tmp_path / "imported"
    assert run_cli(["release", "import", REPO, "--out", str(out)]) == 2  # no --trust-pickle
    assert not out.exists()
    argv = ["release", "import", REPO, "--out", str(out), "--trust-pickle"]
    assert run_cli([*argv, "--ef-file", "MACE4IR_EF_large_float64.model"]) == 0
    assert not list(out.rglob("*.model"))
    imported, original = (
        mace4ir.load(out),  # no trust_pickle: nothing is unpickled
        mace4ir.load(paper_folder, trust_pickle=True, ef="MACE4IR_EF_large_float64"),
    )
    atoms = molecule("CH3CONH2")
    atoms.rattle(0.05, seed=1)
    a, b = atoms.copy(), atoms.copy()
    a.calc, b.calc = imported, original
    assert a.get_potential_energy() == b.get_potential_energy()
    np.testing.assert_array_equal(a.get_forces(), b.get_forces())
    np.testing.assert_array_equal(a.get_dipole_moment(), b.get_dipole_moment())

    config = json.loads((out / "mace4ir_release.json").read_text())
    assert config["source"]["repo"] == REPO and config["license"] == "mit"
    assert config["models"]["ef"]["source_sha256"] == sha256_file(
        paper_folder / "MACE4IR_EF_large_float64.model"
    )
    assert config["source"]["check"]["energy_eV"] <= 1e-12
    card = (out / "README.md").read_text()
    for text in ("## Source", "MACE4IR_EF_large_float64.model", REPO, "trust_pickle=True"):
        assert text in card, text
    capsys.readouterr()
    assert run_cli(["models", str(out)]) == 0  # listed from the release config alone
    assert re.search(r"mace4ir_ef.safetensors +EF .* 16 +1 +2 +float64", capsys.readouterr().out)


def test_import_refuses_a_model_it_cannot_reproduce(paper_folder, tmp_path, monkeypatch):
    """A spec that misreads a constant (here the neighbour normalisation) gives other numbers:
    nothing is written, and the message names the file and the quantity."""
    from mace4ir.errors import Mace4irError
    from mace4ir.release.pickle_import import ImportOptions, import_release
    from mace4ir.training.models import mace_pickles

    real = mace_pickles.spec_from_model

    def misread(model, source):
        spec = real(model, source)
        return {**spec, "avg_num_neighbors": spec["avg_num_neighbors"] * 1.01}

    monkeypatch.setattr(mace_pickles, "spec_from_model", misread)
    out = tmp_path / "bad"
    with pytest.raises(Mace4irError, match=r"EF_small_float32.model: .* gives other forces than"):
        import_release(ImportOptions(source=str(paper_folder), out=out, trust_pickle=True))
    assert not out.exists() and not list(tmp_path.glob(".bad*"))


def test_readme_three_lines_work_on_a_folder_laid_out_like_the_paper_repo(paper_folder):
    """The README's newcomer example, with the Hub id replaced by a local copy of the layout."""
    block = re.search(
        r"<!-- paper-repo-example -->\s*```python\n(.*?)```", README.read_text(), re.S
    )
    assert block, "README: no python block after <!-- paper-repo-example -->"
    code = block.group(1).replace('"nitbha007/MACE4IR"', repr(str(paper_folder)))
    assert code != block.group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    wavenumbers, absorbance = namespace["wavenumbers"], namespace["absorbance"]
    assert len(wavenumbers) == len(absorbance) > 100 and np.isfinite(absorbance).all()
