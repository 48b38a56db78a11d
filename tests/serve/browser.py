"""A headless Chromium driven by Selenium: Debian's system browser and driver, nothing downloaded."""

from __future__ import annotations

import contextlib
import os
import shutil

import pytest

CHROMIUM = os.environ.get("DRN_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("DRN_CHROMEDRIVER", "/usr/bin/chromedriver")


def require_browser() -> None:
    """Skip (with how to fix it) where the system Chromium or its driver is missing; CI installs them."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        pytest.skip(f"no {' / '.join(missing)}: apt-get install chromium chromium-driver (.ci/run does)")
    pytest.importorskip("selenium", reason="pip install selenium (the test extra)")


@contextlib.contextmanager
def headless_chromium(width: int = 1100, height: int = 1400):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
                     f"--window-size={width},{height}", "--autoplay-policy=no-user-gesture-required",
                     "--disable-extensions", "--no-first-run", "--disable-background-networking"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
