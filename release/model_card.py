"""The model card (README.md of a release) in Hugging Face conventions.

YAML front matter through ``huggingface_hub.ModelCardData`` (license, library_name,
tags, datasets); the body is built from the release config (``mace4ir_release.json``):
architecture, training data and filtering, Table-1-style test-set errors, benchmark
results, usage and citations.
"""

from __future__ import annotations

from huggingface_hub import ModelCard, ModelCardData

from mace4ir.training.models.release_layout import CHECKSUM_FILE, RELEASE_CONFIG

TAGS = [
    "mace",
    "mace-torch",
    "mace4ir",
    "interatomic-potential",
    "machine-learning-potential",
    "infrared-spectroscopy",
    "ir-spectra",
    "dipole-moment",
    "chemistry",
    "molecules",
    "equivariant",
    "safetensors",
]

# Paper (MACE4IR, Table 1) small/float32 on the 10M QCML training set, for context.
PAPER_ROW = ("MACE4IR paper, EF small / float32 + D, 10M QCML", "3.3", "44.4", "23.3")

CITATIONS = """```bibtex
@article{bhatia_mace4ir,
  title   = {MACE4IR: A foundation model for molecular infrared spectroscopy},
  author  = {Bhatia, Nitik and Krej{\\v{c}}{\\'\\i}, Ond{\\v{r}}ej and Botti, Silvana and Rinke, Patrick and Marques, Miguel A. L.},
  journal = {arXiv preprint},
  year    = {2025}
}
@article{ganscha_qcml,
  title   = {The QCML dataset, Quantum chemistry reference data from 33.5M DFT and 14.7B semi-empirical calculations},
  author  = {Ganscha, Stefan and Unke, Oliver T. and Ahlin, Daniel and Maennel, Hartmut and Kashubin, Sergii and M{\\"u}ller, Klaus-Robert},
  journal = {Scientific Data},
  volume  = {12},
  pages   = {406},
  year    = {2025}
}
@inproceedings{batatia_mace,
  title     = {MACE: Higher Order Equivariant Message Passing Neural Networks for Fast and Accurate Force Fields},
  author    = {Batatia, Ilyes and Kov{\\'a}cs, D{\\'a}vid P{\\'e}ter and Simm, Gregor N. C. and Ortner, Christoph and Cs{\\'a}nyi, G{\\'a}bor},
  booktitle = {Advances in Neural Information Processing Systems},
  year      = {2022}
}
```"""

XTB_CITATION = """GFN2-xTB reference labels: C. Bannwarth, S. Ehlert, S. Grimme,
*J. Chem. Theory Comput.* 15, 1652 (2019)."""


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def models_section(config: dict) -> str:
    rows = []
    for kind, m in config["models"].items():
        arch = m["architecture"]
        rows.append(
            [
                {"ef": "MACE-EF (energy, forces)", "dipole": "MACE-D (dipole)"}[kind],
                arch["hidden_irreps"],
                arch["max_ell"],
                arch["num_interactions"],
                arch["correlation"],
                f"{arch['r_max']} Å",
                m["precision"],
                f"{m['n_parameters']:,}",
                m.get("torchscript", "not exported"),
            ]
        )
    elements = " ".join(config["models"]["ef"]["elements"])
    return "\n\n".join(
        [
            "## Models",
            table(
                [
                    "model",
                    "hidden irreps",
                    "max ℓ",
                    "layers",
                    "body order",
                    "r_max",
                    "precision",
                    "parameters",
                    "TorchScript",
                ],
                rows,
            ),
            f"Elements ({len(config['models']['ef']['elements'])}): {elements}",
            "Architecture (mace-torch constructor arguments), element table, E0s (eV), "
            f"average neighbour count and scale/shift are in `{RELEASE_CONFIG}` and in the "
            f"`*.json` "
            "spec next to each `*.safetensors` weight file.",
        ]
    )


