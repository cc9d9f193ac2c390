"""A model's element table extended for new data (or cut to it), with mace-torch's own transfer.

``mace.tools.finetuning_utils.load_foundations_elements`` copies a foundation model's
weights into a model built for another element table, picking each per-element weight
row by the element it lists. Listing, for an element the foundation never saw, a
*donor* it did see (the chemically closest: same group first, then nearest atomic
number) starts the new element from its donor's weights; fine-tuning then adapts it.
E0s are set here, not by the transfer (see :mod:`.energies` for the refit).
"""

from __future__ import annotations

import contextlib
import copy
import logging

import torch
from ase.data import chemical_symbols

from mace4ir.training.models.build import build_model

log = logging.getLogger(__name__)

# Periodic-table groups (1-18) of the main-group elements and 3d/4d metals a donor can come from.
_GROUP = {
    **dict.fromkeys((1, 3, 11, 19, 37, 55), 1),
    **dict.fromkeys((4, 12, 20, 38, 56), 2),
    **dict.fromkeys((5, 13, 31, 49, 81), 13),
    **dict.fromkeys((6, 14, 32, 50, 82), 14),
    **dict.fromkeys((7, 15, 33, 51, 83), 15),
    **dict.fromkeys((8, 16, 34, 52, 84), 16),
    **dict.fromkeys((9, 17, 35, 53, 85), 17),
    **dict.fromkeys((2, 10, 18, 36, 54, 86), 18),
}


def donor(z: int, known: list[int]) -> int:
    """The known element whose weights initialise the new element ``z``."""
    same_group = [k for k in known if _GROUP.get(k) is not None and _GROUP.get(k) == _GROUP.get(z)]
    pool = same_group or known
    return min(pool, key=lambda k: (abs(k - z), k))


def table_spec(spec: dict, table: list[int]) -> tuple[dict, list[int]]:
    """(spec for the element table ``table``, donor of every table entry)."""
    known = list(spec["atomic_numbers"])
    donors = [z if z in known else donor(z, known) for z in table]
    out = copy.deepcopy(spec)
    out["atomic_numbers"] = list(table)
    if "atomic_energies" in spec:
        e0 = dict(zip(known, spec["atomic_energies"]))
        out["atomic_energies"] = [float(e0[d]) for d in donors]
    return out, donors


def with_element_table(model: torch.nn.Module, spec: dict, table) -> tuple[torch.nn.Module, dict]:
    """The model (and spec) for the element table ``table``: new elements start from their
    donors, elements left out are dropped (a smaller table is a cheaper model: mace-torch's
    contractions cost in proportion to it). Unchanged if the table is the same."""
    from mace.tools.finetuning_utils import load_foundations_elements
    from mace.tools.utils import AtomicNumberTable

    table = sorted({int(z) for z in table})
    if table == list(spec["atomic_numbers"]):
        return model, spec
    new_spec, donors = table_spec(spec, table)
    for z, d in zip(table, donors):
        if z != d:
            log.info(
                "new element %s starts from the weights of %s",
                chemical_symbols[z],
                chemical_symbols[d],
            )
    target = build_model(new_spec)
    max_l = max(ir.l for _, ir in _hidden_irreps(spec))
    with _as_mace_expects(target), _as_mace_expects(model):
        load_foundations_elements(
            target, model, AtomicNumberTable(donors), load_readout=True, max_L=max_l
        )
    _set_e0s(target, new_spec)
    return target.eval(), new_spec


def extend_elements(model: torch.nn.Module, spec: dict, elements) -> tuple[torch.nn.Module, dict]:
    """The model (and spec) with every element of ``elements`` added to its table."""
    return with_element_table(model, spec, set(spec["atomic_numbers"]) | {int(z) for z in elements})


def _hidden_irreps(spec: dict):
    from e3nn import o3

    return o3.Irreps(spec["architecture"]["hidden_irreps"])


@contextlib.contextmanager
def _as_mace_expects(model: torch.nn.Module):
    """The transfer reads ``heads`` and ``scale_shift``, which energy models have and
    mace-torch's AtomicDipolesMACE lacks: lend a dipole model neutral ones for the call."""
    lent = []
    for name, value in (("heads", ["Default"]), ("scale_shift", None)):
        if not hasattr(model, name):
            setattr(model, name, value)
            lent.append(name)
    try:
        yield
    finally:
        for name in lent:
            delattr(model, name)


def _set_e0s(model: torch.nn.Module, spec: dict) -> None:
    """The transfer copies every same-shaped buffer, E0s included when the table size happens to
    match: write the spec's E0s explicitly."""
    if "atomic_energies" not in spec:
        return
    buf = model.atomic_energies_fn.atomic_energies
    values = torch.as_tensor(spec["atomic_energies"], dtype=buf.dtype, device=buf.device)
    buf.copy_(values.reshape(buf.shape))
