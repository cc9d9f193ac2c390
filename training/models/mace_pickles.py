"""mace-torch ``.model`` pickles (any mace-torch version) read as this project's models.

A pickle holds the model object and no config. From its modules this reads the kind (EF or
dipole), the sizes (``mace4ir models``) and the model spec that
:func:`~mace4ir.training.models.build.build_model` rebuilds it from (``mace4ir release
import``). Older files (e.g. the MACE4IR paper's, written by mace-torch 0.3.10) lack
attributes that newer versions set: every read here defaults to how the older versions
behaved. What a spec cannot express (several heads, embedding readouts, cuEquivariance
layouts) is refused by name rather than approximated.
"""

from __future__ import annotations

import re

import mace.modules  # noqa: F401  (before e3nn, see training.models.build)
import numpy as np
import torch
from e3nn import o3
from mace import modules

from mace4ir.errors import Mace4irError
from mace4ir.training.models.build import build_model

# Buffers newer mace-torch computes at construction (which contraction orders have no
# coupling paths) and older pickles lack: the rebuilt model's own values are the right ones.
_DERIVED_BUFFER = re.compile(r"\.weights_(\d+|max)_zeroed$")
# Older dipole readouts gate with e3nn's nn.Gate, newer ones with mace-torch's
# GatedEquivariantBlock (same numbers); the Gate's elementwise product holds no weights.
_E3NN_GATE_CONSTANT = re.compile(r"\.equivariant_nonlin\.mul\.(weight|output_mask)$")

_RADIAL_TYPES = {
    "BesselBasis": "bessel",
    "GaussianBasis": "gaussian",
    "ChebychevBasis": "chebyshev",
}
_DISTANCE_TRANSFORMS = {"AgnesiTransform": "Agnesi", "SoftTransform": "Soft"}


def model_kind(model: torch.nn.Module, source) -> str:
    """``"dipole"`` for a dipole-only model (AtomicDipolesMACE), ``"ef"`` for an energy model
    (it has E0s); from the model itself, never from a file name."""
    name = type(model).__name__
    has_e0s = hasattr(model, "atomic_energies_fn")
    if "Dipole" in name and not has_e0s:
        return "dipole"
    if has_e0s and hasattr(model, "interactions"):
        return "ef"
    raise Mace4irError(f"{source}: not a MACE energy or dipole model (found {name})")


def precision(model: torch.nn.Module) -> str:
    return str(next(model.parameters()).dtype).removeprefix("torch.")


def hidden_irreps(model: torch.nn.Module) -> o3.Irreps:
    return o3.Irreps(model.products[0].linear.irreps_out)


def describe(model: torch.nn.Module, source) -> dict:
    """Kind, elements, size and precision of a loaded model (what ``mace4ir models`` lists)."""
    return {
        "kind": model_kind(model, source),
        "atomic_numbers": [int(z) for z in model.atomic_numbers.tolist()],
        "hidden_irreps": str(hidden_irreps(model)),
        "num_interactions": int(model.num_interactions),
        "precision": precision(model),
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
    }


def spec_from_model(model: torch.nn.Module, source) -> dict:
    """The model spec of a loaded mace-torch model; refuses models the spec cannot rebuild."""
    _refuse_unsupported(model, source)
    kind = model_kind(model, source)
    first = model.interactions[0]
    spec = {
        "kind": kind,
        "precision": precision(model),
        "architecture": _architecture(model, source),
        "atomic_numbers": [int(z) for z in model.atomic_numbers.tolist()],
        "avg_num_neighbors": float(first.avg_num_neighbors),
    }
    if kind == "ef":
        spec["atomic_energies"] = _numbers(model.atomic_energies_fn.atomic_energies)
        scale_shift = getattr(model, "scale_shift", None)  # plain MACE: scale 1, shift 0
        spec["scale"] = _scalar(scale_shift.scale, "scale", source) if scale_shift else 1.0
        spec["shift"] = _scalar(scale_shift.shift, "shift", source) if scale_shift else 0.0
    return spec


def rebuild(model: torch.nn.Module, source) -> tuple[torch.nn.Module, dict]:
    """(the model rebuilt from its spec with its weights, the spec), in eval mode."""
    spec = spec_from_model(model, source)
    rebuilt = build_model(spec)
    state = {k: v for k, v in model.state_dict().items() if not _gate_constant(k, v)}
    missing, unexpected = rebuilt.load_state_dict(state, strict=False)
    missing = [k for k in missing if not _DERIVED_BUFFER.search(k)]
    if missing or unexpected:
        raise Mace4irError(
            f"{source}: weights do not fit the model rebuilt from its spec (missing "
            f"{missing[:3]}, unexpected {unexpected[:3]})"
        )
    return rebuilt.eval(), spec


