"""What each ingredient of the quick profile's CPU recipe contributes (issue 18's ablation).

Starts from a finished study (its config.yaml and run directory) and reruns it once per
variant of the ``deep`` section, each in its own copy of the run directory so that the
stages before the CNN (validation, split, clinical model, radiomics, radiomics models)
are reused and only the CNN, the fusion, the nomogram and the evaluation are redone.
Every variant is judged by what the study knows BEFORE its test set: the CNN's
out-of-fold training AUC (its patient-grouped fold CNNs); the test AUCs are reported
beside, never used to choose. Run it on a cohort that is not the one whose test set you
will quote (the demo recipe was chosen on a calibration cohort, ``sonomics demo --seed 7``).

    python benchmarks/cpu_recipe_ablation.py RUN_DIR --out ablation.csv \\
        --variant "old:backbones=[densenet121],epochs=4,crop_margin=0,time_budget_min=null" \\
        --variant "resnet18:backbones=[resnet18]"

A variant is ``name:key=value,...`` over ``deep`` keys (values in YAML).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

#: what a rerun of the CNN stage rewrites: left out of the copy so nothing stale survives
_DEEP_OUTPUTS = ("deep", "bundle", "report.html")


def parse_variant(text: str) -> tuple[str, dict]:
    name, _, body = text.partition(":")
    overrides = {}
    for part in re.split(r",(?![^\[]*\])", body) if body else []:
        key, _, value = part.partition("=")
        overrides[key.strip()] = yaml.safe_load(value)
    return name.strip(), overrides


def _copy_run(base: Path, target: Path) -> None:
    if target.exists():
        return  # resumable: a rerun of the script continues the variant
    shutil.copytree(base, target, ignore=shutil.ignore_patterns(*_DEEP_OUTPUTS),
                    symlinks=True)
    stages = target / "cache" / "stages"
    for marker in stages.glob("*.json"):
        if marker.stem not in {"validate", "split", "segment", "baseline", "clinical",
                               "radiomics", "radiomics_model"}:
            marker.unlink()
    deep_cache = target / "cache" / "deep"
    if deep_cache.exists():
        shutil.rmtree(deep_cache)


def _row(run: Path, name: str, overrides: dict, wall: float) -> dict:
    table = pd.read_csv(run / "tables" / "table7_all_models.csv").set_index("Model")
    summary = json.loads((run / "deep" / "deep_summary.json").read_text())
    auc = table.iloc[:, 0]
    return {"variant": name, "overrides": json.dumps(overrides),
            "cnn_oof_train_auc": auc.get("Deep Learning-training (out-of-fold)"),
            "cnn_apparent_train_auc": auc.get("Deep Learning-training (apparent)"),
            "cnn_test_auc": auc.get("Deep Learning-testing"),
            "dlr_test_auc": auc.get("DLR-testing"),
            "nomogram_test_auc": auc.get("Nomogram-testing"),
            "epochs": json.dumps(summary.get("epochs")),
            "wall_s": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="finished study run directory")
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--out", type=Path, required=True, help="CSV of the results")
    parser.add_argument("--sonomics", default=str(Path(sys.executable).with_name("sonomics")))
    args = parser.parse_args()
    base = args.run.resolve()
    config = yaml.safe_load((base / "config.yaml").read_text())
    rows = []
    for text in args.variant:
        name, overrides = parse_variant(text)
        target = base.parent / f"{base.name}-{name}"
        _copy_run(base, target)
        cfg = {**config, "out": str(target), "deep": {**config["deep"], **overrides}}
        cfg_path = target / "ablation-config.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        tic = time.perf_counter()
        subprocess.run([args.sonomics, "run", str(cfg_path)], check=True)
        rows.append(_row(target, name, overrides, time.perf_counter() - tic))
        pd.DataFrame(rows).to_csv(args.out, index=False)
        print(pd.DataFrame(rows).to_string(index=False), flush=True)


if __name__ == "__main__":
    main()
