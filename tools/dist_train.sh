#!/usr/bin/env bash
# Multi-GPU / multi-node training with torchrun and MMEngine's launcher.
#
#   bash tools/dist_train.sh CONFIG GPUS [tools/train.py arguments]
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash tools/dist_train.sh ...
set -euo pipefail
config=$1
gpus=$2
shift 2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${MOBILEDENSE_VENV:-$root/.venv}/bin/python"
exec "$py" -m torch.distributed.run \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
  --nproc_per_node="$gpus" \
  "$root/tools/train.py" "$config" --launcher pytorch "$@"
