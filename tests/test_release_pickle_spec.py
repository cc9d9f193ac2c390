"""Reading a mace-torch model's spec off its modules (training/models/mace_pickles.py), for
models of the current mace-torch (the 0.3.10 files: test_mace_0_3_10.py,
test_release_multi_model.py)."""

from __future__ import annotations

import pytest
from untrained_models import untrained_pair


@pytest.fixture(scope="module")
def pair():
    return untrained_pair("ef_tiny", "dipole_tiny")


def test_spec_read_off_a_model_is_the_spec_it_was_built_from(pair):
    from mace4ir.training.models.mace_pickles import describe, spec_from_model

    ef, ef_spec, dipole, dipole_spec = pair
    assert spec_from_model(ef, "ef") == ef_spec
    assert spec_from_model(dipole, "dipole") == dipole_spec
    assert describe(dipole, "dipole")["kind"] == "dipole"
    assert describe(ef, "ef")["hidden_irreps"] == ef_spec["architecture"]["hidden_irreps"]


def test_models_a_spec_cannot_express_are_refused_by_name(pair, monkeypatch):
    import torch

    from mace4ir.errors import Mace4irError
    from mace4ir.training.models.mace_pickles import model_kind, spec_from_model

    ef = pair[0]
    monkeypatch.setattr(ef, "heads", ["pbe0", "xtb"])
    with pytest.raises(Mace4irError, match=r"ef: cannot convert a model with 2 heads"):
        spec_from_model(ef, "ef")
    with pytest.raises(Mace4irError, match="not a MACE energy or dipole model"):
        model_kind(torch.nn.Linear(2, 2), "x.model")
