"""The model card (README.md of a release) in Hugging Face conventions.

YAML front matter through ``huggingface_hub.ModelCardData`` (license, library_name,
tags, datasets); the body is built from the release config (``mace4ir_release.json``):
architecture, training data and filtering, Table-1-style test-set errors, benchmark
results, usage and citations.
"""

from __future__ import annotations

from huggingface_hub import ModelCard, ModelCardData

from mace4ir.training.models.release_layout import CHECKSUM_FILE, MODEL_STEMS, RELEASE_CONFIG

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


def usage_section(repo_id: str | None) -> str:
    target = repo_id or "path/to/this/folder"
    return f"""## How to use

```bash
pip install mace4ir            # or: pip install -e . in a checkout of the project
```

```python
import mace4ir
from mace4ir.evaluation import harmonic_ir
from mace4ir.molecules import load_molecule

calc = mace4ir.load("{target}")            # verifies {CHECKSUM_FILE}; no pickle is loaded
atoms = load_molecule("CCO")                # SMILES or any ASE-readable file
result = harmonic_ir(atoms, calc)           # optimise, Hessian, dipole derivatives
print(result.frequencies_cm1, result.intensities_km_mol)
atoms.calc = calc
print(atoms.get_potential_energy(), atoms.get_forces(), atoms.get_dipole_moment())
```

Units: positions Å, energy eV, forces eV/Å, dipole e·Å (not Debye), frequencies cm⁻¹,
intensities km/mol and (D/Å)²/amu. The models were trained on neutral closed-shell
(singlet) molecules; elements outside the element table raise an error.

From the command line (a local copy of this repository):

```bash
hf download {target} --local-dir mace4ir-model     # skip for a local folder
mace4ir ir harmonic "CCO" --ef mace4ir-model/{MODEL_STEMS["ef"]} --dipole mace4ir-model/{MODEL_STEMS["dipole"]}
mace4ir ir md "CCO" --ef mace4ir-model/{MODEL_STEMS["ef"]} --dipole mace4ir-model/{MODEL_STEMS["dipole"]} --replicas 3
```

Check the files without mace4ir: `sha256sum -c {CHECKSUM_FILE}`."""


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
        "A MACE-EF model (energy and forces, ScaleShiftMACE) and a MACE-D model (dipole moment, "
        "AtomicDipolesMACE) trained with the open mace4ir pipeline, the way the "
        "MACE4IR foundation model was built from the QCML dataset. Together they give harmonic and "
        "molecular-dynamics IR spectra.",
        models_section(config),
        data_section(config),
        metrics_section(config),
        benchmarks_section(config),
        usage_section(repo_id),
        "## Software\n\n" + ", ".join(f"{k} {v}" for k, v in config.get("software", {}).items()),
        "## Citation\n\nIf you use these models, please cite MACE4IR, the QCML dataset and "
        "MACE:\n\n" + CITATIONS,
    ]
    content = f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(s for s in sections if s) + "\n"
    return str(ModelCard(content))
