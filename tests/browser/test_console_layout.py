"""The console's main pages at a laptop's width and a phone's: nothing wider than the screen
(wide tables scroll inside their own box), and the screenshots the README shows.

`HERALD_SCREENSHOTS=docs/images` writes the screenshots there (how docs/images/console-*.png
are made); otherwise they go to the test's temporary folder and are only checked to be PNGs.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By

from tests.browser.conftest import Herald
from tests.browser.pages import shows, sign_in, wait_for

LAPTOP = (1280, 800)
PHONE = (390, 844)  # CSS pixels of a common phone
PNG = b"\x89PNG\r\n\x1a\n"
MAX_SHOT = 2000  # tallest screenshot, in CSS pixels: the top of a long page is what it shows


def _emulate(browser: Any, size: tuple[int, int], *, mobile: bool) -> None:
    width, height = size
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )


def _overflow(browser: Any) -> int:
    """How many CSS pixels the page is wider than the screen (0: it fits)."""
    return int(
        browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    )


def _shoot(browser: Any, path: Path, width: int, *, tallest: int = MAX_SHOT) -> None:
    height = min(int(browser.execute_script("return document.body.scrollHeight")), tallest)
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        },
    )
    data = base64.b64decode(shot["data"])
    assert data.startswith(PNG)
    path.write_bytes(data)


def _campaign_with_clicks(browser: Any, herald: Herald) -> int:
    """A completed campaign whose tracked links some recipients opened."""
    numbers = [f"+30694854{i:04d}" for i in range(40)]
    with herald.api("shop") as api:
        made = api.post(
            "/campaigns",
            json={
                "name": "Spring sale",
                "sender": "Shop",
                "message": "Hi %Name%, 20% off this week: %Link%",
                "recipients": [
                    {"phone": n, "name": f"Customer {i}"} for i, n in enumerate(numbers)
                ],
                "track_link_url": herald.url + "/ui/static/favicon.svg",
                "respect_quiet_hours": False,
            },
        )
        assert made.status_code == 201, made.text
        campaign = int(made.json()["id"])
    browser.get(f"{herald.url}/ui/campaigns/{campaign}")
    wait_for(browser, shows("#status", "Completed"))
    with herald.api("shop") as api:
        items = api.get(f"/campaigns/{campaign}/messages", params={"page_size": 10}).json()
    for message in items["items"][::3]:  # a third of the first ten open their link
        browser.get(message["text"].rsplit(" ", 1)[1])
        wait_for(browser, lambda b: b.current_url.endswith("/favicon.svg"))
    return campaign


def test_main_pages_fit_a_laptop_and_a_phone(browser: Any, herald: Herald, tmp_path: Path) -> None:
    folder = Path(os.environ.get("HERALD_SCREENSHOTS") or tmp_path)
    sign_in(browser, herald.url, herald.keys["shop"])
    campaign = _campaign_with_clicks(browser, herald)
    pages = {
        "campaigns": "/ui/campaigns",
        "campaign": f"/ui/campaigns/{campaign}",
        "new-campaign": "/ui/campaigns/new",
        "operations": "/ui/operations",
        "contacts": "/ui/contacts",
    }
    try:
        for size, mobile in ((LAPTOP, False), (PHONE, True)):
            _emulate(browser, size, mobile=mobile)
            for name, path in pages.items():
                browser.get(herald.url + path)
                wait_for(browser, lambda b: b.find_element(By.TAG_NAME, "main"))
                if name == "campaign":  # every recipient's click is written within 0.5 s
                    wait_for(browser, lambda b: _reload_until_clicked(b))
                if name == "new-campaign" and not mobile:  # the form as someone fills it in
                    _fill_in(browser, herald)
                assert _overflow(browser) <= 0, f"{path} is wider than {size[0]} px"
                if mobile and name == "campaign":
                    _shoot(browser, folder / "console-campaign-phone.png", size[0], tallest=1800)
                elif not mobile and name != "contacts":
                    _shoot(browser, folder / f"console-{name}.png", size[0])
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _fill_in(browser: Any, herald: Herald) -> None:
    browser.find_element(By.ID, "message").send_keys("Hi %Name%, 20% off this week: %Link%")
    browser.find_element(By.ID, "track_link_url").send_keys("https://shop.example.com/spring")
    browser.find_element(By.ID, "to").send_keys("+306948530920\n+447400123456")
    browser.find_element(By.ID, "sample_name").send_keys("Maria")
    wait_for(browser, shows("#preview-text", f"Hi Maria, 20% off this week: {herald.url}/l/"))
    wait_for(browser, shows("#review-needed", "2"))


def _reload_until_clicked(browser: Any) -> bool:
    if "4 (4 unique" in browser.find_element(By.ID, "report-facts").text:
        return True
    browser.refresh()
    return False
