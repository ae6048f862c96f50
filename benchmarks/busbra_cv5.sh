#!/usr/bin/env bash
# BUS-BRA's official 5-fold cross-validation, one fold at a time, each fold's results kept
# in the repository (benchmarks/results/busbra-cv5/fold-K/) as soon as it finishes.
#
# A fold is a whole study with six ResNet18s: about 30 min on 2 idle CPU cores (folds 4-5:
# 1,723-1,851 s), 1.5-2.2 h beside other work; finished folds are recorded and the script
# skips them when run again. Needs ../shared/data/bus-bra.
#
#   bash benchmarks/busbra_cv5.sh            # every fold not yet recorded
#   bash benchmarks/busbra_cv5.sh 3          # fold 3 only
#   RESULTS=benchmarks/results/busbra-cv5-foldmean bash benchmarks/busbra_cv5.sh 1
#                                            # record into another folder (new code)
set -euo pipefail
cd "$(dirname "$0")/.."
SONOMICS=${SONOMICS:-.venv/bin/sonomics}
RESULTS=${RESULTS:-benchmarks/results/busbra-cv5}
STUDY=runs/bus-bra/study
mkdir -p "$RESULTS"
[ -f runs/bus-bra/manifest.csv ] || \
  "$SONOMICS" datasets convert bus-bra ../shared/data/bus-bra runs/bus-bra
for fold in ${@:-1 2 3 4 5}; do
  if [ -f "$RESULTS/fold-$fold/cv_auc.csv" ]; then
    echo "fold $fold: recorded in $RESULTS/fold-$fold, skipped"; continue
  fi
  start=$(date +%s)
  "$SONOMICS" cv examples/bus-bra.yaml --folds fold5 --only "$fold"
  dest="$RESULTS/fold-$fold"; mkdir -p "$dest"
  run="$STUDY/cv/fold-$fold"
  cp "$STUDY/cv/tables/cv_auc.csv" "$dest/cv_auc.csv"
  for t in table5_deep table7_all_models table7b_patient_ci calibration_summary; do
    [ -f "$run/tables/$t.csv" ] && cp "$run/tables/$t.csv" "$dest/"
  done
  { echo "commit: $(git rev-parse --short HEAD)"; echo "finished: $(date -u +%FT%TZ)"
    echo "wall_seconds: $(( $(date +%s) - start ))"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  } > "$dest/provenance.txt"
  echo "fold $fold recorded in $dest"
done
