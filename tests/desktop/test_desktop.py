"""The desktop app end to end: a real hub, the real app under Xvfb, driven by WebDriver."""

import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import shot, wait_for


def sign_in(driver, hub, role, tenant="northside-clinic"):
    email, password = hub.login(role, tenant)
    wait_for(lambda: driver.find_element(By.ID, "signin-email"), what="the sign-in form")
    hub_field = driver.find_element(By.ID, "signin-hub")
    assert hub_field.get_attribute("value") == hub.url, "the demo hub is filled in"
    driver.find_element(By.ID, "signin-email").send_keys(email)
    driver.find_element(By.ID, "signin-password").send_keys(password)
    return password


# ui/src/logic/history.ts OFFLINE_AFTER_MS: a synced change that reached the hub this much
# later than it was made is marked as made offline.
OFFLINE_AFTER_S = 60


def back(driver):
    """The screen's back link."""
    driver.find_element(By.CSS_SELECTOR, ".card > button.link").click()


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def edit_field(driver, name, value):
    """Opens the patient's form, replaces one field and saves; waits for the new value."""
    wait_for(lambda: driver.find_element(By.ID, "patient-edit"), what="the patient's detail").click()
    field = driver.find_element(By.ID, f"field-{name}")
    field.clear()
    field.send_keys(value)
    driver.find_element(By.ID, "patient-save").click()
    wait_for(lambda: text(driver, f"value-{name}") == value, what=f"the edit of {name}")


def test_front_desk_day_online_offline_and_back(hub, app_factory):
    driver = app_factory()
    sign_in(driver, hub, "doctor")
    shot(driver, "sign-in")
    driver.find_element(By.ID, "signin-password").send_keys(Keys.ENTER)
    wait_for(lambda: driver.find_element(By.ID, "patient-search"), what="the patient list")
    wait_for(lambda: text(driver, "status-link") == "Online", what="online status")
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#patient-results li")) > 0, what="patients")

    # Search as you type over the local copy.
    first = driver.find_elements(By.CSS_SELECTOR, "#patient-results li .name")[0].text
    family = first.split(",")[0]
    driver.find_element(By.ID, "patient-search").send_keys(family[:3])
    wait_for(
        lambda: all(
            family[:3].lower() in li.text.lower()
            for li in driver.find_elements(By.CSS_SELECTOR, "#patient-results li")
        ),
        what="filtered results",
    )
    shot(driver, "patient-list")

    # Create a patient, then edit it.
    driver.find_element(By.ID, "patient-new").click()
    form = {"mrn": "E2E-1", "given_name": "Edith", "family_name": "Endtoend", "birth_date": "1980-02-03"}
    for name, value in form.items():
        element = driver.find_element(By.ID, f"field-{name}")
        if name == "birth_date":
            driver.execute_script("arguments[0].value = arguments[1]", element, value)
        else:
            element.send_keys(value)
    driver.find_element(By.ID, "patient-save").click()
    wait_for(lambda: "Endtoend" in text(driver, "detail-title"), what="the new patient")
    edit_field(driver, "phone", "+1 555 0101")
    wait_for(lambda: text(driver, "status-pending") == "All changes synced", what="sync")
    shot(driver, "patient-detail")

    # The hub goes away: edit offline.
    hub.stop()
    edit_field(driver, "address", "1 Offline Road")
    edited_offline = time.monotonic()
    wait_for(lambda: text(driver, "status-link") == "Offline", what="offline status")
    wait_for(lambda: text(driver, "status-pending") == "1 change pending", what="one pending change")
    shot(driver, "offline-status")
    driver.find_element(By.ID, "patient-history").click()
    wait_for(lambda: driver.find_element(By.ID, "history-pending"), what="the not-yet-synced notice")
    back(driver)

    # Back online after more than a minute: the change syncs, the status clears, and the
    # history marks the version as made offline.
    time.sleep(max(0.0, OFFLINE_AFTER_S + 1 - (time.monotonic() - edited_offline)))
    hub.start()
    wait_for(lambda: text(driver, "status-pending") == "All changes synced", timeout=40, what="resync")
    wait_for(lambda: text(driver, "status-link") == "Online", what="online again")
    wait_for(lambda: text(driver, "value-address") == "1 Offline Road", what="the detail after the sync")
    driver.find_element(By.ID, "patient-history").click()
    offline_badge = wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, "#history-list li[data-version='3'] .badge.offline"),
        what="the offline mark on version 3",
    )
    assert "made offline" in offline_badge.text
    assert not driver.find_elements(By.CSS_SELECTOR, "#history-list li[data-version='2'] .badge.offline")
    assert not driver.find_elements(By.ID, "history-pending"), "nothing left to sync"
    shot(driver, "history")
    back(driver)

    api = hub.api("doctor")
    found = api.get(f"{hub.url}/v1/patients", params={"q": "Endtoend"}, timeout=10).json()
    items = found["items"] if isinstance(found, dict) else found
    patient = next(p for p in items if p["mrn"] == "E2E-1")
    assert patient["address"] == "1 Offline Road"
    assert patient["phone"] == "+1 555 0101"
    report = hub.api("auditor").get(f"{hub.url}/v1/reports/patients/{patient['id']}", timeout=10).json()
    actions = {e["action"] for e in report["accesses"]}
    assert "patient.update" in actions, actions
    assert any(v.get("device_id") for v in report["versions"]), "the edits came from the device"

    # A conflict made through the hub's API, resolved in the conflicts screen.
    api.patch(
        f"{hub.url}/v1/patients/{patient['id']}",
        json={"version": patient["version"], "phone": "+1 555 0199"},
        timeout=10,
    ).raise_for_status()
    hub.stop()
    edit_field(driver, "phone", "+1 555 0142")
    hub.start()
    wait_for(lambda: driver.find_element(By.ID, "status-conflicts").get_attribute("data-count") == "1", timeout=40, what="the conflict")
    driver.find_element(By.ID, "status-conflicts").click()
    wait_for(lambda: driver.find_element(By.ID, "conflict-list"), what="the conflicts screen")
    shot(driver, "conflicts")
    driver.find_element(By.CSS_SELECTOR, "[data-action=keep-mine]").click()
    wait_for(lambda: driver.find_element(By.ID, "conflicts-empty"), what="no conflicts left")
    wait_for(lambda: text(driver, "status-pending") == "All changes synced", timeout=40, what="the resolution synced")
    after = api.get(f"{hub.url}/v1/patients/{patient['id']}", timeout=10).json()
    assert after["phone"] == "+1 555 0142"


