"""``sonomics run``, ``extract``, ``deep``, ``cv``, ``demo`` and ``predict``.

``extract`` and ``deep`` run the study's own stages (validation, split, and the radiomics
or deep-learning stage) into the run directory: the same cases, split and settings as
``run``, so their outputs are the ones ``run`` would make and ``run`` resumes from them.
"""

from __future__ import annotations

from pathlib import Path

import typer

from sonomics.cli.common import app, console, err_console, load_config
from sonomics.config import StudyConfig
from sonomics.errors import reporting_errors

PROFILE_HELP = ("Deep-learning hardware profile applied over the config: quick (the CPU "
                "recipe: one ResNet18, 128 px, context crop, trained within a time budget) "
                "or paper (three CNNs, 224 px: GPU).")


def _run_study(cfg: StudyConfig, stages: list[str] | None = None):
    from sonomics.study import Study

    study = Study(cfg, console=err_console)
    study.run(stages)
    return study


@app.command()
@reporting_errors
def run(
    config: Path = typer.Argument(..., help="Study config (YAML)."),
    out: Path | None = typer.Option(None, "--out", help="Run directory (default: config 'out')."),
    profile: str | None = typer.Option(None, "--profile", help=PROFILE_HELP),
) -> None:
    """Run the whole study: validate -> split -> Tables 1-2 -> clinical model -> radiomics + ICC
    -> radiomics models -> CNN training -> deep features -> fusion (DLR) -> nomogram (DLRN)
    -> evaluation -> report.html -> prediction bundle.

    Stage by stage it is resumable: a finished stage whose settings and input files
    (manifest, images, masks) are unchanged and whose outputs exist is not recomputed; a
    change recomputes exactly the stages downstream of it. Results: RUN/report.html,
    RUN/tables/*.csv, RUN/figures/*.png, RUN/bundle/ (for `sonomics predict`).
    """
    study = _run_study(load_config(config, out, profile))
    console.print(f"results: {study.out}")


@app.command()
@reporting_errors
def extract(
    config: Path = typer.Argument(..., help="Study config (YAML)."),
    out: Path | None = typer.Option(None, "--out", help="Run directory (default: config 'out')."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Dask scheduler address tcp://HOST:PORT (scale-out); "
        "overrides radiomics.scheduler."),
    workers: int | None = typer.Option(
        None, "--workers", min=0, help="Worker processes (0 = all cores); overrides "
        "radiomics.workers."),
) -> None:
    """Handcrafted radiomics of every case and the reproducibility (ICC) table.

    Runs the study's own stages — validation, split, radiomics — so the features and the
    ICC (on TRAINING cases only) are exactly those `sonomics run` uses; a later `run`
    resumes from them. Outputs: RUN/radiomics/features.parquet (+ .csv),
    RUN/tables/radiomics_icc.csv, RUN/tables/radiomics_failures.csv.
    """
    cfg = load_config(config, out)
    if scheduler is not None:
        cfg.radiomics.scheduler = scheduler
    if workers is not None:
        cfg.radiomics.workers = workers
    study = _run_study(cfg, ["radiomics"])
    features = study.dir.features(study.dir.radiomics_features)
    icc = study.dir.features(study.dir.icc_store)
    n_cases, n_feat = features.shape if features is not None else (0, 0)
    console.print(f"{n_cases} cases, {n_feat} features -> {study.dir.radiomics_features}")
    if icc is not None and len(icc):
        console.print(f"{icc['kind'].iloc[0]} ({icc['form'].iloc[0]}): "
                      f"{int(icc['keep'].sum())} of {len(icc)} features kept")


@app.command()
@reporting_errors
def deep(
    config: Path = typer.Argument(..., help="Study config (YAML)."),
    out: Path | None = typer.Option(None, "--out", help="Run directory (default: config 'out')."),
    profile: str | None = typer.Option(None, "--profile", help=PROFILE_HELP),
) -> None:
    """CNN transfer learning on the study's training cases: Table 5, deep features,
    training curves, Grad-CAM.

    Runs the study's own stages — validation, split, deep — so the split (patient- and
    near-duplicate-grouped) and the settings are those of `sonomics run` (the config's
    deep section, or --profile over it).
    """
    study = _run_study(load_config(config, out, profile), ["deep"])
    table5 = study.dir.table("table5_deep")
    if table5 is not None:
        typer.echo(table5.to_string(index=False))
    meta = study.dir.meta("deep")
    if meta:
        auc = meta["validation_auc"][meta["backbone"]]
        console.print(f"chosen backbone (validation AUC): {meta['backbone']} ({auc:.3f})")
        if meta.get("random_init"):
            console.print("RANDOM initialisation: no ImageNet weights were found")


