#!/bin/bash
# Submit a benchmark suite as a Slurm array of N chunks plus a merge job that runs after all
# of them and writes $OUT/merged/report.md (tables, plots).
#
# Usage:  slurm/bench_submit.sh SUITE OUT N -- CALC_ARGS...
#   slurm/bench_submit.sh nist_md /scratch/$USER/bench_nist_md 20 -- --model /models/mace4ir-small
#   WORKERS=8 slurm/bench_submit.sh harmonic_classes /scratch/b_xtb 4 -- --calculator xtb
#   EXTRA_ARGS="--dataset tmqm=/data/tmQM" slurm/bench_submit.sh harmonic_classes out 4 -- --ef R1 --dipole R2
# Extra sbatch options (account, partition, GPUs): SBATCH_ARGS="--account=proj --partition=gpu --gpus-per-task=1"
# Merge against a reference run: MERGE_ARGS="--reference /scratch/b_xtb/merged"
set -euo pipefail
if [ $# -lt 4 ] || [ "$4" != "--" ]; then
    sed -n '2,13p' "$0"; exit 2
fi
SUITE=$1 OUT=$2 N=$3
shift 4
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT/logs"
export SUITE OUT CALC_ARGS="$*" WORKERS="${WORKERS:-1}" EXTRA_ARGS="${EXTRA_ARGS:-}"

# shellcheck disable=SC2086
array=$(sbatch --parsable ${SBATCH_ARGS:-} --array="1-$N" --output="$OUT/logs/chunk_%a.out" \
        --export=ALL "$HERE/bench_array.sh")
# afterany: the merge runs even if some chunks failed; their finished molecules are kept.
# shellcheck disable=SC2086
merge=$(sbatch --parsable ${SBATCH_ARGS:-} --dependency="afterany:${array%%;*}" --job-name=mace4ir-bench-merge \
        --ntasks=1 --cpus-per-task=1 --time=01:00:00 --output="$OUT/logs/merge.out" --export=ALL \
        --wrap="${MACE4IR:-mace4ir} bench-merge $OUT/chunk_* --out $OUT/merged ${MERGE_ARGS:-}")
echo "array job $array ($N chunks), merge job $merge -> $OUT/merged/report.md"
