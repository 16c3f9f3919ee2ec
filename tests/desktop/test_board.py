"""The transport board in the real app, one role at a time: an EMS dispatcher bids on an open
request with one of the agency's units, sees a new request the moment it is published, takes
a unit out of service and back, and plans a unit's shifts offline; the hospital's coordinator
drafts a request in the form, publishes it and cancels it with a reason, and sees the bids
side by side and accepts one (the trip goes to that agency); the transport center opens on
the report and its charts. The board never shows a patient."""

import time
from datetime import datetime, timedelta, timezone

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from conftest import shot, wait_for
from test_desktop import sign_in, text

COUNTY = ("ems_dispatcher", "county-ems")


def open_entries(hub):
    """The open board as County EMS sees it, levels its units cover (ALS at most)."""
    board = hub.api(*COUNTY).get(f"{hub.url}/v1/board?status=published", timeout=10).json()["items"]
    return [e for e in board if e["level"] in ("BLS", "ALS")]


def county_unit(hub, level):
    units = hub.api(*COUNTY).get(f"{hub.url}/v1/units", timeout=10).json()["items"]
    rank = {"BLS": 0, "ALS": 1, "CCT": 2}
    return next(u for u in units if u["status"] != "out_of_service" and rank[u["level"]] >= rank[level])


def test_a_dispatcher_bids_on_the_board_with_a_unit_and_an_eta(hub, app_factory):
    driver = app_factory()
    sign_in(driver, hub, *COUNTY)
    driver.find_element(By.ID, "signin-password").send_keys(Keys.ENTER)
    wait_for(lambda: driver.find_element(By.ID, "board-title"), what="the board, a dispatcher's first screen")
    entry = open_entries(hub)[-1]
    row = wait_for(lambda: driver.find_element(By.ID, f"entry-{entry['id']}"), what="the open entry")
    row.click()
    wait_for(lambda: driver.find_element(By.ID, "bid-form"), what="the bid form")
    unit = county_unit(hub, entry["level"])
    Select(driver.find_element(By.ID, "bid-unit")).select_by_value(unit["id"])
    eta = driver.find_element(By.ID, "bid-eta")
    eta.clear()
    eta.send_keys("12")
    driver.find_element(By.ID, "bid-notes").send_keys("crew of two, stair chair")
    driver.find_element(By.ID, "bid-submit").click()
    wait_for(lambda: "submitted" in text(driver, "entry-bids"), what="the bid, submitted")
    assert unit["call_sign"] in text(driver, "entry-bids")
    shot(driver, "dispatcher-board")
    bids = hub.api(*COUNTY).get(f"{hub.url}/v1/board/{entry['id']}/bids", timeout=10).json()["items"]
    assert [(b["unit"], b["eta_minutes"], b["status"]) for b in bids] == [(unit["call_sign"], 12, "submitted")]


def test_a_dispatchers_board_shows_a_request_as_soon_as_it_is_published(hub, app_factory):
    driver = app_factory()
    sign_in(driver, hub, *COUNTY)
    driver.find_element(By.ID, "signin-password").send_keys(Keys.ENTER)
    wait_for(lambda: driver.find_element(By.ID, "board-entries"), what="the open board")
    wait_for(
        lambda: driver.find_element(By.ID, "status-link").get_attribute("data-live") == "true",
        timeout=30,
        what="the app following the hub's announcements",
    )
    # The hospital publishes a new request from elsewhere (its own desk, over the API).
    hospital = hub.api("transport_coordinator", "st-mary-hospital")
    patient = hospital.get(f"{hub.url}/v1/patients?limit=1", timeout=10).json()["items"][0]
    facilities = hospital.get(f"{hub.url}/v1/facilities", timeout=10).json()["items"]
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=5)
    draft = hospital.post(
        f"{hub.url}/v1/transport-requests",
        json={
            "patient_id": patient["id"], "origin_facility_id": facilities[0]["id"],
            "destination_facility_id": facilities[1]["id"], "level": "BLS", "priority": "emergent",
            "pickup_from": start.isoformat(), "pickup_to": (start + timedelta(hours=1)).isoformat(),
        },
        timeout=10,
    )
    assert draft.status_code == 201, draft.text
    published = time.monotonic()
    entry = hospital.post(f"{hub.url}/v1/transport-requests/{draft.json()['id']}/publish", json={}, timeout=10).json()
    # Announced over server-sent events: well before the board's one-minute safety reread.
    wait_for(lambda: driver.find_element(By.ID, f"entry-{entry['board_entry_id']}"), timeout=10, what="the new entry, live")
    print(f"published -> on the dispatcher's board in {time.monotonic() - published:.2f} s")
    assert patient["family_name"] not in text(driver, "board-entries")


