"""What the browser tests do on the console's pages: sign in, wait for text, read cells."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 60.0  # the longest any page condition may take (a campaign to complete)


# chromedriver's word for an element whose page was replaced while it was being read, raised
# as a plain WebDriverException rather than StaleElementReferenceException.
DETACHED = "does not belong to the document"


def wait_for(browser: Any, condition: Callable[[Any], Any], within: float = WAIT) -> Any:
    """Until `condition` holds; a page being replaced meanwhile (a form sent, a refresh) is
    looked at again."""

    def again_if_replaced(b: Any) -> Any:
        try:
            return condition(b)
        except WebDriverException as exc:
            if DETACHED in str(exc):
                return False
            raise

    return WebDriverWait(
        browser,
        within,
        poll_frequency=0.1,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    ).until(again_if_replaced)


def actions(browser: Any) -> list[str]:
    """The campaign page's lifecycle buttons, in order."""
    return [
        str(b.get_attribute("data-action"))
        for b in browser.find_elements(By.CSS_SELECTOR, "#actions button")
    ]


def sign_in(browser: Any, url: str, key: str) -> None:
    browser.get(url + "/ui/sign-in")
    field = browser.find_element(By.ID, "api_key")
    field.clear()
    field.send_keys(key)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(browser, seen.presence_of_element_located((By.CSS_SELECTOR, "form.who")))


def text_of(browser: Any, css: str) -> str:
    """The element's text; read again if its page replaced it meanwhile (a live refresh)."""
    for _ in range(5):
        try:
            return str(browser.find_element(By.CSS_SELECTOR, css).text)
        except StaleElementReferenceException:
            continue
        except WebDriverException as exc:
            if DETACHED not in str(exc):
                raise
    raise AssertionError(f"{css} was replaced five times while being read")


def shows(css: str, text: str) -> Callable[[Any], bool]:
    """The element's text contains `text` (for WebDriverWait)."""

    def check(browser: Any) -> bool:
        found = browser.find_elements(By.CSS_SELECTOR, css)
        return any(text in e.text for e in found)

    return check


def fetch_text(browser: Any, path: str) -> tuple[int, str]:
    """GET `path` from the page, with its cookies (as a download would)."""
    status, body = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'})"
        ".then(r => r.text().then(t => done([r.status, t])))",
        path,
    )
    return int(status), str(body)
