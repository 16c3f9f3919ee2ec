"""The desktop app reaches a hub over HTTPS whose certificate the hospital's own authority
signed: refused as untrusted (not offline) until the authority's file is given on the sign-in
screen, then signed in and syncing."""

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import shot, wait_for


def test_sign_in_and_sync_over_https_with_the_hospitals_authority(https_hub, app_factory):
    driver = app_factory(hub_url=https_hub.url)
    email, password = https_hub.login("doctor")
    wait_for(lambda: driver.find_element(By.ID, "signin-email"), what="the sign-in form")
    assert driver.find_element(By.ID, "signin-hub").get_attribute("value") == https_hub.url
    driver.find_element(By.ID, "signin-email").send_keys(email)
    driver.find_element(By.ID, "signin-password").send_keys(password)
    driver.find_element(By.ID, "signin-password").send_keys(Keys.ENTER)
    error = wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, ".form-error").text or None,
        what="the refusal",
    )
    assert "not trusted" in error, error
    assert "offline" not in error.lower() and "cannot be reached" not in error, error
    shot(driver, "sign-in-untrusted")

    driver.find_element(By.ID, "signin-ca-file").send_keys(str(https_hub.authority["ca"]))
    driver.find_element(By.ID, "signin-password").send_keys(Keys.ENTER)
    wait_for(lambda: driver.find_element(By.ID, "patient-search"), timeout=40, what="the patient list")
    wait_for(
        lambda: driver.find_element(By.ID, "status-link").text == "Online", timeout=40, what="online status"
    )
    wait_for(
        lambda: len(driver.find_elements(By.CSS_SELECTOR, "#patient-results li")) > 0, what="mirrored patients"
    )
    first = driver.find_elements(By.CSS_SELECTOR, "#patient-results li")[0]
    patient_id = first.get_attribute("data-id")
    first.click()
    wait_for(lambda: driver.find_element(By.ID, "patient-edit"), what="the patient's detail").click()
    phone = driver.find_element(By.ID, "field-phone")
    phone.clear()
    phone.send_keys("+1 555 0443")
    driver.find_element(By.ID, "patient-save").click()
    doctor = https_hub.api("doctor")

    def on_hub():
        return doctor.get(f"{https_hub.url}/v1/patients/{patient_id}", timeout=10).json()

    # The bar may still read "All changes synced" from before the save: wait for the hub.
    wait_for(lambda: on_hub()["phone"] == "+1 555 0443", timeout=40, what="the edit synced over HTTPS")
    wait_for(
        lambda: driver.find_element(By.ID, "status-pending").text == "All changes synced",
        timeout=40,
        what="nothing left to sync",
    )
    on_hub = on_hub()
    assert on_hub["phone"] == "+1 555 0443", on_hub
