"""A faster message aggregation for mace-torch's interaction blocks, used inside our engine only.

mace-torch sums edge messages onto atoms with ``Tensor.scatter_add_`` over an index
broadcast to the full feature shape. On CPU, and above all under ``torch.vmap`` in the
batched double backward of a Hessian, ``index_add_`` along the atom axis gives the
same sums about 2x faster. ``fast_scatter()`` swaps the function mace's blocks call for
the duration of a with-block and restores it afterwards; if a mace-torch version has
no such module-level function, nothing is changed.
"""

from __future__ import annotations

import contextlib
import threading

import torch

_lock = threading.RLock()


def index_add_scatter_sum(
    src: torch.Tensor,
    index: torch.Tensor,
    dim: int = -1,
    out=None,
    dim_size=None,
    reduce: str = "sum",
) -> torch.Tensor:
    """Drop-in for mace.tools.scatter.scatter_sum along dim 0 (the only way mace's blocks call
    it)."""
    if dim != 0 or out is not None or reduce != "sum" or index.dim() != 1:
        from mace.tools.scatter import scatter_sum

        return scatter_sum(src, index, dim=dim, out=out, dim_size=dim_size, reduce=reduce)
    size = list(src.shape)
    size[0] = (
        int(dim_size) if dim_size is not None else (int(index.max()) + 1 if index.numel() else 0)
    )
    return torch.zeros(size, dtype=src.dtype, device=src.device).index_add_(0, index, src)


@contextlib.contextmanager
def fast_scatter():
    from mace.modules import blocks

    original = getattr(blocks, "scatter_sum", None)
    if original is None:
        yield
        return
    with _lock:
        blocks.scatter_sum = index_add_scatter_sum
        try:
            yield
        finally:
            blocks.scatter_sum = original
