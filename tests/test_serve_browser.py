"""``sonomics serve`` in a real browser: headless Chromium, driven by Selenium.

The server runs on a free local port; the browser uploads a demo image, draws a box around
the lesion on the page's canvas, fills the form generated from the bundle and submits.
The probabilities on the result page must equal `sonomics predict` on the same image,
the same box (rasterised) and the same factors. A screenshot of the result page is
saved (and copied to $SONOMICS_SCREENSHOTS when set).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from _study_data import tiny_config
from sonomics.bundle import load_bundle
from sonomics.predict import predict
from sonomics.serve.roi import box_mask
from sonomics.study import Study

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="Chromium and ChromeDriver are not installed (apt-get install chromium "
           "chromium-driver); .ci/run installs them")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(module_tmp):
    import uvicorn

    from sonomics.serve.app import create_app

    study = Study(tiny_config(module_tmp, segment={"enabled": True, "input_size": 64,
                                                   "epochs": 3, "batch_size": 8}))
    study.run(["bundle"])
    app = create_app(load_bundle(study.out / "bundle"))
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.1)
    assert srv.started, "the server did not start"
    yield {"url": f"http://127.0.0.1:{port}", "study": study, "root": module_tmp}
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(module_tmp):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1200,1800",
                 f"--user-data-dir={module_tmp / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def fill_factors(browser, row: pd.Series) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for field in browser.find_elements(By.CSS_SELECTOR, "[data-factor]"):
        name = field.get_attribute("data-factor")
        if field.tag_name == "select":
            Select(field).select_by_value(str(row[name]))
        else:
            field.send_keys(str(row[name]))
    browser.find_element(By.ID, "spacing_mm").send_keys(str(row["spacing_mm"]))


def in_range_test_case(server) -> tuple[pd.Series, Path]:
    """A test case whose continuous factors lie inside the training ranges."""
    root, study = server["root"], server["study"]
    manifest = pd.read_csv(root / "cohort" / "manifest.csv")
    split = pd.read_csv(study.out / "split.csv", index_col="case_id")["split"]
    ranges = load_bundle(study.out / "bundle").meta["clinical"]["ranges"]
    ok = [all(lo <= r[c] <= hi for c, (lo, hi) in ranges.items())
          and split[r["case_id"]] == "test" for _, r in manifest.iterrows()]
    row = manifest[ok].iloc[0]
    return row, root / "cohort" / row["image"]


def predict_one(server, tmp_path: Path, row: pd.Series, image: Path, mask: str) -> pd.Series:
    new = row.to_frame().T.drop(columns=["label"])
    new["image"], new["mask"], new["mask_reader2"] = str(image), mask, ""
    new.to_csv(tmp_path / "one.csv", index=False)
    _, result = predict(server["study"].out / "bundle", tmp_path / "one.csv",
                        tmp_path / "cli", gradcam=False)
    assert result["error"].iloc[0] == "", result["error"].iloc[0]
    return result.iloc[0]


def shown_probabilities(browser) -> dict[str, float]:
    from selenium.webdriver.common.by import By

    return {c.get_attribute("data-model"): float(c.get_attribute("data-prob"))
            for c in browser.find_elements(By.CSS_SELECTOR, "td.prob")}


def test_the_segmenters_roi_is_shown_accepted_and_scored(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    row, image = in_range_test_case(server)
    browser.get(server["url"] + "/")
    browser.find_element(By.ID, "image").send_keys(str(image))
    canvas = browser.find_element(By.ID, "canvas")
    WebDriverWait(browser, 30).until(lambda d: canvas.get_attribute("data-ready") == "1")
    browser.find_element(By.CSS_SELECTOR, "input[name=roi_mode][value=auto]").click()
    fill_factors(browser, row)
    browser.find_element(By.ID, "submit").click()  # refused: no ROI accepted yet
    assert "accept" in browser.find_element(By.ID, "roi-status").text.lower()
    assert not browser.find_elements(By.ID, "results")
    browser.find_element(By.ID, "segment-btn").click()
    accept = browser.find_element(By.ID, "accept-btn")
    WebDriverWait(browser, 60).until(lambda d: accept.is_enabled())
    accept.click()
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 120).until(lambda d: d.find_elements(By.ID, "results"))
    assert "automatic" in browser.find_element(By.ID, "roi-source").text
    shown = shown_probabilities(browser)
    save_screenshot(browser, tmp_path / "serve_result_auto_roi.png")
    expected = predict_one(server, tmp_path, row, image, "")  # predict segments it itself
    assert expected["mask_source"] == "auto"
    for model, prob in shown.items():
        assert prob == pytest.approx(float(expected[f"{model}_prob"]), abs=1e-9), model


def save_screenshot(browser, shot: Path) -> None:
    browser.save_screenshot(str(shot))
    if os.environ.get("SONOMICS_SCREENSHOTS"):
        Path(os.environ["SONOMICS_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(os.environ["SONOMICS_SCREENSHOTS"]) / shot.name)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 10  # a drawn page, not a blank one


def test_a_clinician_scores_a_patient_in_the_browser(server, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    row, image = in_range_test_case(server)

    browser.get(server["url"] + "/")
    assert "SYNTHETIC" in browser.find_element(By.ID, "synthetic").text
    browser.find_element(By.ID, "image").send_keys(str(image))
    canvas = browser.find_element(By.ID, "canvas")
    WebDriverWait(browser, 30).until(lambda d: canvas.get_attribute("data-ready") == "1")
    # a box around the middle of the image, dragged with the mouse
    ActionChains(browser).move_to_element_with_offset(canvas, -25, -20).click_and_hold() \
        .move_to_element_with_offset(canvas, 25, 20).release().perform()
    box = browser.find_element(By.ID, "roi_box").get_attribute("value")
    assert box and len(box.split(",")) == 4, box
    fill_factors(browser, row)
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 120).until(lambda d: d.find_elements(By.ID, "results"))
    shown = shown_probabilities(browser)
    save_screenshot(browser, tmp_path / "serve_result.png")
    # `sonomics predict` on the same image, the same box as a mask file, the same factors
    with Image.open(image) as im:
        shape = (im.height, im.width)
    mask = tmp_path / "box.png"
    Image.fromarray(box_mask(box, shape).astype(np.uint8) * 255).save(mask)
    expected = predict_one(server, tmp_path, row, image, str(mask))
    assert set(shown) == {"clinical", "radiomics", "deep", "dlr", "nomogram"}
    for model, prob in shown.items():
        assert prob == pytest.approx(float(expected[f"{model}_prob"]), abs=1e-9), model
    assert browser.find_element(By.ID, "nomogram").get_attribute("naturalWidth") != "0"
    assert browser.find_element(By.ID, "gradcam").get_attribute("naturalWidth") != "0"
