"""A real headless Chromium for the browser tests: Debian's chromium and chromium-driver,
driven by Selenium (no browser download). Screenshots go to test-artifacts/.

Outside CI a machine without them skips the browser tests, saying how to install them;
with CI=true their absence fails the run (.ci/run installs them)."""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
INSTALL = "apt-get install chromium chromium-driver"


def chromium_paths() -> tuple[str, str]:
    """Paths of chromium and chromedriver, or a skip (a failure in CI) saying what is
    missing. Call it from a test or fixture body, never at import."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    message = f"The browser tests need Chromium and chromedriver: {INSTALL}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (.ci/run installs them).")
    pytest.skip(message)


@contextmanager
def chromium(*, width: int = 1400, height: int = 1600, language: str | None = None) -> Iterator:
    browser_path, driver_path = chromium_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    if language:
        # What the browser sends as Accept-Language, as a staff user's own browser would.
        options.add_argument(f"--lang={language}")
        options.add_experimental_option("prefs", {"intl.accept_languages": language})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def admin_login(driver, live_server, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{live_server.url}/admin/login/?next=/admin/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert driver.find_element(By.ID, "user-tools")
