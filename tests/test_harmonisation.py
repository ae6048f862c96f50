"""ComBat harmonisation by site (issue 13, part 3): the estimator contract, equality with
combatlearn, a site shift removed on held-back data, unseen sites, and a whole study with
two training sites and an external one (fitted on training rows only, applied the same
way by `sonomics predict`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import check_estimator

from sonomics.selection.harmonisation import (
    HarmonisationError,
    SiteHarmoniser,
    add_sites,
    harmonisers,
)


def _sites_data(n_per_site: int = 40, features: int = 6, seed: int = 0):
    """Features with a site effect: site B shifted by +3 and scaled x2, site C by -2."""
    rng = np.random.default_rng(seed)
    rows, sites = [], {}
    for site, shift, scale in (("A", 0.0, 1.0), ("B", 3.0, 2.0), ("C", -2.0, 1.0)):
        for i in range(n_per_site):
            cid = f"{site}{i:03d}"
            rows.append(pd.Series(rng.normal(size=features) * scale + shift, name=cid))
            sites[cid] = site
    frame = pd.DataFrame(rows)
    frame.columns = [f"original_f{j}" for j in range(features)]
    return frame, sites


def test_site_harmoniser_follows_the_sklearn_contract():
    check_estimator(SiteHarmoniser())


def test_training_sites_equal_combatlearns_own_transform():
    from combatlearn import ComBat

    frame, sites = _sites_data()
    train = frame.iloc[::2]
    held = frame.iloc[1::2]
    ours = SiteHarmoniser(sites=sites).fit(train)
    batch = pd.Series(sites)
    theirs = ComBat(batch=batch, method="johnson").fit(train)
    np.testing.assert_allclose(ours.transform(held), theirs.transform(held).to_numpy(),
                               rtol=1e-10, atol=1e-10)
    assert ours.site_counts_ == {"A": 20, "B": 20, "C": 20}


def test_an_injected_site_shift_is_removed_on_held_back_rows():
    from scipy.stats import kruskal

    frame, sites = _sites_data(n_per_site=60)
    train, held = frame.iloc[::2], frame.iloc[1::2]
    site = pd.Series(sites).loc[held.index]
    harmonised = SiteHarmoniser(sites=sites).fit(train).transform(held)
    for j in range(frame.shape[1]):
        groups = [held.iloc[:, j][site == s] for s in "ABC"]
        after = [harmonised[(site == s).to_numpy(), j] for s in "ABC"]
        assert kruskal(*groups).pvalue < 1e-10  # the shift is there before
        # gone after, up to sampling error: held-back site means differ from the training
        # estimates by chance, so p is not uniform here; a real residual shift gives < 1e-10
        assert kruskal(*after).pvalue > 1e-3
        # site means 5 apart before; after, a sampling-error remainder (SE of a held-back
        # mean minus its training estimate ~0.4 on this scale)
        assert np.ptp([g.mean() for g in groups]) > 4
        assert np.ptp([a.mean() for a in after]) < 0.3 * np.ptp([g.mean() for g in groups])
    # scale: site B's spread is twice the others' before; after, equal on average over the
    # features (one feature's variance estimate from 30 training cases errs by ~25%)
    spread = {s: held[(site == s).to_numpy()].std().mean() for s in "ABC"}
    spread_after = {s: harmonised[(site == s).to_numpy()].std(axis=0, ddof=1).mean()
                    for s in "ABC"}
    assert spread["B"] / spread["A"] > 1.7
    assert max(spread_after.values()) / min(spread_after.values()) < 1.25


def test_fitting_reads_only_the_rows_it_is_given():
    frame, sites = _sites_data()
    train = frame.iloc[::2]
    before = SiteHarmoniser(sites=sites).fit(train)
    poisoned = frame.copy()
    poisoned.iloc[1::2] = 1e6  # the held-back rows change beyond recognition
    after = SiteHarmoniser(sites=sites).fit(poisoned.iloc[::2])
    for attr in ("grand_mean_", "pooled_var_", "gamma_", "delta_"):
        np.testing.assert_array_equal(getattr(before, attr), getattr(after, attr))


def test_excluded_columns_pass_unchanged():
    frame, sites = _sites_data()
    frame["deep_score"] = np.linspace(0, 1, len(frame))
    out = SiteHarmoniser(sites=sites, exclude_prefixes=("deep_",)).fit(frame).transform(frame)
    np.testing.assert_array_equal(out[:, -1], frame["deep_score"].to_numpy())
    assert not np.allclose(out[:, 0], frame.iloc[:, 0])


def test_an_unseen_site_is_estimated_from_its_own_cases_or_refused():
    frame, sites = _sites_data(n_per_site=40)
    train = frame[[sites[c] in "AC" for c in frame.index]]
    unseen = frame[[sites[c] == "B" for c in frame.index]]  # shifted +3, scaled x2
    fitted = SiteHarmoniser(sites=sites).fit(train)
    out = fitted.transform(unseen)
    # brought onto the training reference: its mean and spread become the training ones
    np.testing.assert_allclose(out.mean(axis=0), fitted.grand_mean_, atol=1e-9)
    np.testing.assert_allclose(out.std(axis=0, ddof=1), np.sqrt(fitted.pooled_var_),
                               rtol=1e-6)
    assert np.abs(unseen.mean(axis=0).to_numpy() - fitted.grand_mean_).min() > 3
    with pytest.raises(HarmonisationError, match=r"case B000, field 'site': site 'B' .*"
                                                 r"has 3 case\(s\).*at least 10"):
        fitted.transform(unseen.iloc[:3])
    refuse = SiteHarmoniser(sites=sites, unseen_site="refuse").fit(train)
    with pytest.raises(HarmonisationError, match="site 'B' was not in training"):
        refuse.transform(unseen)


def test_one_training_site_is_the_reference_and_passes_unchanged():
    frame, sites = _sites_data()
    only_a = frame[[sites[c] == "A" for c in frame.index]]
    fitted = SiteHarmoniser(sites=sites).fit(only_a)
    np.testing.assert_allclose(fitted.transform(only_a), only_a.to_numpy(), atol=1e-12)


def test_a_site_with_one_training_case_is_refused():
    frame, sites = _sites_data()
    train = pd.concat([frame.iloc[:30], frame.loc[["B000"]]])
    with pytest.raises(HarmonisationError, match=r"\{'B': 1\}.*fewer than 2"):
        SiteHarmoniser(sites=sites).fit(train)


def test_new_cases_sites_are_added_to_a_stored_pipeline():
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    frame, sites = _sites_data()
    pipe = Pipeline([("select", Pipeline([("harmonise", SiteHarmoniser(sites=sites)),
                                          ("z", StandardScaler())]))]).fit(frame)
    [step] = harmonisers(pipe)
    add_sites(pipe, {"new-1": "B"})
    assert step.sites["new-1"] == "B" and step.sites["A000"] == "A"
    row = frame.loc[["B001"]].set_axis(["new-1"])
    np.testing.assert_allclose(pipe.transform(row), pipe.transform(frame.loc[["B001"]]))


# ---------------------------------------------------------------- a whole study
@pytest.fixture(scope="module")
def harmonised_run(module_tmp):
    """The tiny study's cohort as two training sites (MainA, MainB: B's images brighter),
    plus an external site; harmonisation on."""
    from PIL import Image

    from _study_data import tiny_config, with_external_centre
    from sonomics.study import Study

    cfg = tiny_config(module_tmp / "main", harmonisation={"enabled": True})
    manifest = pd.read_csv(cfg.data.manifest)
    root = Path(cfg.data.manifest).parent
    halves = []
    for k, part in enumerate((manifest.iloc[::2], manifest.iloc[1::2])):
        if k:  # a scanner that renders brighter: a site effect on intensity features
            for image in part["image"]:
                pixels = np.asarray(Image.open(root / image), dtype=np.float64)
                Image.fromarray(np.clip(pixels * 1.25 + 10, 0, 255).astype(np.uint8)).save(
                    root / image)
        path = root / f"half{k}.csv"
        part.to_csv(path, index=False)
        halves.append(path)
    cfg = with_external_centre(cfg, module_tmp, halves, ["MainA", "MainB"])
    Study(cfg).run()
    return cfg


def test_the_study_fits_combat_on_training_cases_only(harmonised_run):
    from sonomics.bundle import load_bundle

    run = Path(harmonised_run.out)
    split = pd.read_csv(run / "split.csv", dtype={"case_id": str})
    train_counts = split[split["split"] == "train"]["site"].value_counts().to_dict()
    bundle = load_bundle(run / "bundle")
    for name in ("radiomics.model", "dlr.model"):
        [step] = harmonisers(bundle.models[name])
        assert step.site_counts_ == train_counts, name
        assert set(step.sites_) == {"MainA", "MainB"}
    effects = pd.read_csv(run / "tables" / "site_effects_radiomics.csv")
    assert list(effects["Sites compared"]) == ["training sites", "training and external sites"]
    training = effects.iloc[0]
    assert training["Share p < 0.05 before"] > training["Share p < 0.05 after"]
    assert (run / "figures" / "site_effects_radiomics.png").is_file()
    assert "Harmonised by site" in (run / "tables" / "table4_radiomics_models.md").read_text()


def test_predict_harmonises_a_new_case_as_the_study_did(harmonised_run, tmp_path):
    from sonomics.predict import predict

    run = Path(harmonised_run.out)
    manifest = pd.read_csv(harmonised_run.data.manifest, dtype=str, keep_default_na=False)
    split = pd.read_csv(run / "split.csv", dtype={"case_id": str}).set_index("case_id")
    test_ids = split.index[(split["split"] == "test")][:3].tolist()
    ext_id = split.index[split["split"] == "external"][0]
    new = manifest[manifest["case_id"].isin([*test_ids, ext_id])].copy()
    base = Path(harmonised_run.data.manifest).parent
    for col in ("image", "mask", "mask_reader2"):
        new[col] = [str((base / p).resolve()) if p else "" for p in new[col]]
    new.loc[new["case_id"] == test_ids[0], "site"] = ""  # a case without its site
    path = tmp_path / "new.csv"
    new.to_csv(path, index=False)
    _, result = predict(run / "bundle", path, tmp_path / "out", gradcam=False)
    study = pd.read_csv(run / "predictions" / "radiomics.csv",
                        dtype={"case_id": str}).set_index("case_id")
    for cid in test_ids[1:]:
        assert result.loc[cid, "error"] == ""
        assert result.loc[cid, "radiomics_prob"] == pytest.approx(study.loc[cid, "prob"],
                                                                  abs=1e-9)
    assert "field 'site': empty" in result.loc[test_ids[0], "error"]
    # one case of a site unseen in training: too few to estimate its shift, refused
    assert "site 'Other' was not in training" in result.loc[ext_id, "error"]