@app.command()
@reporting_errors
def cv(
    config: Path = typer.Argument(..., help="Study config (YAML)."),
    folds: str = typer.Option(..., "--folds", help="Manifest column holding the fold of each "
                              "case (BUS-BRA: fold5, from `datasets convert`)."),
    only: list[str] = typer.Option([], "--only", help="Run only these fold values "
                                   "(repeatable); the summary covers the folds run."),
    out: Path | None = typer.Option(None, "--out", help="Run directory (default: config 'out'); "
                                    "folds go to OUT/cv/fold-<k>."),
    profile: str | None = typer.Option(None, "--profile", help=PROFILE_HELP),
) -> None:
    """Cross-validated evaluation over a predefined partition (mean ± SD test AUC over folds).

    Each fold is a whole, independent study: that fold is the test set, the others the
    training set, and every fitted step learns from the training folds only. Folds resume
    like `sonomics run`; handcrafted features are extracted once and shared. Summary:
    OUT/cv/tables/cv_auc.csv (per-fold AUC of every model, mean, SD).

    Example: sonomics cv examples/bus-bra.yaml --folds fold5
    """
    from sonomics.study.crossval import run_cross_validation

    cfg = load_config(config, out, profile)
    result = run_cross_validation(cfg, folds, console=err_console, folds=only or None)
    console.print(result.summary.to_string(index=False))
    console.print(f"results: {result.out}")


@app.command()
@reporting_errors
def predict(
    bundle: Path = typer.Argument(..., help="The bundle folder of a finished run (RUN/bundle)."),
    manifest: Path = typer.Argument(..., help="Manifest of the new cases (labels optional)."),
    out: Path = typer.Option(Path("predictions"), "--out", help="Output folder."),
    gradcam: bool = typer.Option(True, "--gradcam/--no-gradcam",
                                 help="Write a Grad-CAM overlay per case."),
    verify_key: Path | None = typer.Option(
        None, "--verify-key", help="Secret key file: refuse the bundle unless `sonomics "
        "sign` signed it with this key (hashes alone do not stop a forger)."),
) -> None:
    """Score new patients with a finished study's bundle.

    For each case: the probability of every model, the class at the cut-off chosen on
    the TRAINING set, the nomogram's points per factor, total points and risk, and a
    Grad-CAM overlay. A problem with one case is reported on its row; the others are
    scored. The bundle is verified first (integrity hashes, version) and loading it
    executes no code from it.
    """
    from sonomics.bundle import read_key
    from sonomics.predict import predict as run_predict

    key = read_key(verify_key) if verify_key is not None else None
    path, result = run_predict(bundle, manifest, out, gradcam=gradcam, verify_key=key)
    bad = result[result["error"] != ""]
    for _, row in bad.iterrows():
        err_console.print(f"[red]not scored:[/red] {row['error']}", highlight=False)
    console.print(f"{len(result) - len(bad)} of {len(result)} cases scored -> {path}")
    if len(bad) == len(result):
        raise typer.Exit(1)


@app.command()
@reporting_errors
def sign(
    bundle: Path = typer.Argument(..., help="The bundle folder of a finished run (RUN/bundle)."),
    key: Path = typer.Option(..., "--key", help="Secret key file (at least 16 bytes, e.g. "
                             "`openssl rand -hex 32 > key`); keep it away from the bundle."),
) -> None:
    """Sign a bundle (HMAC-SHA256 of its manifest of hashes) so that `sonomics predict
    --verify-key` can tell it from a rewritten one."""
    from sonomics.bundle import read_key, sign_bundle

    console.print(f"signed: {sign_bundle(bundle, read_key(key))}")


