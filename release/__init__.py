"""Stage 4: export, model card, push to the Hugging Face Hub.

``mace4ir.release.load`` (also ``mace4ir.load``) opens a release as one ASE calculator;
reading releases lives with the calculators (:mod:`mace4ir.evaluation.calculators.release`)
so that evaluation and fine-tuning need no later stage.
"""

from mace4ir.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "load": "evaluation.calculators.release",
        "export_release": "release.export",
        "ExportOptions": "release.export",
        "push_release": "release.push",
        "PushOptions": "release.push",
    },
)
__all__ = ["load", "export_release", "ExportOptions", "push_release", "PushOptions"]
