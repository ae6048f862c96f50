#!/usr/bin/env bash
# Issue 14's benchmark: the segmenter's agreement with the readers (with and without a box
# prompt) and what automatic ROIs do to the models, on one cohort with one split.
#
#   bash benchmarks/auto_roi.sh [CONFIG] [ROOT]     # default examples/bus-bra.yaml runs/auto-roi
#
# 1. sonomics segment (whole image, then --box): Dice/IoU/HD95 vs reader 1 (and reader 2),
#    radiomics feature ICC automatic vs manual, wall time and peak memory (/usr/bin/time);
# 2. three studies with the study's split: manual ROIs; automatic ROIs on the test cases
#    (models from manual ROIs); automatic ROIs everywhere;
# 3. benchmarks/auto_roi_compare.py: test AUCs side by side with paired DeLong tests.
# Results are copied to benchmarks/results/auto-roi/. Needs ../shared/data. Hours on a CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-examples/bus-bra.yaml}
ROOT=${2:-runs/auto-roi}
SONOMICS=${SONOMICS:-.venv/bin/sonomics}
PYTHON=${PYTHON:-.venv/bin/python}
RESULTS=benchmarks/results/auto-roi
mkdir -p "$ROOT" "$RESULTS"
if grep -q "bus-bra" <<<"$CONFIG" && [ ! -f runs/bus-bra/manifest.csv ]; then
  "$SONOMICS" datasets convert bus-bra ../shared/data/bus-bra runs/bus-bra
fi
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
    2> >(tee "$ROOT/seg-$mode.time" >&2)
  mkdir -p "$RESULTS/seg-$mode"
  cp "$ROOT/seg-$mode"/tables/*.csv "$ROOT/seg-$mode"/figures/*.png "$RESULTS/seg-$mode/"
  cp "$ROOT/seg-$mode/segmenter/segmenter.json" "$RESULTS/seg-$mode/"
  grep -E "Elapsed|Maximum resident" "$ROOT/seg-$mode.time" > "$RESULTS/seg-$mode/time.txt"
done
"$SONOMICS" run "$ROOT/manual.yaml"
derive "$ROOT/auto-test.yaml" "$ROOT/auto-test/study" "$ROOT/seg-whole/manifest_auto_test.csv"
"$SONOMICS" run "$ROOT/auto-test.yaml"
derive "$ROOT/auto-all.yaml" "$ROOT/auto-all/study" "$ROOT/seg-whole/manifest_auto.csv"
"$SONOMICS" run "$ROOT/auto-all.yaml"
"$PYTHON" benchmarks/auto_roi_compare.py "$ROOT" --out "$RESULTS/auc_comparison.csv"
