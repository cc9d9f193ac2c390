#!/usr/bin/env bash
# Prepare the full QCML on a Slurm cluster: two job arrays and one merge job.
#
#   slurm/prep_array.sh SOURCE OUT [extra `mace4ir prep` flags...]
#
# submits (OUT must be on a file system all nodes share):
#   1. hash job: mace4ir prep --stage hash (SHA-256 of every input shard, the input's
#      fingerprint, kept in OUT: the array tasks then do not each read the whole input)
#   2. scan  array, N_SCAN tasks:  mace4ir prep --stage scan  --part $SLURM_ARRAY_TASK_ID/N_SCAN
#      (each task reads, filters and stages every N_SCAN-th input TFRecord shard)
#   3. write array, N_WRITE tasks: mace4ir prep --stage write --part $SLURM_ARRAY_TASK_ID/N_WRITE
#      (each task writes every N_WRITE-th output shard; starts when all scans succeeded)
#   4. merge job: mace4ir prep (finishes anything left, merges statistics, writes manifest.json)
# Slurm logs go to LOGS (default OUT.slurm-logs): prep refuses an OUT holding files it did
# not write.
#
# Every task is resumable: resubmitting the same script after a failure or preemption
# redoes only unfinished shards, and the output is byte-identical to a single-node run.
# Tune with environment variables: N_SCAN (default 16), N_WRITE (default 16),
# CPUS (cores per task, default 32), PARTITION, ACCOUNT, TIME_SCAN, TIME_WRITE, VENV.
set -euo pipefail
if [[ $# -lt 2 ]]; then
    sed -n '2,23p' "$0"; exit 1
fi
SOURCE=$1 OUT=$2; shift 2
EXTRA=("$@")
N_SCAN=${N_SCAN:-16} N_WRITE=${N_WRITE:-16} CPUS=${CPUS:-32}
TIME_SCAN=${TIME_SCAN:-01:00:00} TIME_WRITE=${TIME_WRITE:-01:00:00}
VENV=${VENV:-$(pwd)/.venv}
LOGS=${LOGS:-${OUT%/}.slurm-logs}
COMMON=(--cpus-per-task="$CPUS" --nodes=1 --ntasks=1 --output="$LOGS/slurm-%x-%A_%a.log")
[[ -n ${PARTITION:-} ]] && COMMON+=(--partition="$PARTITION")
[[ -n ${ACCOUNT:-} ]] && COMMON+=(--account="$ACCOUNT")
mkdir -p "$LOGS"

PREP="source '$VENV/bin/activate'; export OMP_NUM_THREADS=1; mace4ir prep --source '$SOURCE' --out '$OUT' --workers $CPUS --no-progress ${EXTRA[*]:-}"

hash=$(sbatch --parsable "${COMMON[@]/--output=*/--output=$LOGS/slurm-%x-%j.log}" --job-name=prep-hash \
    --time="$TIME_SCAN" --wrap "$PREP --stage hash")
scan=$(sbatch --parsable "${COMMON[@]}" --job-name=prep-scan --time="$TIME_SCAN" --array=0-$((N_SCAN - 1)) \
    --dependency=afterok:"$hash" --wrap "$PREP --stage scan --part \$SLURM_ARRAY_TASK_ID/$N_SCAN")
write=$(sbatch --parsable "${COMMON[@]}" --job-name=prep-write --time="$TIME_WRITE" --array=0-$((N_WRITE - 1)) \
    --dependency=afterok:"$scan" --wrap "$PREP --stage write --part \$SLURM_ARRAY_TASK_ID/$N_WRITE")
merge=$(sbatch --parsable "${COMMON[@]/--output=*/--output=$LOGS/slurm-%x-%j.log}" --job-name=prep-merge \
    --time=01:00:00 --dependency=afterok:"$write" --wrap "$PREP && mace4ir prep verify '$OUT'")
echo "submitted hash job $hash, scan array $scan, write array $write, merge job $merge"
echo "output: $OUT/manifest.json when done; resubmit this script to resume after a failure"