def test_a_dispatcher_takes_a_unit_out_of_service_and_back(hub, app_factory):
    dispatch = hub.api(*COUNTY)

    def status(unit_id):
        return dispatch.get(f"{hub.url}/v1/units/{unit_id}", timeout=10).json()["status"]

    unit = next(u for u in dispatch.get(f"{hub.url}/v1/units", timeout=10).json()["items"] if u["status"] == "available")
    driver = app_factory()
    sign_in(driver, hub, *COUNTY)
    driver.find_element(By.ID, "signin-password").send_keys(Keys.ENTER)
    wait_for(lambda: driver.find_element(By.ID, "nav-units"), what="the units' link").click()
    wait_for(lambda: driver.find_element(By.ID, f"unit-out-{unit['id']}"), what="the unit, in service").click()
    wait_for(lambda: status(unit["id"]) == "out_of_service", what="out of service on the hub (synced)")
    button = wait_for(lambda: driver.find_element(By.ID, f"unit-available-{unit['id']}"), what="the unit, out of service")
    assert "out of service" in text(driver, f"unit-{unit['id']}")
    shot(driver, "dispatcher-units")
    button.click()
    wait_for(lambda: status(unit["id"]) == "available", what="back in service on the hub")


def choose(driver, element_id, value):
    """Selects `value` in a select the screen may still be drawing again (its first reads)."""

    def chosen():
        Select(driver.find_element(By.ID, element_id)).select_by_value(value)
        return Select(driver.find_element(By.ID, element_id)).first_selected_option.get_attribute("value") == value

    wait_for(chosen, what=f"{value} chosen in {element_id}")


def set_input(driver, element_id, value):
    """Types into a date or time input as the app reads it (WebKit's pickers take no keys)."""
    element = driver.find_element(By.ID, element_id)
    driver.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
        element,
        value,
    )


