#!/usr/bin/env bash
# Training on a Slurm cluster through MMEngine's slurm launcher.
#
#   GPUS=16 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py args]
# GPUS (default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (extra).
set -euo pipefail
partition=$1
job_name=$2
config=$3
shift 3
gpus=${GPUS:-8}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${MOBILEDENSE_VENV:-$root/.venv}/bin/python"
exec srun -p "$partition" --job-name="$job_name" --gres=gpu:"${GPUS_PER_NODE:-8}" \
  --ntasks="$gpus" --ntasks-per-node="${GPUS_PER_NODE:-8}" \
  --cpus-per-task="${CPUS_PER_TASK:-5}" --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
  "$py" -u "$root/tools/train.py" "$config" --launcher slurm "$@"
