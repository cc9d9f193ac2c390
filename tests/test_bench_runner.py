"""Suite runner: per-molecule failures, resume after SIGKILL, dead workers, setup fingerprint.

Harmonic spectra come from the real IR engine with GFN2-xTB (tiny molecules, ~1 s each).
Only the resume and crash tests wrap the real computation to stop or kill at a chosen
molecule, so the interruption happens at a known point instead of depending on timing.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from ase import Atoms
from ase.build import molecule
from ase.io import write

from mace4ir.errors import ConfigError
from mace4ir.evaluation.suites.compute import compute_molecule
from mace4ir.evaluation.suites.runner import BenchOptions, run_suite
from mace4ir.evaluation.suites.store import ResultStore
from mace4ir.evaluation.suites.suite_files import load_suite

SMALL = ("H2O", "NH3", "CH4", "CO2", "HCN")


def _suite(tmp_path, extra=()):
    folder = tmp_path / "suite"
    folder.mkdir()
    mols = []
    for name in SMALL:
        write(folder / f"{name}.xyz", molecule(name))
        mols.append(
            {
                "id": name.lower(),
                "name": name,
                "class": "small",
                "source": "ase.build",
                "file": f"{name}.xyz",
            }
        )
    path = folder / "small.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "small",
                "classes": {"small": "Small", "odd": "Odd"},
                "molecules": mols + list(extra),
            }
        )
    )
    return load_suite(path)


def test_failing_molecules_are_recorded_and_the_rest_runs(tmp_path):
    uf6 = tmp_path / "UF6.xyz"
    d = 1.97  # Å, U-F
    write(
        uf6,
        Atoms(
            "UF6",
            positions=[
                [0, 0, 0],
                [d, 0, 0],
                [-d, 0, 0],
                [0, d, 0],
                [0, -d, 0],
                [0, 0, d],
                [0, 0, -d],
            ],
        ),
    )
    extra = [
        {
            "id": "uf6",
            "class": "odd",
            "file": str(uf6),
        },  # GFN2-xTB has no uranium: fails in the engine
        {"id": "gecko1", "class": "odd", "geckoq": 1},
    ]  # no local GeckoQ copy: fails to resolve
    suite = _suite(tmp_path, extra)
    mols = suite.select(["h2o", "uf6", "gecko1", "co2"])
    out = tmp_path / "out"
    summary = run_suite(suite, mols, out, BenchOptions(), locations={})
    status = ResultStore(out).statuses()
    assert status == {"h2o": "ok", "uf6": "failed", "gecko1": "failed", "co2": "ok"}
    assert sorted(summary.failed) == ["gecko1", "uf6"]
    results = {r["id"]: r for r in ResultStore(out).results()}
    assert "Z >86" in results["uf6"]["error"]  # tblite's own message, kept
    assert "geckoq record '1' needs a local copy" in results["gecko1"]["error"]
    assert len(results["h2o"]["harmonic"]["frequencies_cm1"]) == 3  # 3N-6
    assert len(results["co2"]["harmonic"]["frequencies_cm1"]) == 4  # linear: 3N-5
    # a rerun skips everything; --retry-failed recomputes only the failures
    again = run_suite(suite, mols, out, BenchOptions(), locations={})
    assert again.computed == [] and sorted(again.skipped) == ["co2", "gecko1", "h2o", "uf6"]
    retry = run_suite(suite, mols, out, BenchOptions(retry_failed=True), locations={})
    assert sorted(retry.computed) == ["gecko1", "uf6"]


RESUME_SCRIPT = """
import sys, time
from pathlib import Path
from mace4ir.evaluation.suites.compute import compute_molecule
from mace4ir.evaluation.suites.runner import BenchOptions, run_suite
from mace4ir.evaluation.suites.suite_files import load_suite

suite, out, stop_after = load_suite(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
done = []

def compute(atoms, calc, kind, settings, workdir=None):
    if len(done) == stop_after:          # hang here until killed
        (out / "hanging").write_text(atoms.get_chemical_formula())
        time.sleep(3600)
    done.append(1)
    return compute_molecule(atoms, calc, kind, settings, workdir)

run_suite(suite, suite.molecules, out, BenchOptions(), compute=compute)
"""


def test_resume_after_sigkill_recomputes_nothing_and_loses_nothing(tmp_path):
    suite = _suite(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "run.py"
    script.write_text(RESUME_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(suite.path), str(out), "2"],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not (out / "hanging").exists():
            assert proc.poll() is None, "runner exited before reaching the third molecule"
            assert time.monotonic() < deadline, "runner never reached the third molecule"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    store = ResultStore(out)
    first = {
        p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in store.results_dir.glob("*.json")
    }
    assert sorted(first) == ["h2o.json", "nh3.json"]
    assert all(json.loads(b)["status"] == "ok" for _, b in first.values())

    computed = []

    def counting(atoms, calc, kind, settings, workdir=None):
        computed.append(atoms.get_chemical_formula())
        return compute_molecule(atoms, calc, kind, settings, workdir)

    summary = run_suite(suite, suite.molecules, out, BenchOptions(), compute=counting)
    assert sorted(summary.skipped) == ["h2o", "nh3"]
    assert sorted(computed) == sorted(["CH4", "CO2", "CHN"])  # the rest, each exactly once
    assert store.statuses() == {m.id: "ok" for m in suite.molecules}
    for name, (mtime, data) in first.items():  # finished results untouched
        path = store.results_dir / name
        assert path.stat().st_mtime_ns == mtime and path.read_bytes() == data
    assert not list(store.results_dir.glob(".*tmp"))


def test_dead_worker_is_recorded_and_others_finish(tmp_path):
    suite = _suite(tmp_path)
    from bench_helpers import crash_on_ammonia

    mols = suite.select(["h2o", "nh3"])
    out = tmp_path / "out"
    summary = run_suite(suite, mols, out, BenchOptions(workers=2), compute=crash_on_ammonia)
    results = {r["id"]: r for r in ResultStore(out).results()}
    assert {i: r["status"] for i, r in results.items()} == {"h2o": "ok", "nh3": "failed"}
    assert "worker process died" in results["nh3"]["error"]
    assert summary.failed == ["nh3"]


def test_output_folder_refuses_a_different_setup(tmp_path):
    suite = _suite(tmp_path)
    out = tmp_path / "out"
    run_suite(suite, suite.select(["h2o"]), out, BenchOptions())
    other = BenchOptions(calculator={"type": "xtb", "accuracy": 1e-2})
    with pytest.raises(ConfigError, match="holds results for a different calculator"):
        run_suite(suite, suite.select(["nh3"]), out, other)
