"""Time one feature family's fit (selection chain + classifiers + out-of-fold scores) on the
handcrafted features of a finished run, and count the LASSO-CV fits it needs.

    .venv/bin/python benchmarks/family_fit.py runs/demo --classifiers LR --repeat 3

The family is fitted exactly as the study's radiomics-model stage fits it (the run's config,
ICC table, split and patient groups). Run it on two commits (``git worktree`` + that tree's
``src`` on ``PYTHONPATH``) to compare them on the same features; the selected features and
CV AUCs must not change. Prints one line per repeat and the median.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

from rich.console import Console
from sklearn.linear_model import LassoCV

from sonomics.config import StudyConfig
from sonomics.models.family import feature_family
from sonomics.rundir import RunDir
from sonomics.study.context import StudyContext
from sonomics.study.families import feature_sets


def _counting_lasso_fits() -> list[int]:
    """Wrap LassoCV.fit to count calls (the selection chain's dominant cost)."""
    calls = [0]
    original = LassoCV.fit

    def fit(self, *args, **kwargs):
        calls[0] += 1
        return original(self, *args, **kwargs)

    LassoCV.fit = fit
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="finished run directory (has config.yaml)")
    parser.add_argument("--classifiers", nargs="+", default=None,
                        help="registry names (default: the config's)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    cfg = StudyConfig.load(args.run / "config.yaml")
    ctx = StudyContext(cfg, RunDir(cfg.out), Console(stderr=True))
    X_tr, X_te, y_tr, y_te = feature_sets(ctx, ctx.run.features(ctx.run.radiomics_features))
    groups = ctx.groups().loc[X_tr.index].to_numpy()
    models = cfg.models if args.classifiers is None else \
        cfg.models.model_copy(update={"classifiers": args.classifiers})
    calls = _counting_lasso_fits()
    seconds = []
    for i in range(args.repeat):
        calls[0] = 0
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fam = feature_family(X_tr, y_tr, X_te, y_te, selection_cfg=cfg.selection,
                                 models_cfg=models, icc_table=ctx.run.icc(),
                                 icc_threshold=cfg.radiomics.icc_threshold,
                                 random_state=cfg.seed, groups=groups)
        seconds.append(time.perf_counter() - start)
        cv = ", ".join(f"{k} {v:.4f}" for k, v in fam.cv_auc.items())
        print(f"repeat {i + 1}: {seconds[-1]:.1f} s, {calls[0]} LassoCV fits, "
              f"{X_tr.shape[0]} x {X_tr.shape[1]} training features; CV AUC {cv}", flush=True)
    print(f"median {statistics.median(seconds):.1f} s over {len(seconds)} repeat(s)")


if __name__ == "__main__":
    main()