def test_idle_lock_and_unlock(hub, app_factory):
    driver = app_factory(idle_seconds=3)
    password = sign_in(driver, hub, "nurse", "st-mary-hospital")
    driver.find_element(By.ID, "signin-password").send_keys(Keys.ENTER)
    wait_for(lambda: driver.find_element(By.ID, "patient-search"), what="the patient list")
    wait_for(lambda: driver.find_element(By.ID, "unlock-password"), timeout=30, what="the idle lock")
    driver.find_element(By.ID, "unlock-password").send_keys("wrong password")
    driver.find_element(By.ID, "unlock-password").send_keys(Keys.ENTER)
    wait_for(lambda: "not correct" in driver.find_element(By.CSS_SELECTOR, ".form-error").text, what="refusal")
    field = driver.find_element(By.ID, "unlock-password")
    field.clear()
    field.send_keys(password)
    field.send_keys(Keys.ENTER)
    wait_for(lambda: driver.find_element(By.ID, "patient-search"), what="unlocked")
    driver.find_element(By.ID, "lock-button").click()
    wait_for(lambda: driver.find_element(By.ID, "unlock-password"), what="locked by the button")


def test_front_desk_sees_no_clinical_fields(hub, app_factory):
    driver = app_factory()
    sign_in(driver, hub, "front_desk")
    driver.find_element(By.ID, "signin-password").send_keys(Keys.ENTER)
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#patient-results li")) > 0, what="patients")
    driver.find_elements(By.CSS_SELECTOR, "#patient-results li")[0].click()
    wait_for(lambda: driver.find_element(By.ID, "value-mrn"), what="the detail")
    for clinical in ["bmi", "stroke", "hypertension", "avg_glucose_level", "smoking_status"]:
        assert not driver.find_elements(By.ID, f"value-{clinical}")
    assert "BMI" not in driver.find_element(By.TAG_NAME, "body").text
