#!/usr/bin/env bash
# The main job on a fresh machine: set up, generate the embedded toy COCO
# set, train SSDLite-EMO-2M on it (configs/toy/ssdlite_emo_2m_toy.py, which
# inherits configs/ssdlite_emo_2m_coco.py) and print its COCO bbox mAP.
#
#   bash tools/run_demo.sh [extra tools/train.py arguments]
#
# Re-running resumes: a finished run goes straight to evaluation, a killed
# one continues from its last checkpoint.  It ends with the drawn
# predictions in work_dirs/ssdlite_emo_2m_toy/predictions/ and the training
# curves in work_dirs/ssdlite_emo_2m_toy/curves.png.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash tools/setup_env.sh
py="${MOBILEDENSE_VENV:-$root/.venv}/bin/python"

config=configs/toy/ssdlite_emo_2m_toy.py
work_dir=work_dirs/ssdlite_emo_2m_toy
"$py" tools/make_toy_dataset.py coco data/toy_coco
start=$(date +%s)
"$py" tools/train.py "$config" --work-dir "$work_dir" --resume "$@"
echo "[demo] training took $(( $(date +%s) - start )) s"
checkpoint="$(cat "$work_dir/last_checkpoint")"
# Evaluate, drawing every validation image's boxes, then plot the curves.
"$py" tools/test.py "$config" "$checkpoint" --work-dir "$work_dir" \
    --show-dir "$work_dir/predictions"
"$py" tools/plot_curves.py "$work_dir" --out "$work_dir/curves.png"
