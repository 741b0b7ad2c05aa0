"""What a person does on the page, as Selenium steps that wait on what the page
shows (never on time)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from tests.support.browser import console_errors, screenshot

WAIT = 15.0


def until(driver: Any, condition: Callable[[Any], Any], what: str, wait: float = WAIT) -> Any:
    return WebDriverWait(driver, wait, poll_frequency=0.05).until(
        condition, f"the page never showed {what}"
    )


def text(driver: Any, element_id: str) -> str:
    value: str = driver.find_element(By.ID, element_id).text
    return value


def status(driver: Any) -> str:
    return text(driver, "status")


def wait_status(driver: Any, prefix: str, wait: float = WAIT) -> str:
    until(driver, lambda d: status(d).startswith(prefix), f"the status {prefix!r}", wait)
    return status(driver)


def wait_text(driver: Any, element_id: str, part: str, wait: float = WAIT) -> str:
    until(driver, lambda d: part in text(d, element_id), f"{part!r} in #{element_id}", wait)
    return text(driver, element_id)


def visible(driver: Any, element_id: str) -> bool:
    shown: bool = driver.find_element(By.ID, element_id).is_displayed()
    return shown


def click(driver: Any, element_id: str) -> None:
    element = driver.find_element(By.ID, element_id)
    until(driver, lambda d: element.is_displayed() and element.is_enabled(), f"#{element_id}")
    element.click()


def open_page(driver: Any, base_url: str) -> None:
    driver.get(base_url + "/")
    until(driver, lambda d: not visible(d, "loading"), "the page after loading")


def sign_in(driver: Any, base_url: str, email: str, password: str) -> None:
    open_page(driver, base_url)
    until(driver, lambda d: visible(d, "signin-view"), "the sign-in form")
    driver.find_element(By.ID, "signin-email").clear()
    driver.find_element(By.ID, "signin-email").send_keys(email)
    driver.find_element(By.ID, "signin-password").send_keys(password)
    click(driver, "signin-submit")
    until(driver, lambda d: visible(d, "main-view"), "the signed-in page")
    until(driver, lambda d: not status(d).startswith("Connecting"), "a status from the relay")


def connect_zoom(driver: Any, base_url: str, zoom_email: str) -> None:
    """Connect (or Reconnect) on the Zoom tile: the browser follows the relay's
    authorize URL through the local Zoom to the callback, then comes back."""
    click(driver, "zoom-connect")
    until(driver, lambda d: "/oauth/zoom/callback" in d.current_url, "the Zoom callback")
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "connected" in body.lower(), body
    open_page(driver, base_url)
    wait_text(driver, "zoom-status", f"Connected as {zoom_email}")


def shot(driver: Any, name: str) -> None:
    """Save a screenshot of the page as it is now (test-output/web/NAME.png)."""
    screenshot(driver, name)


def assert_clean_console(driver: Any, allowed: tuple[str, ...] = ()) -> None:
    """No console errors (CSP violations, script errors) except ``allowed`` parts."""
    errors = [e for e in console_errors(driver) if not any(part in e for part in allowed)]
    assert errors == [], errors