def test_a_dispatcher_plans_a_units_shifts_offline(hub, app_factory):
    dispatch = hub.api(*COUNTY)

    def shifts(unit_id):
        page = dispatch.get(f"{hub.url}/v1/unit-shifts?unit_id={unit_id}", timeout=10).json()
        return [(s["start"], s["status"]) for s in page["items"]]

    units = dispatch.get(f"{hub.url}/v1/units", timeout=10).json()["items"]
    crewed = next(u for u in units if u["crew_user_ids"] and u["status"] != "out_of_service")
    unit = next(u for u in units if not u["crew_user_ids"] and u["status"] != "out_of_service")
    before = shifts(unit["id"])
    driver = app_factory()
    sign_in(driver, hub, *COUNTY)
    driver.find_element(By.ID, "signin-password").send_keys(Keys.ENTER)
    wait_for(lambda: driver.find_element(By.ID, "nav-units"), what="the units' link").click()
    # The demo's crewed unit is on shift now; the other starts tomorrow.
    wait_for(lambda: text(driver, f"unit-shift-{crewed['id']}").startswith("on shift until"), what="on shift now")
    assert text(driver, f"unit-shift-{unit['id']}").startswith("off shift · next")
    wait_for(lambda: text(driver, "status-link") == "Online", timeout=30, what="online status")

    day = (datetime.now() + timedelta(days=3)).strftime("%Y-%m-%d")
    hub.stop()
    try:
        wait_for(lambda: text(driver, "status-link") == "Offline", timeout=30, what="offline status")
        driver.find_element(By.ID, f"unit-shifts-{unit['id']}").click()
        wait_for(lambda: driver.find_element(By.ID, "shift-form"), what="the unit's shifts")
        for field, value in [("shift-date", day), ("shift-start", "19:00"), ("shift-end", "07:00")]:
            set_input(driver, field, value)
        driver.find_element(By.ID, "shift-notes").send_keys("night cover")
        driver.find_element(By.ID, "shift-plan").click()
        wait_for(lambda: "night cover" in text(driver, "shifts"), what="the night shift, planned offline")
        assert "to sync" in text(driver, "shifts")
        # Overlapping it: refused here, nothing kept.
        set_input(driver, "shift-start", "23:00")
        set_input(driver, "shift-end", "03:00")
        driver.find_element(By.ID, "shift-plan").click()
        wait_for(lambda: "already has a shift" in text(driver, "shift-error"), what="the overlap, refused")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#shifts li[id^=shift-]")) == len(before) + 1
        shot(driver, "dispatcher-shifts")
    finally:
        hub.start()
    wait_for(lambda: len(shifts(unit["id"])) == len(before) + 1, timeout=60, what="the shift on the hub (synced)")
    night = next(s for s in shifts(unit["id"]) if s not in before)
    assert night[1] == "planned"
    start = datetime.fromisoformat(night[0].replace("Z", "+00:00")).astimezone()
    assert (start.strftime("%Y-%m-%d"), start.hour) == (day, 19), night
    wait_for(lambda: "to sync" not in text(driver, "shifts"), timeout=30, what="synced in the app too")
    planned = [li for li in driver.find_elements(By.CSS_SELECTOR, "#shifts li[id^=shift-]") if "night cover" in li.text]
    planned[0].find_element(By.TAG_NAME, "button").click()
    wait_for(lambda: (night[0], "cancelled") in shifts(unit["id"]), timeout=30, what="cancelled on the hub")


def test_the_coordinator_drafts_publishes_and_cancels_a_request(hub, app_factory):
    hospital = hub.api("transport_coordinator", "st-mary-hospital")
    patient = hospital.get(f"{hub.url}/v1/patients?limit=1", timeout=10).json()["items"][0]
    driver = app_factory()
    sign_in(driver, hub, "transport_coordinator", "st-mary-hospital")
    driver.find_element(By.ID, "signin-password").send_keys(Keys.ENTER)
    wait_for(lambda: driver.find_element(By.ID, "nav-board"), what="the board's link").click()
    wait_for(lambda: driver.find_element(By.ID, "new-request"), what="the new request button").click()
    search = wait_for(lambda: driver.find_element(By.ID, "request-patient-search"), what="the request form")
    search.send_keys(patient["family_name"])
    wait_for(lambda: driver.find_element(By.ID, f"request-patient-{patient['id']}"), what="the patient found").click()
    Select(driver.find_element(By.ID, "request-origin")).select_by_index(1)
    Select(driver.find_element(By.ID, "request-destination")).select_by_index(2)
    Select(driver.find_element(By.ID, "request-level")).select_by_visible_text("ALS")
    Select(driver.find_element(By.ID, "request-priority")).select_by_value("urgent")
    Select(driver.find_element(By.ID, "request-mobility")).select_by_value("stretcher")
    driver.find_element(By.ID, "request-equipment").send_keys("oxygen, cardiac monitor")
    driver.find_element(By.ID, "request-reason").send_keys("step-down to rehabilitation")
    shot(driver, "coordinator-request")
    driver.find_element(By.ID, "request-save").click()
    wait_for(lambda: not driver.find_elements(By.ID, "request-dialog"), what="the dialog closed")
    draft = wait_for(
        lambda: next(d for d in driver.find_elements(By.CSS_SELECTOR, "#board-drafts li") if "step-down" in d.text),
        what="the draft listed",
    )
    request_id = draft.get_attribute("id").removeprefix("draft-")
    publish = driver.find_element(By.ID, f"publish-{request_id}")
    wait_for(lambda: publish.is_enabled(), what="the draft on the hub (synced)")
    publish.click()
    wait_for(lambda: not driver.find_elements(By.ID, f"draft-{request_id}"), what="the draft published")
    request = hospital.get(f"{hub.url}/v1/transport-requests/{request_id}", timeout=10).json()
    assert (request["status"], request["level"], request["equipment"]) == ("published", "ALS", ["oxygen", "cardiac monitor"])
    entry = request["board_entry_id"]
    button = wait_for(lambda: driver.find_element(By.ID, f"entry-{entry}"), what="the entry on the board")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    driver.find_element(By.ID, "cancel-request").click()
    wait_for(lambda: "Say why" in driver.find_element(By.CSS_SELECTOR, ".board .form-error").text, what="a reason asked for")
    driver.find_element(By.ID, "cancel-reason").send_keys("patient discharged home")
    driver.find_element(By.ID, "cancel-request").click()
    wait_for(
        lambda: hospital.get(f"{hub.url}/v1/transport-requests/{request_id}", timeout=10).json()["status"] == "cancelled",
        what="the request cancelled",
    )
    cancelled = hospital.get(f"{hub.url}/v1/transport-requests/{request_id}", timeout=10).json()
    assert cancelled["cancel_reason"] == "patient discharged home"
    board = hub.api("transport_coordinator", "regional-transport").get(f"{hub.url}/v1/board/{entry}", timeout=10).json()
    assert board["status"] == "cancelled", board


