"""`drn serve` used as a person uses it: the real command on a free loopback port, a headless
Chromium that picks or uploads a video, types sentences and reads the moments off the timeline,
which must equal what `drn predict` prints for the same input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.e2e.conftest import cli_env
from tests.serve.browser import headless_chromium, require_browser
from tests.serve.conftest import DURATIONS
from tests.serve.server import running_server

QUERY = "a person opens the door"
# Where to copy the screenshots too (README's docs/serve.png is made this way); unset: only tmp_path.
SCREENSHOT_DIR = os.environ.get("DRN_SERVE_SCREENSHOTS")
WAIT = 90  # seconds for any one thing to appear on a busy machine


def start_predict(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "drn.cli", "predict", *args, "--query", QUERY], env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def predicted_windows(process: subprocess.Popen) -> list[list[float]]:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return json.loads(out)["results"][0]["pred_relevant_windows"]


def keep_screenshot(path) -> None:
    if SCREENSHOT_DIR:
        os.makedirs(SCREENSHOT_DIR, exist_ok=True)
        shutil.copy(path, SCREENSHOT_DIR)


def shown_moments(driver) -> list[list[float]]:
    from selenium.webdriver.common.by import By

    bars = driver.find_elements(By.CSS_SELECTOR, "#results .query-result .moment")
    return [[float(bar.get_attribute(f"data-{key}")) for key in ("start", "end", "score")] for bar in bars]


def ask(driver, wait, sentence: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    wait.until(ec.element_to_be_clickable((By.ID, "ground-button")))
    box = driver.find_element(By.ID, "queries")
    box.clear()
    box.send_keys(sentence)
    driver.find_element(By.ID, "ground-button").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#results .query-result .moment")))


@pytest.mark.slow
def test_pick_features_and_ground_in_the_browser(checkpoint, features_dir, videos_dir, tmp_path):
    require_browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    reference = start_predict(str(checkpoint), "--features", str(features_dir / "kitchen.npy"),
                              "--duration", str(DURATIONS["kitchen"]))
    with running_server(str(checkpoint), "--features", str(features_dir), "--videos", str(videos_dir)) as url, \
            headless_chromium() as driver:
        wait = WebDriverWait(driver, WAIT)
        driver.get(f"{url}/")
        wait.until(lambda d: len(Select(d.find_element(By.ID, "video-select")).options) > 1)
        Select(driver.find_element(By.ID, "video-select")).select_by_visible_text("kitchen (features)")
        driver.find_element(By.ID, "pick-button").click()
        ask(driver, wait, QUERY)
        shown = shown_moments(driver)
        curves = driver.find_elements(By.CSS_SELECTOR, "#results svg.curves polyline")
        screenshot = tmp_path / "serve_features.png"
        driver.save_screenshot(str(screenshot))
    keep_screenshot(screenshot)
    assert shown == predicted_windows(reference)
    assert len(shown) == 5
    assert len(curves) == 6  # matching and IoU of each of the 3 levels
    assert screenshot.stat().st_size > 10_000
