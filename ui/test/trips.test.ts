import { describe, expect, it } from "vitest";
import { cancellable, crewLabel, nextStep } from "../src/logic/trips";

describe("a crew's next step", () => {
  it("moves one step at a time from unit notified to transfer of care", () => {
    expect(nextStep("assigned")).toBe("en_route");
    expect(nextStep("en_route")).toBe("at_pickup");
    expect(nextStep("at_destination")).toBe("completed");
    expect(nextStep("completed")).toBeNull();
    expect(nextStep("cancelled")).toBeNull();
    expect(nextStep("published")).toBeNull();
  });

  it("names each step as crews do and cancels until the trip is over", () => {
    expect(crewLabel("at_pickup")).toBe("At patient");
    expect(crewLabel("transporting")).toBe("Left scene");
    expect(cancellable("transporting")).toBe(true);
    expect(cancellable("completed")).toBe(false);
  });
});
