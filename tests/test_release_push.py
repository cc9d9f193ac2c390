"""Push: --dry-run listing, one-commit upload, retries and error mapping against a local
fake Hub (tests/release_fake_hub.py) driven by the real huggingface_hub client, and a
Hub round trip: push -> snapshot_download -> offline load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from release_fake_hub import FakeHub
from release_helpers import assert_same, predictions

pytest_plugins = ("release_helpers",)


@pytest.fixture(scope="module")
def release(release_folder, tmp_path_factory):
    out = Path(shutil.copytree(release_folder, tmp_path_factory.mktemp("push") / "release"))
    (out / ".cache").mkdir()  # e.g. huggingface_hub's local-dir metadata: never uploaded
    (out / ".cache" / "x.lock").write_text("x")
    (out / "mace4ir_ef.json.tmp").write_text("partial write")
    return out


def expected_files(release: Path) -> dict[str, int]:
    names = [
        line.split("  ", 1)[1] for line in (release / "SHA256SUMS").read_text().splitlines()
    ] + ["SHA256SUMS"]
    return {name: (release / name).stat().st_size for name in names}


def opts(release, hub, **kw):
    from mace4ir.release.push import PushOptions

    return PushOptions(
        folder=release,
        repo_id="org/tiny",
        endpoint=hub.endpoint,
        token="hf_test",
        backoff_s=0.01,
        **kw,
    )


def test_dry_run_lists_exactly_the_release_files(release, capsys):
    from mace4ir.cli import main

    assert (
        main(["release", "push", str(release), "--repo-id", "org/tiny", "--tag", "v1", "--dry-run"])
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    listed = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in out[1:]}
    assert listed == expected_files(release)
    assert f"would upload {len(listed)} files ({sum(listed.values()):,} bytes)" in out[0]
    assert "org/tiny" in out[0] and "tag v1" in out[0]


def test_push_is_one_commit_with_every_file_after_transient_errors(release):
    from mace4ir.release.push import push_release

    with FakeHub() as hub:
        hub.fail = [["POST", "/api/repos/create", 503, 2], ["POST", "/commit/", 502, 1]]
        result = push_release(opts(release, hub, tag="v1.0", revision="release-1"))
        assert hub.count("POST", "/api/repos/create") == 3  # two 503s retried
        assert hub.count("POST", "/commit/") == 2  # one 502 retried
        assert len([p for p in hub.commit_payloads if any(l["key"] == "file" for l in p)]) == 1
        pushed = hub.files("org/tiny", "release-1")
        assert {k: len(v) for k, v in pushed.items()} == expected_files(release)
        assert all(pushed[name] == (release / name).read_bytes() for name in pushed)
        assert hub.repos["org/tiny"]["refs"]["v1.0"] == result["commit"]
        assert hub.files("org/tiny", "main") == {}  # the branch, not main, got the release


@pytest.mark.parametrize(
    "status, message",
    [(401, "authentication failed.*HF_TOKEN"), (403, "permission denied.*write access")],
)
def test_auth_errors_are_not_retried(release, status, message):
    from mace4ir.errors import Mace4irError
    from mace4ir.release.push import push_release

    with FakeHub() as hub:
        hub.fail = [["POST", "/api/repos/create", status, 1], ["GET", "/api/models/", status, 1]]
        with pytest.raises(Mace4irError, match=message):
            push_release(opts(release, hub))
        assert hub.count("POST", "/api/repos/create") == 1
        assert hub.count("POST", "/commit/") == 0


def test_persistent_server_errors_give_up_after_the_retries(release):
    from mace4ir.errors import Mace4irError
    from mace4ir.release.push import push_release

    with FakeHub() as hub:
        hub.fail = [["POST", "/api/repos/create", 503, 100]]
        with pytest.raises(
            Mace4irError, match="create repo on org/tiny: still failing after 3 attempts"
        ):
            push_release(opts(release, hub, retries=2))
        assert hub.count("POST", "/api/repos/create") == 3


def test_push_refuses_corrupted_or_unevaluated_release(release, tmp_path):
    from mace4ir.errors import Mace4irError
    from mace4ir.release.push import PushOptions, push_release

    copy = Path(shutil.copytree(release, tmp_path / "copy"))
    config = json.loads((copy / "mace4ir_release.json").read_text())
    (copy / "mace4ir_release.json").write_text(
        json.dumps(dict(config, metrics={"ef": None, "dipole": None}))
    )
    with pytest.raises(Mace4irError, match="mace4ir_release.json.*does not match SHA256SUMS"):
        push_release(PushOptions(folder=copy, repo_id="org/tiny", dry_run=True))
    from mace4ir.checksums import write_checksums

    write_checksums(copy, [n for n in expected_files(release) if n != "SHA256SUMS"])
    with pytest.raises(
        Mace4irError, match="no test-set errors for ef, dipole.*--allow-missing-metrics"
    ):
        push_release(PushOptions(folder=copy, repo_id="org/tiny", dry_run=True))
    assert push_release(
        PushOptions(folder=copy, repo_id="org/tiny", dry_run=True, allow_missing_metrics=True)
    )["dry_run"]


def test_hub_round_trip_then_offline_load(release, release_run_predictions, tmp_path, monkeypatch):
    from huggingface_hub import snapshot_download

    import mace4ir
    from mace4ir.release.push import push_release

    cache = tmp_path / "cache"
    with FakeHub() as hub:
        commit = push_release(opts(release, hub))["commit"]
        path = snapshot_download("org/tiny", cache_dir=cache, endpoint=hub.endpoint, token=False)
        assert Path(path).name == commit
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the server is gone: load must come from the cache
    assert_same(predictions(mace4ir.load("org/tiny", cache_dir=cache)), release_run_predictions)
