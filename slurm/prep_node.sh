#!/usr/bin/env bash
#SBATCH --job-name=mace4ir-prep
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=32
#SBATCH --time=02:00:00
#SBATCH --output=prep-%j.log
# Prepare the full QCML on one node (projected < 30 min on 32 cores, see
# benchmarks/prep_throughput.py). Resubmit the same job to resume after a kill.
#
#   sbatch slurm/prep_node.sh /data/tfds /scratch/$USER/qcml_prepared [extra prep flags]
set -euo pipefail
SOURCE=${1:?usage: sbatch slurm/prep_node.sh SOURCE OUT [flags]} OUT=${2:?OUT missing}; shift 2
source "${VENV:-$(pwd)/.venv}/bin/activate"
export OMP_NUM_THREADS=1
mace4ir prep --source "$SOURCE" --out "$OUT" --workers "${SLURM_CPUS_PER_TASK:-32}" --no-progress "$@"
mace4ir prep verify "$OUT"
