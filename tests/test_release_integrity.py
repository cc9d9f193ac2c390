"""Release checksums cannot be bypassed, and no name leaves the folder (issue 15, item 6)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mace4ir.checksums import ChecksumError
from mace4ir.errors import Mace4irError

pytest_plugins = ("release_helpers",)


def _copy(release, dst) -> Path:
    return Path(shutil.copytree(release, dst))


def _tamper(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0x40
    path.write_bytes(bytes(raw))


def _sums(folder: Path) -> list[str]:
    return (folder / "SHA256SUMS").read_text().splitlines()


def test_emptied_or_partial_checksum_file_does_not_let_tampered_weights_load(
    release_folder, tmp_path
):
    import mace4ir

    copy = _copy(release_folder, tmp_path / "copy")
    _tamper(copy / "mace4ir_ef.safetensors")
    (copy / "SHA256SUMS").write_text("")
    with pytest.raises(ChecksumError, match="SHA256SUMS: does not list mace4ir_dipole.json, "):
        mace4ir.load(copy)
    partial = [line for line in _sums(release_folder) if "mace4ir_ef.safetensors" not in line]
    (copy / "SHA256SUMS").write_text("\n".join(partial) + "\n")
    with pytest.raises(ChecksumError, match=r"does not list mace4ir_ef\.safetensors, so they"):
        mace4ir.load(copy)


@pytest.mark.parametrize("name", ["../secret.txt", "../absent.txt", "/etc/hostname", "a/../../x"])
def test_checksum_names_outside_the_folder_are_refused_unread(release_folder, tmp_path, name):
    import mace4ir

    (tmp_path / "secret.txt").write_text("not for the release loader")
    copy = _copy(release_folder, tmp_path / "copy")
    line = f"{'0' * 64}  {name}"
    (copy / "SHA256SUMS").write_text("\n".join([*_sums(release_folder), line]) + "\n")
    # same message whether the file exists or not: no oracle for files outside the folder
    with pytest.raises(ChecksumError, match=f"SHA256SUMS:7: file name '{name}' leaves the folder"):
        mace4ir.load(copy)


def test_release_config_names_are_checked_too(release_folder, tmp_path):
    import mace4ir

    copy = _copy(release_folder, tmp_path / "copy")
    config = json.loads((copy / "mace4ir_release.json").read_text())
    config["models"]["ef"]["weights"] = "../../elsewhere.safetensors"
    (copy / "mace4ir_release.json").write_text(json.dumps(config))
    with pytest.raises(ChecksumError, match="models.ef.weights: file name '../../elsewhere"):
        mace4ir.load(copy)
    del config["models"]["dipole"]["spec"]  # item 10: a release config missing a key
    config["models"]["ef"]["weights"] = "mace4ir_ef.safetensors"
    (copy / "mace4ir_release.json").write_text(json.dumps(config))
    with pytest.raises(Mace4irError, match="mace4ir_release.json: models.dipole.spec missing"):
        mace4ir.load(copy)


_AFTER_LOAD = """
import os, pickle, sys, torch
import mace4ir
calc = mace4ir.load(sys.argv[1])
print("setting:", os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"))

class Payload:
    def __reduce__(self):
        return (open, (sys.argv[2], "w"))

torch.save({"x": Payload()}, sys.argv[3])
try:
    torch.load(sys.argv[3])  # the user's own code, weights_only not given
except pickle.UnpicklingError:
    print("refused")
"""


def test_loading_a_release_leaves_torch_load_safe(release_folder, tmp_path):
    """Item 7: importing mace-torch set TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 for the process, so a
    plain torch.load of a malicious file after mace4ir.load ran its code."""
    import os
    import subprocess
    import sys

    ran, evil = tmp_path / "code_ran", tmp_path / "evil.pt"
    env = {k: v for k, v in os.environ.items() if k != "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"}
    cmd = [sys.executable, "-c", _AFTER_LOAD, str(release_folder), str(ran), str(evil)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    assert "setting: None" in out and "refused" in out
    assert not ran.exists()


def test_model_spec_missing_a_key_is_a_one_line_error(release_folder, tmp_path):
    """Item 10: a release spec missing a key gave a KeyError traceback."""
    import mace4ir
    from mace4ir.checksums import write_checksums

    copy = _copy(release_folder, tmp_path / "copy")
    spec = json.loads((copy / "mace4ir_ef.json").read_text())
    del spec["scale"]
    (copy / "mace4ir_ef.json").write_text(json.dumps(spec))
    write_checksums(copy, [line.split("  ", 1)[1] for line in _sums(release_folder)])
    with pytest.raises(Mace4irError, match="mace4ir_ef.json: model spec has no 'scale'"):
        mace4ir.load(copy)


def test_exported_files_are_readable_by_the_group_and_others(release_runs, tmp_path):
    """Item 12: exported .safetensors were mode 0600 in a folder meant to be shared."""
    import os
    import stat

    from mace4ir.release.export import ExportOptions, export_release

    old = os.umask(0o022)
    try:
        out = export_release(ExportOptions(*release_runs, out=tmp_path / "release"))
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes["mace4ir_ef.safetensors"] == modes["mace4ir_dipole.safetensors"] == 0o644
    assert set(modes.values()) == {0o644}
