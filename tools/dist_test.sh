#!/usr/bin/env bash
# Multi-GPU / multi-node evaluation with torchrun and MMEngine's launcher.
#
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py arguments]
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash tools/dist_test.sh ...
set -euo pipefail
config=$1
checkpoint=$2
gpus=$3
shift 3
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${MOBILEDENSE_VENV:-$root/.venv}/bin/python"
exec "$py" -m torch.distributed.run \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
  --nproc_per_node="$gpus" \
  "$root/tools/test.py" "$config" "$checkpoint" --launcher pytorch "$@"