def test_the_hospital_sees_the_bids_side_by_side_and_accepts_one(hub, app_factory):
    entry = open_entries(hub)[0]
    unit = county_unit(hub, entry["level"])
    placed = hub.api(*COUNTY).post(
        f"{hub.url}/v1/board/{entry['id']}/bids", json={"unit_id": unit["id"], "eta_minutes": 9}, timeout=10
    )
    assert placed.status_code in (201, 409), placed.text

    driver = app_factory()
    sign_in(driver, hub, "transport_coordinator", "st-mary-hospital")
    driver.find_element(By.ID, "signin-password").send_keys(Keys.ENTER)
    wait_for(lambda: driver.find_element(By.ID, "nav-board"), what="the board's link").click()
    # The hospital's whole month is on its board: it narrows to what is open to bids.
    choose(driver, "board-status", "published")
    button = wait_for(lambda: driver.find_element(By.ID, f"entry-{entry['id']}"), what="the hospital's entry")
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#board-entries tbody tr")) < 10, what="the open entries")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    wait_for(lambda: "County EMS" in text(driver, "entry-bids"), what="the bids")
    shot(driver, "coordinator-bids")
    row = next(r for r in driver.find_elements(By.CSS_SELECTOR, "#entry-bids tbody tr") if "County EMS" in r.text)
    row.find_element(By.CSS_SELECTOR, "button[id^=accept-]").click()
    wait_for(lambda: "accepted" in text(driver, "entry-bids"), what="the bid, accepted")
    request = hub.api("transport_coordinator", "st-mary-hospital").get(
        f"{hub.url}/v1/transport-requests/{entry['request_id']}", timeout=10
    ).json()
    assert (request["status"], request["assigned_agency"]) == ("assigned", "County EMS"), request
    trips = hub.api("ems_crew", "county-ems").get(f"{hub.url}/v1/trips", timeout=10).json()["items"]
    assert any(t["board_entry_id"] == entry["id"] for t in trips), trips


def test_the_transport_center_opens_on_the_report_and_its_charts(hub, app_factory):
    driver = app_factory()
    sign_in(driver, hub, "transport_coordinator", "regional-transport")
    driver.find_element(By.ID, "signin-password").send_keys(Keys.ENTER)
    wait_for(lambda: driver.find_element(By.ID, "report-title"), what="the report, the center's first screen")
    wait_for(lambda: int(text(driver, "report-requests")) > 30, what="a month of requests")
    assert text(driver, "report-on-time").endswith("%")
    assert "Metro EMS" in text(driver, "report-agencies") and "County EMS" in text(driver, "report-agencies")
    for chart in ("chart-days", "chart-levels", "chart-agencies"):
        canvas = driver.find_element(By.ID, chart)
        assert canvas.size["height"] > 50, chart
    shot(driver, "center-report")
    driver.find_element(By.ID, "nav-board").click()
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#board-entries tbody tr")) > 30, what="the whole board")
