#!/usr/bin/env bash
# Set up (if needed) and run the test suite; CI runs exactly this.
#
#   bash tools/run_tests.sh [pytest arguments]     e.g. -m slow, -k emo
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash tools/setup_env.sh
exec "${MOBILEDENSE_VENV:-$root/.venv}/bin/python" -m pytest tests "$@"
