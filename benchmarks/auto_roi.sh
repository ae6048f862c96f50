#!/usr/bin/env bash
# Issue 14's benchmark: the segmenter's agreement with the readers (with and without a box
# prompt) and what automatic ROIs do to the models, on one cohort with one split.
#
#   bash benchmarks/auto_roi.sh [CONFIG] [ROOT]     # default examples/bus-bra.yaml runs/auto-roi
#   RUN_PROFILE=quick bash benchmarks/auto_roi.sh examples/breast-lesions-usg.yaml runs/auto-roi-breast
#
# 1. sonomics segment (whole image, then --box; SEGMENT_PROFILE, default quick: 128 px,
#    14 epochs): Dice/IoU/HD95 vs reader 1 (and reader 2), radiomics feature ICC automatic
#    vs manual, wall time and peak memory (/usr/bin/time);
# 2. with the study's split (RUN_PROFILE, default none: the config's own deep settings):
#    the manual-ROI study; its bundle scoring the test cases' automatic ROIs (`sonomics
#    predict`); a study on automatic ROIs everywhere;
# 3. benchmarks/auto_roi_compare.py: test AUCs side by side with paired DeLong tests.
# Results are copied to benchmarks/results/auto-roi/CONFIG-NAME/. Needs ../shared/data.
# Hours on a CPU for BUS-BRA; about an hour for BrEaST-Lesions-USG.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-examples/bus-bra.yaml}
ROOT=${2:-runs/auto-roi}
SONOMICS=${SONOMICS:-.venv/bin/sonomics}
PYTHON=${PYTHON:-.venv/bin/python}
SEGMENT_PROFILE=${SEGMENT_PROFILE:-quick}
RUN_PROFILE=${RUN_PROFILE:-}
RESULTS=benchmarks/results/auto-roi/$(basename "$CONFIG" .yaml)
mkdir -p "$ROOT" "$RESULTS"
for cohort in bus-bra breast-lesions-usg; do
  if grep -q "$cohort" <<<"$CONFIG" && [ ! -f "runs/$cohort/manifest.csv" ]; then
    "$SONOMICS" datasets convert "$cohort" "../shared/data/$cohort" "runs/$cohort"
  fi
done
derive() {  # derive CONFIG OUT [MANIFEST]: the config with another run folder / manifest
  "$PYTHON" - "$CONFIG" "$2" "${3:-}" > "$1" <<'PY'
import sys
from pathlib import Path
from sonomics.config import StudyConfig
cfg = StudyConfig.load(sys.argv[1])
cfg.out = Path(sys.argv[2]).resolve()
if sys.argv[3]:
    cfg.data.manifest = Path(sys.argv[3]).resolve()  # its split column keeps the split
print(cfg.to_yaml())
PY
}
derive "$ROOT/manual.yaml" "$ROOT/manual/study"
for mode in whole box; do
  flag=$([ $mode = box ] && echo --box || echo --no-box)
  /usr/bin/time -v "$SONOMICS" segment "$ROOT/manual.yaml" --out "$ROOT/seg-$mode" $flag \
    --profile "$SEGMENT_PROFILE" \
    2> >(tee "$ROOT/seg-$mode.time" >&2)
  mkdir -p "$RESULTS/seg-$mode"
  cp "$ROOT/seg-$mode"/tables/*.csv "$ROOT/seg-$mode"/figures/*.png "$RESULTS/seg-$mode/"
  cp "$ROOT/seg-$mode/segmenter/segmenter.json" "$RESULTS/seg-$mode/"
  grep -E "Elapsed|Maximum resident" "$ROOT/seg-$mode.time" > "$RESULTS/seg-$mode/time.txt"
done
"$SONOMICS" run "$ROOT/manual.yaml" ${RUN_PROFILE:+--profile "$RUN_PROFILE"}
# Automatic ROIs on the test cases (whole image, then box prompt), models from manual
# ROIs: the manual study's bundle scores them through `sonomics predict` (the study's own
# scoring path), so the manual models are not trained a second time.
for mode in whole box; do
  arm=$ROOT/auto-test$([ $mode = box ] && echo -box || true)
  mkdir -p "$arm"
  "$PYTHON" - "$ROOT/seg-$mode/manifest_auto_test.csv" "$arm/manifest.csv" <<'PY'
import sys
import pandas as pd
frame = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
frame[frame["split"] == "test"].to_csv(sys.argv[2], index=False)
PY
  "$SONOMICS" predict "$ROOT/manual/study/bundle" "$arm/manifest.csv" --out "$arm" --no-gradcam
done
derive "$ROOT/auto-all.yaml" "$ROOT/auto-all/study" "$ROOT/seg-whole/manifest_auto.csv"
"$SONOMICS" run "$ROOT/auto-all.yaml" ${RUN_PROFILE:+--profile "$RUN_PROFILE"}
"$PYTHON" benchmarks/auto_roi_compare.py "$ROOT" --out "$RESULTS/auc_comparison.csv"
