"""The console's flows in headless Chromium against `herald run` and its simulator: sign in,
create a campaign from a file, watch it complete, suspend and resume, the report, the export;
the address book and the operations page; another account's campaign is not there."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import Herald
from tests.browser.pages import actions, fetch_text, shows, sign_in, text_of, wait_for

ROWS = 30


def _recipients_file(folder: Path) -> Path:
    path = folder / "customers.csv"
    lines = ["phone,Name,City"]
    lines += [f"+30694853{i:04d},Person {i},Athens" for i in range(ROWS)]
    lines += ["12,Bad,Nowhere", "+306948530000,Duplicate,Athens"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_signing_in_with_a_wrong_key_says_so_and_signing_out_ends_the_session(
    browser: Any, herald: Herald
) -> None:
    browser.get(herald.url + "/ui/campaigns")
    wait_for(browser, seen.presence_of_element_located((By.ID, "api_key")))
    browser.find_element(By.ID, "api_key").send_keys("hk_not-a-key")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(browser, shows("#key-error", "unknown API key"))
    assert browser.find_element(By.ID, "api_key").get_attribute("aria-invalid") == "true"

    sign_in(browser, herald.url, herald.keys["shop"])
    cookie = browser.get_cookie("herald_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert herald.keys["shop"] not in cookie["value"]  # the key is never in the cookie
    browser.find_element(By.CSS_SELECTOR, "form.who button").click()
    wait_for(browser, shows(".alert", "You are signed out"))
    browser.get(herald.url + "/ui/campaigns")
    wait_for(browser, seen.presence_of_element_located((By.ID, "api_key")))


def test_a_campaign_from_a_file_completes_with_its_report_and_export(
    browser: Any, herald: Herald, tmp_path: Path
) -> None:
    sign_in(browser, herald.url, herald.keys["shop"])
    browser.get(herald.url + "/ui/campaigns/new")
    browser.find_element(By.ID, "name").send_keys("Spring file")
    Select(browser.find_element(By.ID, "sender")).select_by_value("Shop")
    browser.find_element(By.ID, "message").send_keys("Hi %Name%, see you in [~City]!")
    browser.find_element(By.ID, "sample_name").send_keys("Maria")
    browser.find_element(By.ID, "sample_labels").send_keys("City = Patras")
    wait_for(browser, shows("#preview-text", "Hi Maria, see you in Patras!"))
    assert text_of(browser, "#preview-encoding") == "GSM-7"
    assert text_of(browser, "#preview-segments") == "1"
    browser.find_element(By.ID, "message").send_keys(" ç")  # not in GSM-7's default table
    wait_for(browser, shows("#preview-ucs2", "UCS-2 because of: ç"))
    assert text_of(browser, "#preview-encoding") == "UCS-2"
    browser.find_element(By.ID, "message").send_keys("\b\b")
    wait_for(browser, shows("#preview-encoding", "GSM-7"))

    # A tracked link to a page of this server (the tests reach nothing else).
    browser.find_element(By.ID, "message").send_keys(" %Link%")
    browser.find_element(By.ID, "track_link_url").send_keys(herald.url + "/ui/static/favicon.svg")
    wait_for(browser, shows("#preview-text", f"Patras! {herald.url}/l/"))

    browser.find_element(By.CSS_SELECTOR, "details.mapping summary").click()
    browser.find_element(By.ID, "name_column").send_keys("Name")
    browser.find_element(By.ID, "file").send_keys(str(_recipients_file(tmp_path)))
    wait_for(browser, shows("#review-file", f"{ROWS + 2} rows, {ROWS} good, 2 bad"))
    assert "row 32" in text_of(browser, "#review-file")  # the bad rows, by row number
    wait_for(browser, shows("#review-needed", f"up to {ROWS}"))
    assert "Enough credit" in text_of(browser, "#review-verdict")
    browser.find_element(By.XPATH, "//input[@name='respect_quiet_hours']").click()  # off
    browser.find_element(By.ID, "create").click()

    wait_for(browser, shows(".alert", "Campaign created."))
    assert f"{ROWS} message(s) queued" in text_of(browser, ".alert")
    assert "2 bad file row(s) left out" in text_of(browser, ".alert")
    wait_for(browser, shows("#status", "Completed"))
    wait_for(browser, shows('[data-count="delivered"]', str(ROWS)))
    assert text_of(browser, '[data-count="delivery_rate"]') == "100.0%"
    charts = browser.find_elements(By.CSS_SELECTOR, "#report-h ~ .charts svg.chart")
    assert "Messages by status" in [c.get_attribute("aria-label") for c in charts]
    wait_for(browser, lambda b: actions(b) == ["run", "delete"])  # what completed allows

    messages = browser.find_elements(By.CSS_SELECTOR, "#message-table > tbody > tr")
    assert len(messages) == ROWS
    messages[0].find_element(By.TAG_NAME, "summary").click()
    wait_for(browser, shows("#message-table table.parts", "delivered"))
    sent = text_of(browser, "#message-table .message-text")
    assert sent.startswith("Hi Person 0, see you in Athens! ")
    timeline = "Messages sent, delivered, failed and clicked over time"
    assert browser.find_elements(By.CSS_SELECTOR, f'svg[aria-label="{timeline}"]')

    page = browser.current_url
    browser.get(sent.rsplit(" ", 1)[1])  # the recipient opens the tracked link
    wait_for(browser, lambda b: b.current_url.endswith("/ui/static/favicon.svg"))

    def clicked(b: Any) -> bool:
        # Clicks are written every [links] flush_interval, and the page's summary and report
        # are each reused for a while (docs/console.md): wait until both show it.
        b.get(page)
        return "1 (1 unique of 30 links, 3.3%)" in text_of(b, "#report-facts") and (
            text_of(b, '[data-count="clicks"]') == "1"
        )

    wait_for(browser, clicked)

    path = browser.find_element(By.LINK_TEXT, "Export CSV").get_attribute("href")
    status, body = fetch_text(browser, path)
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == ROWS
    assert {r["status"] for r in rows} == {"delivered"}
    assert rows[0]["phone"] == "+306948530000"
    assert all(r["smsc_message_ids"] for r in rows)
    assert [r["clicks"] for r in rows].count("1") == 1

    browser.get(herald.url + "/ui/campaigns?name=spring")
    row = wait_for(browser, lambda b: b.find_element(By.CSS_SELECTOR, "#campaigns tbody tr"))
    assert "Spring file" in row.text and "Completed" in row.text and "100.0%" in row.text


def test_suspend_resume_and_stop_follow_the_campaign_state(browser: Any, herald: Herald) -> None:
    sign_in(browser, herald.url, herald.keys["shop"])
    browser.get(herald.url + "/ui/campaigns/new")
    Select(browser.find_element(By.ID, "sender")).select_by_value("Shop")
    browser.find_element(By.ID, "message").send_keys("Held by quiet hours all day")
    browser.find_element(By.ID, "to").send_keys("+306948531000\n+306948531001\nnot-a-number")
    wait_for(browser, shows("#review-file", "1 invalid number(s): not-a-number"))
    browser.find_element(By.ID, "create").click()
    # Refused as the API refuses it: the form comes back with the number named.
    wait_for(browser, shows("#form-error", "not-a-number"))
    assert browser.find_element(By.ID, "message").get_attribute("value") == (
        "Held by quiet hours all day"
    )
    browser.find_element(By.ID, "to").clear()
    browser.find_element(By.ID, "to").send_keys("+306948531000\n+306948531001")
    quiet = browser.find_element(By.ID, "quiet_hours")
    quiet.clear()
    quiet.send_keys("00:00-23:59")  # every message waits: the campaign stays running
    browser.find_element(By.ID, "create").click()

    wait_for(browser, shows("#status", "Running"))
    wait_for(browser, shows('[data-count="deferred"]', "2"))
    browser.find_element(By.CSS_SELECTOR, "button[data-action=suspend]").click()
    wait_for(browser, shows("#status", "Suspended"))
    wait_for(browser, lambda b: actions(b) == ["resume", "stop"])
    browser.find_element(By.CSS_SELECTOR, "button[data-action=resume]").click()
    wait_for(browser, shows("#status", "Running"))
    browser.find_element(By.CSS_SELECTOR, "button[data-action=stop]").click()
    wait_for(browser, seen.alert_is_present()).accept()  # "Stop this campaign? ..."
    wait_for(browser, shows("#status", "Stopped"))
    assert "2 message(s) not sent were stopped" in text_of(browser, ".alert")
    wait_for(browser, shows('[data-count="stopped"]', "2"))


def test_another_accounts_campaign_is_not_found(browser: Any, herald: Herald) -> None:
    with herald.api("rival") as api:
        made = api.post(
            "/campaigns",
            json={
                "sender": "Rival",
                "message": "theirs",
                "to": ["+306948532000"],
                "scheduled_at": "2099-01-01T00:00:00Z",
            },
        )
        made.raise_for_status()
    theirs = made.json()["id"]
    sign_in(browser, herald.url, herald.keys["shop"])
    browser.get(f"{herald.url}/ui/campaigns/{theirs}")
    wait_for(browser, shows("h1", "Not found"))
    status, _ = fetch_text(browser, f"/ui/campaigns/{theirs}/export.csv")
    assert status == 404
    browser.get(herald.url + "/ui/campaigns")
    assert "theirs" not in browser.page_source


def test_the_address_book_pages_add_search_and_remove(browser: Any, herald: Herald) -> None:
    sign_in(browser, herald.url, herald.keys["shop"])
    browser.get(herald.url + "/ui/senders")
    browser.find_element(By.ID, "s-address").send_keys("Acme\nBad@Sender")
    browser.find_element(By.CSS_SELECTOR, "form.stack button").click()
    wait_for(browser, shows(".alert.ok", "added: Acme"))
    assert "'@'" in text_of(browser, ".alert.error")  # the rule broken, named

    browser.get(herald.url + "/ui/groups")
    browser.find_element(By.ID, "g-name").send_keys("Regulars")
    browser.find_element(By.CSS_SELECTOR, "form.stack button").click()
    wait_for(browser, shows("#group-table", "Regulars"))

    browser.get(herald.url + "/ui/contacts")
    browser.find_element(By.ID, "c-phone").send_keys("+30 694 853 3000")
    browser.find_element(By.ID, "c-name").send_keys("Eleni")
    browser.find_element(By.ID, "c-labels").send_keys("code = EL20")
    browser.find_element(By.CSS_SELECTOR, "form.stack[action$='/contacts'] button").click()
    wait_for(browser, shows(".alert.ok", "contact +306948533000 added"))
    browser.find_element(By.ID, "s-name").send_keys("elen")
    browser.find_element(By.CSS_SELECTOR, "form[role=search] button").click()
    wait_for(browser, shows("#contact-table", "code: EL20"))
    browser.find_element(By.CSS_SELECTOR, "#contact-table input[type=checkbox]").click()
    Select(browser.find_element(By.ID, "bulk-group")).select_by_visible_text("Regulars")
    browser.find_element(By.CSS_SELECTOR, "button[value=add]").click()
    wait_for(browser, shows(".alert.ok", "1 contact(s) added to the group"))
    assert "Eleni" in text_of(browser, "#contact-table")  # the group's members

    browser.get(herald.url + "/ui/blacklist")
    browser.find_element(By.ID, "b-phones").send_keys("+306948539999")
    browser.find_element(By.CSS_SELECTOR, "form.stack button").click()
    wait_for(browser, shows(".alert.ok", "1 number(s) on the blacklist"))
    browser.find_element(By.ID, "b-search").send_keys("+30 694 853 9999")
    browser.find_element(By.CSS_SELECTOR, "form[role=search] button").click()
    wait_for(browser, shows("#lookup", "+306948539999 is on the blacklist"))
    browser.find_element(By.CSS_SELECTOR, "#lookup button").click()
    wait_for(browser, shows(".alert.ok", "+306948539999 may be sent to again"))


def test_the_operations_page_shows_the_bind_bound(browser: Any, herald: Herald) -> None:
    sign_in(browser, herald.url, herald.keys["shop"])
    browser.get(herald.url + "/ui/operations")
    wait_for(browser, shows('tr[data-bind="simulator"] [data-field=state]', "bound"))
    assert text_of(browser, 'tr[data-bind="simulator"] [data-field=rotation]') == "in"
    # The rate is worked out from two readings: it appears once the page has refreshed.
    wait_for(
        browser, lambda b: text_of(b, 'tr[data-bind="simulator"] [data-field=sent_rate]') != "—"
    )
