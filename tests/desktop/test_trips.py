"""A crew's trips end to end, on the ambulance laptop: the crew signs in and lands on My trips,
takes the next step with one tap, then loses the link: the next step is kept on the laptop with
its time and marked, and reaches the hub (which records its own time) once the link is back."""

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import shot, wait_for
from test_desktop import sign_in, text


def step_rows(driver):
    """The steps table as (step, laptop time, hub time) rows."""
    rows = driver.find_elements(By.CSS_SELECTOR, "#trip-steps tbody tr")
    return [tuple(td.text for td in row.find_elements(By.TAG_NAME, "td")) for row in rows]


def test_a_crew_takes_its_steps_online_and_offline(hub, app_factory):
    driver = app_factory()
    sign_in(driver, hub, "ems_crew", "metro-ems")
    driver.find_element(By.ID, "signin-password").send_keys(Keys.ENTER)
    wait_for(lambda: driver.find_element(By.ID, "trips-title"), what="My trips")
    wait_for(lambda: text(driver, "status-link") == "Online", timeout=30, what="online status")
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#trip-list li")) == 2, what="the unit's two trips")
    assert not driver.find_elements(By.ID, "nav-patients"), "a crew reads no patient list"
    wait_for(lambda: text(driver, "trip-status") == "Unit notified", what="the first trip open")

    driver.find_element(By.ID, "trip-next").click()
    wait_for(lambda: text(driver, "trip-status") == "En route", what="en route")
    # Synced: the hub's time appears beside the laptop's.
    wait_for(
        lambda: [r for r in step_rows(driver) if r[0] == "En route" and r[2] != "not sent yet"],
        timeout=30,
        what="en route on the hub",
    )

    hub.stop()
    try:
        wait_for(lambda: text(driver, "status-link") == "Offline", timeout=30, what="offline status")
        wait_for(lambda: driver.find_element(By.ID, "trips-offline"), what="the offline banner")
        driver.find_element(By.ID, "trip-next").click()
        wait_for(lambda: text(driver, "trip-status") == "At patient", what="at patient, offline")
        rows = step_rows(driver)
        assert rows[-1][0] == "At patient" and rows[-1][2] == "not sent yet", rows
        assert "to sync" in driver.find_element(By.CSS_SELECTOR, "#trip-list li").text
        shot(driver, "crew-trip-offline")
    finally:
        hub.start()
    wait_for(
        lambda: [r for r in step_rows(driver) if r[0] == "At patient" and r[2] != "not sent yet"],
        timeout=60,
        what="at patient on the hub",
    )
    trips = hub.api("ems_crew", "metro-ems").get(f"{hub.url}/v1/trips", timeout=10).json()["items"]
    assert sorted(t["status"] for t in trips) == ["assigned", "at_pickup"], trips
