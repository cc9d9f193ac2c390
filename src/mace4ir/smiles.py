"""3-D structures from SMILES with RDKit (ETKDG embedding, then MMFF94 or UFF).

One embedder for the whole project: the sample generator uses it for its molecules'
starting geometries, the IR engine for molecules given as SMILES.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from mace4ir.errors import Mace4irError


def embed_smiles(smiles: str, seed: int = 0, max_iters: int = 2000) -> Atoms:
    """Atoms of ``smiles`` (hydrogens added); ``info`` holds smiles, charge and multiplicity."""
    try:
        from rdkit import Chem, RDLogger
        from rdkit.Chem import AllChem
    except ImportError as exc:
        raise Mace4irError(
            f"SMILES input needs RDKit (pip install 'mace4ir[chem]'): {exc}"
        ) from None
    RDLogger.DisableLog("rdApp.*")  # UFF typer warnings for metals are expected
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise Mace4irError(f"{smiles!r}: neither an existing file nor a valid SMILES string")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(mol, params) != 0:
        params.useRandomCoords = True  # ETKDG fails on some cages and metal centres
        if AllChem.EmbedMolecule(mol, params) != 0:
            raise Mace4irError(f"{smiles!r}: RDKit could not embed a 3-D structure")
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol, maxIters=max_iters)
    elif AllChem.UFFHasAllMoleculeParams(mol):
        AllChem.UFFOptimizeMolecule(mol, maxIters=max_iters)
    atoms = Atoms(
        [a.GetAtomicNum() for a in mol.GetAtoms()],
        positions=np.asarray(mol.GetConformer().GetPositions()),
    )
    radicals = sum(a.GetNumRadicalElectrons() for a in mol.GetAtoms())
    atoms.info.update(smiles=smiles, charge=Chem.GetFormalCharge(mol), multiplicity=radicals + 1)
    return atoms
