import { describe, expect, it } from "vitest";
import type { Conflict } from "../src/bindings/Conflict";
import type { Patient } from "../src/bindings/Patient";
import { conflictHint, conflictTitle, fieldChoices, shownValue } from "../src/logic/conflicts";
import { moveSelection } from "../src/logic/selection";
import { messageFor } from "../src/logic/signin";
import { installView } from "../src/logic/update";

const patient = (given: string, family: string, phone: string | null): Patient => ({
  id: "p1", version: 2, created_at: "", updated_at: "", updated_by: null, mrn: "M1",
  given_name: given, family_name: family, birth_date: "1980-01-02", sex: "female", phone,
});

describe("update panel", () => {
  it("installs only when nothing waits to sync", () => {
    expect(installView(null, false, null)).toEqual({ message: "Outpost restarts to finish installing.", canInstall: true });
    expect(installView("1 change is waiting", false, null)).toEqual({ message: "1 change is waiting", canInstall: false });
  });
  it("says it is installing, then why it failed", () => {
    expect(installView(null, true, null)).toEqual({ message: "Downloading and installing…", canInstall: false });
    expect(installView(null, false, "signature mismatch")).toEqual({ message: "signature mismatch", canInstall: true });
    expect(installView("1 change is waiting", false, "signature mismatch").message).toBe("1 change is waiting");
  });
});

describe("conflicts", () => {
  const conflict: Conflict = {
    entity: "patient", record_id: "r1", rejected: false, code: null, error: null, fields: ["phone", "email"],
    mine: patient("Ann", "Mine", "+1 555 0142"), theirs: patient("Ann", "Theirs", null),
  };
  it("names the record from the hub's version, else this computer's, else by id", () => {
    expect(conflictTitle(conflict)).toBe("Theirs, Ann");
    expect(conflictTitle({ ...conflict, theirs: null })).toBe("Mine, Ann");
    expect(conflictTitle({ ...conflict, theirs: null, mine: null })).toBe("r1");
    const booking = { start: "2026-12-07T09:00:00Z" };
    expect(conflictTitle({ ...conflict, entity: "appointment", mine: booking, theirs: null })).toBe(
      "Appointment at 2026-12-07T09:00:00Z",
    );
  });
  it("shows empty fields and deleted versions", () => {
    expect(shownValue(conflict.mine, "phone")).toBe("+1 555 0142");
    expect(shownValue(conflict.theirs, "phone")).toBe("—");
    expect(shownValue(conflict.theirs, "email")).toBe("—");
    expect(shownValue(null, "phone")).toBe("(deleted)");
  });
  it("sends a booking refused for its taken slot to the schedule", () => {
    const refused: Conflict = { ...conflict, entity: "appointment", rejected: true, code: "slot_taken" };
    expect(conflictHint(refused)).toBe("The slot was taken on the hub: move this booking or cancel it in the Schedule");
    expect(conflictHint({ ...refused, code: "clinic_closed" })).toBeNull();
    expect(conflictHint({ ...refused, rejected: false })).toBeNull();
    expect(conflictHint(conflict)).toBeNull();
  });
  it("keeps the hub's value for every field not picked", () => {
    expect(fieldChoices(conflict.fields, new Map([["email", true]]))).toEqual({ phone: false, email: true });
  });
});

describe("patient list keys", () => {
  it("moves by one and stays inside the list", () => {
    expect(moveSelection(0, 3, "ArrowDown")).toBe(1);
    expect(moveSelection(2, 3, "ArrowDown")).toBe(2);
    expect(moveSelection(0, 3, "ArrowUp")).toBe(0);
    expect(moveSelection(0, 0, "ArrowDown")).toBe(0);
    expect(moveSelection(1, 3, "Enter")).toBeNull();
  });
});

describe("sign-in refusals", () => {
  it("explains by code, and passes other messages through", () => {
    expect(messageFor({ code: "wrong_password", message: "x", field: null })).toBe("The password is not correct.");
    expect(messageFor({ code: "tls_untrusted", message: "x", field: null })).toContain("not trusted");
    expect(messageFor({ code: "device_revoked", message: "This device was revoked.", field: null })).toBe(
      "This device was revoked.",
    );
  });
});