@app.command()
@reporting_errors
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Run directory."),
    seed: int = typer.Option(2024, help="Seed of the synthetic cohort."),
    n_benign: int = typer.Option(427, help="Benign patients (paper: 427)."),
    n_malignant: int = typer.Option(99, help="Malignant patients (paper: 99)."),
    clinical_effect: float = typer.Option(1.0, help="Strength of the clinical signal, 0-1.5."),
    image_effect: float = typer.Option(1.0, help="Strength of the class texture signal, 0-1.5."),
    context_effect: float = typer.Option(
        1.0, help="Strength of the peritumoural rim (outside the mask: the CNN's own "
        "signal), 0-1.5."),
) -> None:
    """Generate the SYNTHETIC parotid-like demo cohort and run the study on it.

    The cohort mirrors the paper's Tables 1-2 (526 patients, 427 benign / 99
    malignant); every output says SYNTHETIC.
    """
    import yaml

    from sonomics.data.demo import DemoSettings, demo_config_dict, generate_demo_cohort

    settings = DemoSettings(seed=seed, n_benign=n_benign, n_malignant=n_malignant,
                            clinical_effect=clinical_effect, image_effect=image_effect,
                            context_effect=context_effect)
    out = out.resolve()
    err_console.print(f"[bold]SYNTHETIC[/bold] demo cohort → {out / 'cohort'}")
    manifest = generate_demo_cohort(out / "cohort", settings)
    raw = demo_config_dict(manifest, out)
    cfg = StudyConfig.from_dict(raw)
    (out / "demo-config.yaml").write_text(
        "# SYNTHETIC demo study (sonomics demo)\n" + yaml.safe_dump(raw, sort_keys=False))
    study = _run_study(cfg)
    console.print(f"results: {study.out}")


@app.command()
@reporting_errors
def segment(
    config: Path = typer.Argument(..., help="Study config (YAML); its `segment:` section "
                                  "sets the segmenter."),
    out: Path = typer.Option(..., "--out", help="Folder for the segmenter, the masks, the "
                             "manifests and the tables."),
    box: bool | None = typer.Option(None, "--box/--no-box", help="Segment inside a box "
                                    "around the lesion (overrides segment.box_prompt); the "
                                    "box is the reader-1 mask's bounding box here."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Overrides "
                                      "segment.epochs."),
    profile: str | None = typer.Option(None, "--profile", help="Hardware profile: quick "
                                       "(128 px, 14 epochs: a CPU) or paper (the segment "
                                       "section's 256 px, 40 epochs: a GPU)."),
) -> None:
    """Learn a lesion segmenter from the TRAINING cases' reader-1 masks; write an automatic
    mask for every case and measure it on the TEST cases.

    Runs the study's validate and split stages first, so the segmenter never sees a test
    case. Writes OUT/segmenter/ (weights + settings + training cases), OUT/masks/*.png,
    OUT/manifest_auto.csv (every case with its automatic mask: a fully automatic study)
    and OUT/manifest_auto_test.csv (manual masks for training, automatic for testing),
    both keeping the study's split; OUT/tables/segmentation_summary.csv (Dice, IoU and
    HD95 in mm against reader 1 and reader 2, beside reader 1 vs reader 2) and
    OUT/figures/segmentation_cases.png (best, median and worst test case). Resumable:
    a killed run continues from its last finished epoch.
    """
    from sonomics.study.segmentation import segment_cohort

    cfg = load_config(config, profile=profile)
    if box is not None:
        cfg.segment.box_prompt = box
    if epochs is not None:
        cfg.segment.epochs = epochs
    result = segment_cohort(cfg, out, console=err_console)
    for line in result.failures[:10]:
        err_console.print(f"[yellow]no automatic mask:[/yellow] {line}", highlight=False)
    if len(result.summary):
        dice = result.summary.query("comparison == 'auto vs reader1' and metric == 'dice'")
        if len(dice):
            row = dice.iloc[0]
            console.print(f"test Dice vs reader 1: median {row['median']:.3f} "
                          f"[{row['q1']:.3f}-{row['q3']:.3f}], mean {row['mean']:.3f} "
                          f"(n = {int(row['n'])})")
    if len(result.feature_icc):
        total = result.feature_icc.query("image_type == 'all'").iloc[0]
        console.print(f"radiomics features surviving automation (ICC >= "
                      f"{cfg.radiomics.icc_threshold}): {int(total['kept'])} of "
                      f"{int(total['features'])}")
    console.print(f"results: {result.out}")
