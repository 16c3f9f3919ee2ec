"""The app's updates from its own hub: the operator publishes a newer signed build with
`outpost-hub release add`, the signed-in app finds it at its next check and shows "Update
available" in the status bar, and its offer holds the install while changes wait to sync.

The app under test is built with the updater public key of a key pair made for this test run
(scripts/test.sh: OUTPOST_E2E_UPDATER_KEY names the private key)."""

import os
import subprocess

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import HUB, ROOT, Hub, demo_hub, shot, wait_for
from test_desktop import edit_field, sign_in, text

TAURI = ROOT / "ui" / "node_modules" / ".bin" / "tauri"


@pytest.fixture
def updating_hub():
    """A hub of its own: the builds it publishes are offered to every app that asks it."""
    yield from demo_hub("outpost-e2e-updates-")


def publish(hub: Hub, version: str) -> None:
    """Signs a build with the run's updater key and publishes it on the hub as `version`."""
    key = os.environ.get("OUTPOST_E2E_UPDATER_KEY")
    assert key, "OUTPOST_E2E_UPDATER_KEY (the run's updater private key) is not set: run scripts/test.sh e2e"
    build = hub.data.parent / f"Outpost_{version}_amd64.deb"
    build.write_bytes(b"the build of " + version.encode())
    # The key by its path only: the test command also exports it as TAURI_SIGNING_PRIVATE_KEY
    # (for the bundler), and the signer refuses to be given it twice.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAURI_SIGNING_")}
    subprocess.run(
        [str(TAURI), "signer", "sign", "--private-key-path", key, "--password", "",
         "--app-version", version, str(build)],
        check=True, capture_output=True, env=env,
    )
    subprocess.run(
        [str(HUB), "--data-dir", str(hub.data), "release", "add", "--target", "linux", "--arch", "x86_64",
         "--version", version, "--file", str(build), "--signature", f"{build}.sig",
         "--notes", "Faster patient search."],
        check=True, capture_output=True,
    )


def test_an_update_published_on_the_hub_is_offered_and_waits_for_pending_changes(updating_hub, app_factory):
    publish(updating_hub, "9.1.0")
    driver = app_factory(hub_url=updating_hub.url)
    sign_in(driver, updating_hub, "front_desk")
    driver.find_element(By.ID, "signin-password").send_keys(Keys.ENTER)
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#patient-results li")) > 0,
             timeout=40, what="patients")

    offer = wait_for(lambda: driver.find_element(By.ID, "status-update"), timeout=30, what="the update offer")
    assert offer.text == "Update available — v9.1.0"
    shot(driver, "update-available")

    offer.click()
    wait_for(lambda: driver.find_element(By.ID, "update-panel"), what="the update panel")
    assert text(driver, "update-title") == "Update available — v9.1.0"
    assert "Faster patient search." in driver.find_element(By.ID, "update-panel").text
    # Once the record of this session's reads has synced too, nothing waits.
    wait_for(lambda: driver.find_element(By.ID, "update-install").is_enabled(), timeout=30,
             what="the install button (nothing waiting to sync)")
    shot(driver, "update-offer")
    driver.find_element(By.ID, "update-later").click()
    wait_for(lambda: not driver.find_elements(By.ID, "update-panel"), what="the panel to close")

    # The hub goes away and a change is made: the update now waits for it to sync.
    updating_hub.stop()
    wait_for(lambda: driver.find_element(By.ID, "status-link").get_attribute("data-state") == "offline",
             timeout=30, what="offline")
    driver.find_elements(By.CSS_SELECTOR, "#patient-results li")[0].click()
    wait_for(lambda: driver.find_element(By.ID, "value-mrn"), what="the detail")
    edit_field(driver, "phone", "555-0199")
    wait_for(lambda: driver.find_element(By.ID, "status-pending").get_attribute("data-count") == "1",
             what="one pending change")
    driver.find_element(By.ID, "status-update").click()
    message = wait_for(lambda: text(driver, "update-message"), what="the waiting message")
    assert message == "1 change is waiting to sync: the update installs once it has.", message
    assert not driver.find_element(By.ID, "update-install").is_enabled()
    shot(driver, "update-waits")
    driver.find_element(By.ID, "update-later").click()

    # Back online, the change syncs and the update may be installed (not clicked here: the
    # app under test is not an installed package).
    updating_hub.start()
    wait_for(lambda: driver.find_element(By.ID, "status-pending").get_attribute("data-count") == "0",
             timeout=40, what="the change to sync")
    driver.find_element(By.ID, "status-update").click()
    assert wait_for(lambda: driver.find_element(By.ID, "update-install").is_enabled(), what="install allowed")