def data_section(config: dict) -> str:
    data = config.get("training_data")
    if not data and config.get("source"):
        return f"## Training data\n\nSee the source, {config['source']['repo']}."
    if not data:
        return "## Training data\n\nNot recorded at export (no prepared-data manifest was given)."
    src = data.get("source") or {}
    if isinstance(src, str):
        source = src
    else:
        source = src.get("description") or ", ".join(f"{k}: {v}" for k, v in src.items())
        if src.get("level_of_theory") and src["level_of_theory"] not in source:
            source += f" Level of theory: {src['level_of_theory']}."
    splits = data.get("splits", {})
    rejected = data.get("rejected", {})
    parts = [
        "## Training data",
        f"Source: {source.rstrip('.') or 'unknown'}. Energy field: "
        f"`{data.get('energy_field', '?')}`; "
        f"split by {data.get('split_by', 'conformer')}, seed {data.get('seed', '?')}.",
        "Filtering as in the MACE4IR paper: neutral (charge 0) singlet (multiplicity 1) "
        "structures, "
        "QCML outliers removed, invalid/corrupt records rejected. Rejected counts: "
        + (", ".join(f"{k} {v:,}" for k, v in rejected.items()) or "none recorded")
        + ".",
        table(
            ["split", "structures"],
            [[k, f"{v:,}" if isinstance(v, int) else v] for k, v in splits.items()],
        ),
    ]
    if data.get("subsets"):
        parts.append(
            "Nested training subsets: " + ", ".join(f"{int(k):,}" for k in data["subsets"]) + "."
        )
    if "xtb" in str(src).lower() or "gfn" in str(src).lower():
        parts.append(
            "**These labels are GFN2-xTB, not the QCML PBE0 data**: the model demonstrates the "
            "pipeline and is not meant for production spectra. " + XTB_CITATION
        )
    return "\n\n".join(parts)


def metrics_section(config: dict) -> str:
    m = config.get("metrics") or {}
    ef, dip = m.get("ef") or {}, m.get("dipole") or {}
    if not ef and not dip and config.get("source"):
        return (
            "## Test-set errors\n\nNot evaluated by mace4ir: the models were imported; the "
            f"source, {config['source']['repo']}, reports its own."
        )
    if not ef and not dip:
        return "## Test-set errors\n\nNot evaluated (exported with `--allow-missing-metrics`)."
    n_train = (config.get("training_data") or {}).get("splits", {}).get("train")
    rows = [
        [
            f"this release ({n_train:,} training structures)"
            if isinstance(n_train, int)
            else "this release",
            ef.get("energy_mae_mev_atom"),
            ef.get("forces_mae_mev_A"),
            dip.get("dipole_mae_meA"),
        ],
        [
            "this release, RMSE",
            ef.get("energy_rmse_mev_atom"),
            ef.get("forces_rmse_mev_A"),
            dip.get("dipole_rmse_meA"),
        ],
        list(PAPER_ROW),
    ]
    n_test = ef.get("n_structures") or dip.get("n_structures")
    return "\n\n".join(
        [
            "## Test-set errors",
            f"Mean absolute errors on the held-out test split ({n_test or '?'} structures), as in "
            f"Table 1 of the MACE4IR paper.",
            table(["model", "E MAE (meV/atom)", "F MAE (meV/Å)", "μ MAE (meÅ)"], rows),
        ]
    )


def _rows_of(results) -> tuple[list[str], list[list]] | None:
    if isinstance(results, list) and results and all(isinstance(r, dict) for r in results):
        header = list(dict.fromkeys(k for r in results for k in r))
        return header, [[r.get(k) for k in header] for r in results]
    if isinstance(results, dict):
        flat = {k: v for k, v in results.items() if isinstance(v, (int, float, str))}
        if flat:
            return ["metric", "value"], [[k, v] for k, v in flat.items()]
    return None


def benchmarks_section(config: dict) -> str:
    benches = config.get("benchmarks") or []
    if isinstance(benches, dict):
        benches = [benches]
    parts = []
    for bench in benches:
        results = bench["results"]
        if isinstance(results, dict) and "rows" in results:
            results = results["rows"]
        shaped = _rows_of(results)
        body = table(*shaped) if shaped else f"See `{RELEASE_CONFIG}` (key `benchmarks`)."
        parts.append(f"### {bench['source']}\n\n{body}")
    return "## Benchmark results\n\n" + "\n\n".join(parts) if parts else ""


