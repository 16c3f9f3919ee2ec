"""The schedule end to end, as the front desk: the day view of every practitioner, booking a free
slot (finding the patient as you type), moving it, checking the patient in, the week view of one
practitioner; then a booking made with the hub gone, marked until it syncs, and found on the hub."""

import datetime
from zoneinfo import ZoneInfo

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from conftest import shot, wait_for
from test_desktop import sign_in, text

# The demo clinics' time zone (crates/outpost-hub/src/demo/schedule.rs).
CLINIC = ZoneInfo("America/New_York")


def instant(iso):
    """An RFC 3339 time as the app writes it (`2026-03-09T13:00:00Z`)."""
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))


def rfc3339(at):
    return at.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def loaded(driver, view_id, other_than=None):
    """Waits until the view has read its day (or week) and returns that day: the view reads
    the mirror again on every change of day, so a new `data-date` means the new day is shown."""

    def ready():
        view = driver.find_element(By.ID, view_id)
        day = view.get_attribute("data-date")
        return day if view.get_attribute("aria-busy") == "false" and day != other_than else None

    return wait_for(ready, timeout=30, what=f"{view_id} to show a day other than {other_than}")


def press(driver, element):
    """Clicks an element of the grid, first scrolled to the middle of its scrolling area (so
    the sticky heads and the status bar never cover it)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center'})", element)
    element.click()


def free_slots(driver, scope="#schedule-day"):
    """The free slots shown that start at least an hour from now (any of them may be booked),
    as (start, practitioner id), read in one go."""
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    slots = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])]"
        ".map((b) => [b.dataset.start, b.dataset.practitionerId])",
        f"{scope} button.slot.free",
    )
    return [(start, practitioner) for start, practitioner in slots if instant(start) > soon]


def appointment_with(driver, words):
    """The appointment block whose text holds `words` (read whole, however narrow the block)."""
    return driver.execute_script(
        "return [...document.querySelectorAll('.appointment')]"
        ".find((b) => b.textContent.includes(arguments[0])) || null",
        words,
    )


def block(driver, appointment_id):
    return driver.find_element(By.CSS_SELECTOR, f".appointment[data-id='{appointment_id}']")


def slot_at(driver, practitioner, start):
    return driver.find_element(
        By.CSS_SELECTOR, f".slot.free[data-practitioner-id='{practitioner}'][data-start='{start}']"
    )


def book(driver, practitioner, start, prefix, reason):
    """Books the free slot of `practitioner` at `start` for the first patient found by `prefix`
    (picked with Enter); returns the id of the new appointment."""
    press(driver, slot_at(driver, practitioner, start))
    wait_for(lambda: driver.find_element(By.ID, "booking-dialog"), what="the booking dialog")
    search = driver.find_element(By.ID, "booking-patient-search")
    assert driver.switch_to.active_element == search, "the patient finder has the focus"
    search.send_keys(prefix)
    wait_for(
        lambda: driver.find_elements(By.CSS_SELECTOR, "#booking-patient-results li[data-id]"),
        what="patients found",
    )
    search.send_keys(Keys.ENTER)
    chosen = wait_for(lambda: driver.find_element(By.ID, "booking-patient"), what="the patient chosen")
    assert chosen.get_attribute("data-id")
    driver.find_element(By.ID, "booking-reason").send_keys(reason)
    driver.find_element(By.ID, "booking-save").click()
    wait_for(lambda: not driver.find_elements(By.ID, "booking-dialog"), what="the booking to close its dialog")
    booked = wait_for(lambda: appointment_with(driver, reason), what=f"the block of {reason!r}")
    assert booked.get_attribute("data-status") == "booked"
    assert instant(booked.get_attribute("data-start")) == instant(start)
    return booked.get_attribute("data-id")


def open_appointment(driver, appointment_id):
    press(driver, block(driver, appointment_id))
    wait_for(lambda: driver.find_element(By.ID, "appointment-dialog"), what="the appointment dialog")


def test_front_desk_books_moves_checks_in_and_books_offline(hub, app_factory):
    driver = app_factory()
    sign_in(driver, hub, "front_desk")
    driver.find_element(By.ID, "signin-password").send_keys(Keys.ENTER)
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#patient-results li")) > 0, timeout=60, what="patients")
    wait_for(lambda: text(driver, "status-last-sync") != "Last sync: never", timeout=60, what="the first sync")
    family = driver.find_elements(By.CSS_SELECTOR, "#patient-results li .name")[0].text.split(",")[0]
    prefix = family[:3]

    # The day view: today first, then the next weekday with free slots (not a holiday).
    driver.find_element(By.ID, "nav-schedule").click()
    day = loaded(driver, "schedule-day")
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".practitioner-column"), timeout=30, what="practitioners")
    for _ in range(14):
        driver.find_element(By.ID, "day-next").click()
        day = loaded(driver, "schedule-day", other_than=day)
        if datetime.date.fromisoformat(day).weekday() < 5 and free_slots(driver):
            break
    else:
        raise AssertionError("no weekday with free slots in the next two weeks")
    columns = driver.find_elements(By.CSS_SELECTOR, "#schedule-day .practitioner-column")
    assert len(columns) >= 2, "a column per practitioner"
    assert driver.find_elements(By.CSS_SELECTOR, "#schedule-day .appointment"), "the demo's bookings show"
    shot(driver, "schedule-day")

    # A free slot opens the booking dialog; Escape closes it and gives the focus back.
    start, practitioner = free_slots(driver)[0]
    press(driver, slot_at(driver, practitioner, start))
    wait_for(lambda: driver.find_element(By.ID, "booking-dialog"), what="the booking dialog")
    assert driver.find_element(By.ID, "booking-dialog").get_attribute("aria-modal") == "true"
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait_for(lambda: not driver.find_elements(By.ID, "booking-dialog"), what="Escape to close the dialog")
    assert driver.switch_to.active_element.get_attribute("data-start") == start, "focus went back to the slot"

    # Book it.
    booked = book(driver, practitioner, start, prefix, "e2e check-up")

    # Move it to another free slot of the same practitioner that day, an hour later if free.
    column = f"#schedule-day .practitioner-column[data-practitioner-id='{practitioner}']"
    later = [s for s, _ in free_slots(driver, column) if instant(s) != instant(start)]
    assert later, "another free slot for the move"
    hour_later = instant(start) + datetime.timedelta(hours=1)
    target = next((s for s in later if instant(s) == hour_later), later[0])
    clock = instant(target).astimezone(CLINIC).strftime("%H:%M")
    open_appointment(driver, booked)
    driver.find_element(By.ID, "appointment-move").click()
    field = wait_for(lambda: driver.find_element(By.ID, "move-time"), what="the move form")
    driver.execute_script(
        "arguments[0].value = arguments[1];"
        "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));"
        "arguments[0].dispatchEvent(new Event('change', {bubbles: true}));",
        field,
        clock,
    )
    driver.find_element(By.ID, "move-save").click()
    wait_for(lambda: not driver.find_elements(By.ID, "appointment-dialog"), what="the move to close the dialog")
    wait_for(
        lambda: instant(block(driver, booked).get_attribute("data-start")) == instant(target),
        what=f"the appointment at {clock}",
    )

    # Check the patient in.
    open_appointment(driver, booked)
    driver.find_element(By.ID, "appointment-check-in").click()
    wait_for(lambda: block(driver, booked).get_attribute("data-status") == "arrived", what="the patient checked in")
    wait_for(lambda: not driver.find_elements(By.ID, "appointment-dialog"), what="the check-in to close the dialog")

    # The week of that practitioner.
    driver.find_element(By.ID, "view-week").click()
    loaded(driver, "schedule-week")
    Select(driver.find_element(By.ID, "week-practitioner")).select_by_value(practitioner)
    wait_for(
        lambda: driver.find_element(By.ID, "schedule-week").get_attribute("data-practitioner-id") == practitioner
        and driver.find_element(By.ID, "schedule-week").get_attribute("aria-busy") == "false",
        what="the practitioner's week",
    )
    assert len(driver.find_elements(By.CSS_SELECTOR, "#schedule-week .day-column")) == 7
    assert block(driver, booked).get_attribute("data-status") == "arrived"
    shot(driver, "schedule-week")

    # The hub goes away: book offline; the booking waits, marked, until the hub is back.
    driver.find_element(By.ID, "view-day").click()
    loaded(driver, "schedule-day")
    wait_for(lambda: text(driver, "status-pending") == "All changes synced", timeout=40, what="the first booking synced")
    hub.stop()
    try:
        wait_for(lambda: text(driver, "status-link") == "Offline", timeout=30, what="offline status")
        offline_start, offline_practitioner = free_slots(driver)[0]
        offline = book(driver, offline_practitioner, offline_start, prefix, "e2e offline")
        wait_for(lambda: block(driver, offline).get_attribute("data-pending") == "true", what="the to-sync mark")
        assert "to sync" in block(driver, offline).get_attribute("textContent")
        wait_for(
            lambda: int(driver.find_element(By.ID, "status-pending").get_attribute("data-count")) > 0,
            what="a pending change in the status bar",
        )
        shot(driver, "schedule-offline")
    finally:
        hub.start()
    wait_for(lambda: text(driver, "status-pending") == "All changes synced", timeout=40, what="resync")
    wait_for(lambda: block(driver, offline).get_attribute("data-pending") == "false", what="the mark to clear")

    # The hub has both: the offline booking, and the first one moved and checked in.
    api = hub.api("front_desk")
    at = instant(offline_start)
    found = api.get(
        f"{hub.url}/v1/appointments",
        params={
            "from": rfc3339(at),
            "to": rfc3339(at + datetime.timedelta(minutes=1)),
            "practitioner_id": offline_practitioner,
        },
        timeout=10,
    )
    found.raise_for_status()
    items = found.json()["items"]
    mine = [a for a in items if a["id"] == offline]
    assert mine, items
    assert mine[0]["reason"] == "e2e offline" and mine[0]["status"] == "booked"
    first = api.get(f"{hub.url}/v1/appointments/{booked}", timeout=10)
    first.raise_for_status()
    first = first.json()
    assert first["status"] == "arrived"
    assert instant(first["start"]) == instant(target)
    assert first["reason"] == "e2e check-up"
