"""Debian's chromium, headless, driven by Selenium through /usr/bin/chromedriver.

Both paths are given explicitly, so Selenium Manager never runs and nothing is
downloaded. One browser serves a whole test session (``tests/web/conftest.py``);
each test starts from a clean slate with :func:`fresh_start`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Final

CHROMIUM: Final = "/usr/bin/chromium"
CHROMEDRIVER: Final = "/usr/bin/chromedriver"
SCREENSHOTS: Final = Path(__file__).resolve().parents[2] / "test-output" / "web"


def missing() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing: run 'bash scripts/setup.sh --screen' (Debian chromium)"
    return None


def start_chromium(profile: Path, width: int = 1100, height: int = 1500) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",  # the suite runs as root in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
        "--password-store=basic",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "--lang=en-GB",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=os.devnull)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    return driver


def console_errors(driver: Any) -> list[str]:
    """Console messages of level SEVERE since the last call (CSP violations land here)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # the whole page, not only the window, so every section is in the picture
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, max(400, int(height) + 140))
    driver.save_screenshot(str(path))
    return path


def clean_profile(profile: Path) -> None:
    shutil.rmtree(profile, ignore_errors=True)
