#!/usr/bin/env bash
# Create or update the project's virtual environment with the pinned stack.
#
#   bash tools/setup_env.sh
#
# Called by tools/run_demo.sh and tools/run_tests.sh; safe to run again: when
# requirements/ and this script are unchanged and the environment imports,
# it returns at once.
#
# Environment variables:
#   PYTHON            interpreter for the venv (default: python3.11, python3)
#   MOBILEDENSE_VENV  venv directory (default: <repo>/.venv)
#   TORCH_INDEX_URL   index for torch, e.g. https://download.pytorch.org/whl/cpu
#   MMCV_WHEEL_DIR    directory with a prebuilt mmcv 2.1.0 wheel
#                     (<repo>/../shared/wheels is used when it exists)
#   MAX_JOBS          parallel compile jobs for the mmcv build (default: nproc)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MOBILEDENSE_VENV:-$root/.venv}"
stamp="$venv/.mobiledense-env"
say() { echo "[setup] $*"; }
die() { echo "[setup] error: $*" >&2; exit 1; }

wanted="$(cat "$root"/requirements/*.txt "$root/tools/setup_env.sh" |
          sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] &&
   "$venv/bin/python" -c 'import backbones, mmcv.ops, mmdet, mmseg' \
       >/dev/null 2>&1; then
  say "environment $venv is up to date"
  exit 0
fi

# --- interpreter and venv ---------------------------------------------------
if [ ! -x "$venv/bin/python" ]; then
  python="${PYTHON:-$(command -v python3.11 || command -v python3 || true)}"
  [ -n "$python" ] || die "no python3 found; set PYTHON=/path/to/python3.11"
  "$python" - <<'EOF' || die "Python 3.9-3.12 is needed (mmcv 2.1.0, torch 2.13)"
import sys
sys.exit(not (3, 9) <= sys.version_info[:2] <= (3, 12))
EOF
  say "creating virtual environment $venv with $("$python" --version)"
  "$python" -m venv "$venv"
fi
py="$venv/bin/python"
pip=("$py" -m pip --disable-pip-version-check)

# --- build tools and torch --------------------------------------------------
# setuptools must be >= 77 for torch and < 81 so that pkg_resources (used by
# mmcv's setup.py and by mmengine's `mmdet::` config bases) still exists.
say "installing build tools"
"${pip[@]}" install -q -r "$root/requirements/build.txt"
torch_pin="$(grep -E '^torch==' "$root/requirements/lock.txt")"
say "installing $torch_pin"
"${pip[@]}" install -q ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} \
  "$torch_pin"

# --- everything else, exactly as tested -------------------------------------
# The lock is a complete freeze of the tested environment, so it goes in
# without dependency resolution (nothing can pull another torch or a
# torchvision).  mmcv comes after it: its checks import numpy and friends.
mmcv_pin="$(grep -E '^mmcv==' "$root/requirements/lock.txt")"
say "installing the pinned stack (requirements/lock.txt)"
grep -vE '^(mmcv|torch)==' "$root/requirements/lock.txt" \
  >"$venv/lock-without-torch-mmcv.txt"
"${pip[@]}" install -q --no-deps -r "$venv/lock-without-torch-mmcv.txt"

# --- mmcv 2.1.0 with compiled ops -------------------------------------------
# PyPI has only the source of mmcv 2.1.0 (mmdet 3.3 / mmseg 1.2 refuse
# mmcv >= 2.2).  Use a prebuilt wheel when one fits this torch and Python,
# else build it; pip caches the built wheel, so this happens once a machine.
if "$py" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '${mmcv_pin#mmcv==}')" \
    >/dev/null 2>&1; then
  say "$mmcv_pin with ops already installed"
else
  find_links=()
  for dir in "${MMCV_WHEEL_DIR:-}" "$root/../shared/wheels"; do
    [ -n "$dir" ] && [ -d "$dir" ] && find_links+=(--find-links "$dir")
  done
  if [ ${#find_links[@]} -gt 0 ] &&
     "${pip[@]}" install -q --no-deps --only-binary mmcv "${find_links[@]}" \
         "$mmcv_pin" >/dev/null 2>&1 &&
     "$py" -c 'import mmcv.ops' >/dev/null 2>&1; then
    say "installed $mmcv_pin from a prebuilt wheel (${find_links[*]})"
  else
    jobs="${MAX_JOBS:-$(nproc)}"
    log="$venv/mmcv-build.log"
    say "building $mmcv_pin with CPU ops (MAX_JOBS=$jobs), or taking the"
    say "wheel pip cached from an earlier build. A build takes 15-50 minutes"
    say "on 2 cores, once per machine. Full log: $log"
    MMCV_WITH_OPS=1 MAX_JOBS="$jobs" "${pip[@]}" install -v --no-deps \
      --no-build-isolation "$mmcv_pin" >"$log" 2>&1 &
    build=$!
    start=$(date +%s)
    while kill -0 "$build" 2>/dev/null; do
      sleep 30
      # ninja prints "[done/total]" per compiled file.
      step="$(grep -oE '\[[0-9]+/[0-9]+\]' "$log" | tail -n 1 || true)"
      say "mmcv build running: $(( ($(date +%s) - start) / 60 )) min," \
          "compiled ${step:-(preparing)}"
    done
    wait "$build" || die "mmcv build failed; see $log"
    "$py" -c 'import mmcv.ops' || die "mmcv installed without ops; see $log"
    say "mmcv ready after $(( ($(date +%s) - start) / 60 )) min"
  fi
fi
"${pip[@]}" install -q --no-deps --no-build-isolation -e "$root"

# openvino (at every import and conversion) and nncf send usage data to
# Intel through openvino-telemetry unless the user has opted out; the lock
# leaves it out, and without it both use their own stubs. An environment
# made before that still has it.
if "$py" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("openvino_telemetry") is None)'; then
  say "removing openvino-telemetry (it sends usage data to Intel)"
  "${pip[@]}" uninstall -y -q openvino-telemetry
fi

# A torchvision built for another torch breaks every mmengine Runner at
# start-up; nothing here needs it, and nothing above installs it.
if "$py" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torchvision") is None)'; then
  die "torchvision is installed in $venv but this stack must not have it
       (a mismatched build crashes mmengine). Remove it:
       $py -m pip uninstall -y torchvision"
fi
"$py" -c 'import backbones, mmcv.ops, mmdet, mmseg' ||
  die "the environment does not import; see the messages above"
echo "$wanted" >"$stamp"
say "environment ready: $venv"
