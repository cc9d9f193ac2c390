"""Stage 4: export, model card, push to and load from the Hugging Face Hub, and the demo.

``mace4ir.release.load`` (also ``mace4ir.load``) returns a released model pair as one
ASE calculator; heavy imports happen on the first call.
"""


def load(repo_id_or_path, revision=None, trust_pickle=False, device="cpu", **kwargs):
    """See :func:`mace4ir.release.loader.load`."""
    from mace4ir.release.loader import load as _load

    return _load(repo_id_or_path, revision=revision, trust_pickle=trust_pickle, device=device, **kwargs)