def _architecture(model: torch.nn.Module, source) -> dict:
    radial = model.radial_embedding
    first, last = model.interactions[0], model.interactions[-1]
    transform = getattr(radial, "distance_transform", None)
    return {
        "r_max": float(model.r_max),
        "num_bessel": int(radial.out_dim),
        "num_polynomial_cutoff": int(radial.cutoff_fn.p),
        "max_ell": int(model.spherical_harmonics.irreps_out.lmax),
        "num_interactions": int(model.num_interactions),
        "correlation": _correlation(model, source),
        "hidden_irreps": str(hidden_irreps(model)),
        "MLP_irreps": str(o3.Irreps(model.readouts[-1].hidden_irreps)),
        "radial_MLP": [int(h) for h in first.conv_tp_weights.hs[1:-1]],
        "interaction": _interaction_name(last, source),
        "interaction_first": _interaction_name(first, source),
        "gate": _gate_name(model.readouts[-1], source),
        # absent in older mace-torch: those versions behaved as these defaults
        "use_reduced_cg": bool(getattr(model, "use_reduced_cg", False)),
        "use_so3": bool(getattr(model, "use_so3", False)),
        "apply_cutoff": bool(getattr(radial, "apply_cutoff", True)),
        "pair_repulsion": hasattr(model, "pair_repulsion_fn"),
        "distance_transform": _named(transform, _DISTANCE_TRANSFORMS, "distance transform", source)
        if transform is not None
        else "None",
        "radial_type": _named(radial.bessel_fn, _RADIAL_TYPES, "radial basis", source),
        "use_agnostic_product": bool(getattr(model, "use_agnostic_product", False)),
        "use_last_readout_only": bool(getattr(model, "use_last_readout_only", False)),
        "use_embedding_readout": False,  # refused above when present
    }


def _refuse_unsupported(model: torch.nn.Module, source) -> None:
    heads = getattr(model, "heads", None) or ["default"]
    reasons = [
        f"{len(heads)} heads {heads} (select one with mace-torch's mace_select_head first)"
        if len(heads) > 1
        else "",
        "an embedding readout" if hasattr(model, "embedding_readout") else "",
        "cuEquivariance layout (convert back with mace-torch's mace_cueq_to_e3nn)"
        if getattr(getattr(model.interactions[0], "cueq_config", None), "enabled", False)
        else "",
    ]
    reasons = [r for r in reasons if r]
    if reasons:
        raise Mace4irError(f"{source}: cannot convert a model with {'; '.join(reasons)}")


def _correlation(model: torch.nn.Module, source) -> int:
    orders = {
        int(c.correlation) for p in model.products for c in p.symmetric_contractions.contractions
    }
    if len(orders) != 1:
        raise Mace4irError(f"{source}: per-layer correlation orders {sorted(orders)} not supported")
    return orders.pop()


def _interaction_name(block: torch.nn.Module, source) -> str:
    name = type(block).__name__
    if modules.interaction_classes.get(name) is not type(block):
        raise Mace4irError(f"{source}: unknown interaction block {name}")
    return name


def _gate_name(readout: torch.nn.Module, source) -> str:
    """The readout's activation, by identity with mace-torch's ``gate_dict`` (e3nn keeps the
    function as ``f`` of its normalising wrapper). A readout without one: any gate builds it."""
    found = {m.f for m in readout.modules() if callable(getattr(m, "f", None))}
    names = [n for n, f in modules.gate_dict.items() if f is not None and f in found]
    if not found:
        return "silu"
    if len(found) != 1 or not names:
        raise Mace4irError(f"{source}: readout activation {sorted(map(str, found))} not supported")
    return names[0]


def _named(module, table: dict, what: str, source) -> str:
    name = type(module).__name__
    if name not in table:
        raise Mace4irError(f"{source}: unknown {what} {name}")
    return table[name]


def _gate_constant(key: str, value: torch.Tensor) -> bool:
    """e3nn Gate's output mask, or its weight when empty (a non-empty one stays unexpected)."""
    return bool(_E3NN_GATE_CONSTANT.search(key)) and (
        key.endswith("output_mask") or value.numel() == 0
    )


def _numbers(tensor: torch.Tensor) -> list[float]:
    """Plain floats; float32 values by their shortest float32 repr (-13.6, not
    -13.600000381469727), which converts back to the same float32."""
    values = tensor.detach().cpu().reshape(-1).numpy()
    return [float(str(v)) if values.dtype == np.float32 else float(v) for v in values]


def _scalar(value, what: str, source) -> float:
    values = _numbers(torch.as_tensor(value))
    if len(values) != 1:
        raise Mace4irError(f"{source}: per-head {what} {values} not supported")
    return values[0]
