"""`drn serve` used as a person uses it: the real command on a free loopback port, a headless
Chromium that picks or uploads a video, types a sentence and reads the moments off the timeline,
which must equal what `drn predict` prints for the same input. Screenshots go to tmp_path (and to
$DRN_SERVE_SCREENSHOTS when set: README's docs/serve.png comes from there)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers.checkpoints import features_folder
from tests.helpers.cli import cli_env
from tests.serve.browser import headless_chromium, require_browser
from tests.serve.server import running_server
from tests.serve.videos import write_video

QUERY = "a person opens the door"
WAIT = 90  # seconds for any one thing to appear on a busy machine
SCREENSHOT_DIR = os.environ.get("DRN_SERVE_SCREENSHOTS")
FEATURE_VIDEOS = {"kitchen": 30.0}

pytestmark = pytest.mark.slow


def start_predict(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "drn.cli", "predict", *args, "--query", QUERY], env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def predicted_windows(process: subprocess.Popen) -> list[list[float]]:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return json.loads(out)["results"][0]["pred_relevant_windows"]


@pytest.fixture(scope="module")
def site(video_checkpoint, videos_dir, tmp_path_factory):
    """The server (video checkpoint, --videos, a --features folder of its width), a browser, and
    `drn predict` started on the same inputs (it runs while the browser works)."""
    require_browser()
    root = tmp_path_factory.mktemp("browser")
    from drn.inference.grounder import Grounder

    settings = Grounder(video_checkpoint).extraction
    features = features_folder(root / "features", FEATURE_VIDEOS, feature_dim=settings["dim"], settings=settings)
    upload = write_video(root / "street.webm", seconds=6.0, size=96)
    references = {
        "features": start_predict(str(video_checkpoint), "--features", str(features / "kitchen.npy"),
                                  "--duration", str(FEATURE_VIDEOS["kitchen"])),
        "video": start_predict(str(video_checkpoint), "--video", str(upload)),
    }
    with running_server(str(video_checkpoint), "--features", str(features), "--videos", str(videos_dir)) as url, \
            headless_chromium() as driver:
        yield {"url": url, "driver": driver, "upload": upload, "references": references}
    for process in references.values():
        if process.poll() is None:
            process.kill()


def open_page(site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = site["driver"]
    driver.get(f"{site['url']}/")
    wait = WebDriverWait(driver, WAIT)
    wait.until(lambda d: len(Select(d.find_element(By.ID, "video-select")).options) > 1)
    return driver, wait


def ask(driver, wait, sentence: str) -> list[list[float]]:
    """Type `sentence`, press the button, wait for the timeline; the moments shown, top first."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    wait.until(ec.element_to_be_clickable((By.ID, "ground-button")))
    box = driver.find_element(By.ID, "queries")
    box.clear()
    box.send_keys(sentence)
    driver.find_element(By.ID, "ground-button").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#results .query-result .moment")))
    bars = driver.find_elements(By.CSS_SELECTOR, "#results .query-result .moment")
    return [[float(bar.get_attribute(f"data-{key}")) for key in ("start", "end", "score")] for bar in bars]


def shown_error(driver, wait) -> str:
    from selenium.webdriver.common.by import By

    wait.until(lambda d: d.find_element(By.ID, "error").is_displayed())
    return driver.find_element(By.ID, "error").text


def screenshot(driver, path) -> None:
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    if SCREENSHOT_DIR:
        os.makedirs(SCREENSHOT_DIR, exist_ok=True)
        shutil.copy(path, SCREENSHOT_DIR)


def test_upload_a_video_ground_it_and_play_a_moment(site, tmp_path):
    from selenium.webdriver.common.by import By

    driver, wait = open_page(site)
    driver.find_element(By.ID, "file-input").send_keys(str(site["upload"]))
    driver.find_element(By.ID, "upload-button").click()
    shown = ask(driver, wait, QUERY)
    assert shown == predicted_windows(site["references"]["video"])
    assert len(shown) == 5
    assert len(driver.find_elements(By.CSS_SELECTOR, "#results svg.curves polyline")) == 6  # match + IoU, 3 levels
    wait.until(lambda d: d.execute_script(
        "const t = [...document.querySelectorAll('#results img.thumb')];"
        "return t.length === 5 && t.every((i) => i.complete && i.naturalWidth > 0);"))
    start, end, _ = shown[0]
    driver.find_element(By.CSS_SELECTOR, "#results .moment[data-rank='1']").click()
    wait.until(lambda d: d.execute_script("const p = document.getElementById('player');"
                                          "return p.error === null && p.readyState >= 2;"))
    position = driver.execute_script("return document.getElementById('player').currentTime")
    assert start - 0.05 <= position <= end + 0.5
    screenshot(driver, tmp_path / "serve.png")


def test_pick_features_and_ground(site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, wait = open_page(site)
    Select(driver.find_element(By.ID, "video-select")).select_by_visible_text("kitchen (features)")
    driver.find_element(By.ID, "pick-button").click()
    assert ask(driver, wait, QUERY) == predicted_windows(site["references"]["features"])
    assert not driver.find_element(By.ID, "player").is_displayed()  # only features: nothing to play


def test_bad_files_get_a_message_and_the_page_keeps_working(site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, wait = open_page(site)
    Select(driver.find_element(By.ID, "video-select")).select_by_visible_text("notes (video)")
    driver.find_element(By.ID, "pick-button").click()
    assert "notes: cannot be opened" in shown_error(driver, wait)
    driver.find_element(By.ID, "file-input").send_keys(str(site["upload"].parent / "features" / "extract.json"))
    driver.find_element(By.ID, "upload-button").click()
    wait.until(lambda d: "extract: not a video file" in d.find_element(By.ID, "error").text)
    Select(driver.find_element(By.ID, "video-select")).select_by_visible_text("clip (video)")
    driver.find_element(By.ID, "pick-button").click()
    assert len(ask(driver, wait, QUERY)) == 5
    assert not driver.find_element(By.ID, "error").is_displayed()
