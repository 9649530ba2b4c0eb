#!/usr/bin/env bash
# Set up (if needed) and run the test suite; CI runs exactly this.
#
#   bash tools/run_tests.sh [pytest arguments]     e.g. -m slow, -k emo
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash tools/setup_env.sh
# One pytest worker per core (up to 4; pytest-xdist, each test file on one
# worker so that its module fixtures are made once), each computing on one
# thread. A serial run keeps about 1.2 of 2 cores busy (imports,
# converters, runners); on 2 cores this took the default run from 19 min
# 21 s to 12 min 42 s on a busy day. Two workers of 2 threads each gained
# nothing (docs/development.md). `-n 0` (given last) runs serially.
cores="$(nproc)"
workers=$(( cores < 4 ? cores : 4 ))
[ "$workers" -gt 1 ] || workers=0
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
exec "${MOBILEDENSE_VENV:-$root/.venv}/bin/python" -m pytest tests \
  -n "$workers" --dist loadfile "$@"