def usage_section(repo_id: str | None, config: dict | None = None) -> str:
    target = repo_id or "path/to/this/folder"
    source = (config or {}).get("source") or {}
    original = source.get("repo", "")
    originals = (
        f"""

The original files ({source.get("format", "pickles")}) load the same way, unpickled, where you trust them:
`mace4ir models {original} --trust-pickle` lists them, and
`mace4ir.load("{original}", trust_pickle=True, ef="FILE.model", dipole="FILE.model")` picks a
pair (by default the smallest float32 EF model and the only dipole model)."""
        if "/" in original
        else ""
    )
    return f"""## How to use

```bash
pip install mace4ir            # or: pip install -e . in a checkout of the project
```

From the Hub id to a spectrum:

```python
import mace4ir
from mace4ir.evaluation import harmonic_ir, load_molecule

calc = mace4ir.load("{target}")                 # verifies {CHECKSUM_FILE}; no pickle is loaded
result = harmonic_ir(load_molecule("CCO"), calc)  # SMILES or any ASE-readable file: optimise, Hessian, intensities
wavenumbers, absorbance = result.spectrum(fwhm=20)  # cm⁻¹, km/mol per cm⁻¹ (modes: result.frequencies_cm1, result.intensities_km_mol)
```

`calc` is an ASE calculator: `atoms.calc = calc` gives `atoms.get_potential_energy()`,
`get_forces()` and `get_dipole_moment()`.

Units: positions Å, energy eV, forces eV/Å, dipole e·Å (not Debye), frequencies cm⁻¹,
intensities km/mol and (D/Å)²/amu. The models were trained on neutral closed-shell
(singlet) molecules; elements outside the element table raise an error.{originals}

From the command line:

```bash
mace4ir models {target}                                  # what this repository holds
mace4ir ir harmonic "CCO" --model {target} --out ir_ethanol
mace4ir ir md "CCO" --model {target} --replicas 3 --out md_ethanol
```

Check the files without mace4ir: `sha256sum -c {CHECKSUM_FILE}`."""


def source_section(config: dict) -> str:
    """Where an imported release came from (``mace4ir release import``)."""
    source = config.get("source")
    if not source:
        return ""
    rows = [
        [
            {"ef": "MACE-EF", "dipole": "MACE-D"}[kind],
            f"`{m['source_file']}`",
            f"`{m['source_sha256']}`",
            m.get("mace_torch", "unknown"),
        ]
        for kind, m in config["models"].items()
    ]
    check = source.get("check") or {}
    revision = f" (revision {source['revision']})" if source.get("revision") else ""
    return "\n\n".join(
        [
            "## Source",
            f"Converted by `mace4ir release import` from the {source['format']} of "
            f"{source['repo']}{revision}: each model was rebuilt from the architecture read off "
            "its modules, given the pickle's weights, and written as safetensors + JSON spec. "
            "Loading this release unpickles nothing.",
            table(["model", "source file", "SHA-256", "written by mace-torch"], rows),
            "Before writing, the rebuilt models gave the pickles' numbers on "
            f"{check.get('n_probes', '?')} probe structures covering every element: max "
            f"difference {check.get('energy_eV', float('nan')):.2g} eV (energy), "
            f"{check.get('forces_eV_A', float('nan')):.2g} eV/Å (forces), "
            f"{check.get('dipole_eA', float('nan')):.2g} e·Å (dipole).",
        ]
    )


def intro(config: dict) -> str:
    if config.get("source"):
        return (
            "A MACE-EF model (energy and forces, ScaleShiftMACE) and a MACE-D model (dipole "
            f"moment, AtomicDipolesMACE) from {config['source']['repo']}, converted to the "
            "mace4ir release format (safetensors + JSON spec, no pickles). Together they give "
            "harmonic and molecular-dynamics IR spectra."
        )
    return (
        "A MACE-EF model (energy and forces, ScaleShiftMACE) and a MACE-D model (dipole moment, "
        "AtomicDipolesMACE) trained with the open mace4ir pipeline, the way the "
        "MACE4IR foundation model was built from the QCML dataset. Together they give harmonic "
        "and molecular-dynamics IR spectra."
    )


def render_model_card(
    config: dict, repo_id: str | None = None, dataset_ids: list[str] | None = None
) -> str:
    data = ModelCardData(
        license=config.get("license", "mit"),
        library_name="mace4ir",
        tags=TAGS,
        datasets=dataset_ids or None,
        model_name=config.get("model_name"),
    )
    title = config.get("model_name", "mace4ir")
    sections = [
        f"# {title}: MACE models for molecular infrared spectroscopy",
        intro(config),
        models_section(config),
        source_section(config),
        data_section(config),
        metrics_section(config),
        benchmarks_section(config),
        usage_section(repo_id, config),
        "## Software\n\n" + ", ".join(f"{k} {v}" for k, v in config.get("software", {}).items()),
        "## Citation\n\nIf you use these models, please cite MACE4IR, the QCML dataset and "
        "MACE:\n\n" + CITATIONS,
    ]
    content = f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(s for s in sections if s) + "\n"
    return str(ModelCard(content))
