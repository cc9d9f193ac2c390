#!/bin/bash
# One chunk of a benchmark suite per Slurm array task (submit with slurm/bench_submit.sh).
#
# Environment (exported by bench_submit.sh, or set yourself):
#   SUITE      built-in suite name or suite YAML path      (e.g. nist_md)
#   OUT        output root; chunk I writes $OUT/chunk_I     (on a shared filesystem)
#   CALC_ARGS  what to evaluate: "--model /path/release", "--ef RUN_EF --dipole RUN_D",
#              or "--calculator xtb"
#   WORKERS    processes per task (default 1; for xtb use the task's CPUs)
#   EXTRA_ARGS more `mace4ir bench` options, e.g. "--kind both --device cuda --dataset tmqm=/data/tmQM"
#
# A task that hits its time limit loses only the molecule in progress: resubmitting the
# same array (same OUT) skips every finished molecule. Chunks are round robin over the suite
# order (--chunk I/N), so every chunk gets a mix of small and large molecules.
#SBATCH --job-name=mace4ir-bench
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
# For models on GPUs add e.g.:  #SBATCH --gpus-per-task=1   (and EXTRA_ARGS="--device cuda")
set -euo pipefail

: "${SUITE:?set SUITE (suite name or YAML path)}"
: "${OUT:?set OUT (output root folder)}"
: "${CALC_ARGS:?set CALC_ARGS (--model PATH | --ef RUN --dipole RUN | --calculator xtb)}"
: "${SLURM_ARRAY_TASK_ID:?run as a Slurm array job (sbatch --array=1-N)}"

N=${SLURM_ARRAY_TASK_COUNT:?}
I=$((SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-1} + 1))
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( ${SLURM_CPUS_PER_TASK:-1} / ${WORKERS:-1} ))}
[ "$OMP_NUM_THREADS" -ge 1 ] || OMP_NUM_THREADS=1

LAUNCH=()
if command -v srun >/dev/null 2>&1 && [ -n "${SLURM_JOB_ID:-}" ]; then LAUNCH=(srun --ntasks=1); fi

# shellcheck disable=SC2086  # CALC_ARGS / EXTRA_ARGS are option lists on purpose
${LAUNCH[@]+"${LAUNCH[@]}"} ${MACE4IR:-mace4ir} bench "$SUITE" $CALC_ARGS --chunk "$I/$N" --out "$OUT/chunk_$I" \
    --workers "${WORKERS:-1}" --no-report ${EXTRA_ARGS:-}
