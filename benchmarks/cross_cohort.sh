#!/usr/bin/env bash
# The cross-cohort study of benchmarks/real_data.md: train on BUS-BRA (patient-grouped 7:3
# internal split), validate externally on BrEaST-Lesions-USG, without and with ComBat
# harmonisation by scanner. The second run recomputes only what harmonisation changes (the
# radiomics and DLR models, the evaluation). Each run's tables are kept in
# benchmarks/results/cross-cohort/{plain,combat}/. Needs ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
SONOMICS=${SONOMICS:-.venv/bin/sonomics}
PYTHON=${PYTHON:-.venv/bin/python}
ROOT=runs/cross-cohort
RESULTS=benchmarks/results/cross-cohort
[ -f $ROOT/bus-bra/manifest.csv ] || \
  "$SONOMICS" datasets convert bus-bra ../shared/data/bus-bra $ROOT/bus-bra
[ -f $ROOT/breast/manifest.csv ] || \
  "$SONOMICS" datasets convert breast-lesions-usg ../shared/data/breast-lesions-usg $ROOT/breast
if [ ! -f $ROOT/merged/manifest.csv ]; then
  "$SONOMICS" datasets merge $ROOT/bus-bra/manifest.csv $ROOT/breast/manifest.csv \
    --site BUSBRA --site BrEaST --out $ROOT/merged
  # the harmonisation batch: BUS-BRA's scanner (four devices), BrEaST as one site
  "$PYTHON" - <<'PY'
import pandas as pd
path = "runs/cross-cohort/merged/manifest.csv"
frame = pd.read_csv(path, dtype=str, keep_default_na=False)
frame["scanner"] = frame["source_site"].where(frame["source_site"] != "", frame["site"])
frame.to_csv(path, index=False)
PY
fi
keep() {
  mkdir -p "$RESULTS/$1"
  for t in table4_radiomics_models table5_deep table6_dlr_models table7_all_models \
           table7b_patient_ci table8_comparators calibration_summary cutoff_transfer \
           delong_external delong_test site_effects_radiomics site_effects_fusion \
           split_summary; do
    for ext in csv md; do
      [ -f "$ROOT/study/tables/$t.$ext" ] && cp "$ROOT/study/tables/$t.$ext" "$RESULTS/$1/"
    done
  done
  for f in site_effects_radiomics roc_all_external calibration_external; do
    [ -f "$ROOT/study/figures/$f.png" ] && cp "$ROOT/study/figures/$f.png" "$RESULTS/$1/"
  done
  { echo "commit: $(git rev-parse --short HEAD)"; echo "finished: $(date -u +%FT%TZ)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  } > "$RESULTS/$1/provenance.txt"
}
/usr/bin/time -v "$SONOMICS" run examples/cross-cohort.yaml 2> >(tee $ROOT/plain.err >&2)
keep plain
sed 's/^  enabled: false.*/  enabled: true/' examples/cross-cohort.yaml > $ROOT/combat.yaml
sed -i "s|^out: ../runs/cross-cohort/study|out: study|; s|manifest: ../runs/cross-cohort/merged|manifest: merged|" $ROOT/combat.yaml
/usr/bin/time -v "$SONOMICS" run $ROOT/combat.yaml 2> >(tee $ROOT/combat.err >&2)
keep combat
