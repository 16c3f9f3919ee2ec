// The patient list: search as you type over the local copy, arrow keys to move, Enter to open.
import type { Patient } from "../bindings/Patient";
import { h, replace } from "../dom";
import { call } from "../ipc";
import { Latest } from "../logic/latest";

export function patientList(open: (id: string) => void, create: () => void, initial = ""): HTMLElement {
  const input = h("input", {
    type: "search",
    id: "patient-search",
    placeholder: "Name, MRN or phone",
    value: initial,
    autocomplete: "off",
    "aria-controls": "patient-results",
  }) as HTMLInputElement;
  const list = h("ul", { id: "patient-results", role: "listbox", "aria-label": "Patients" });
  const empty = h("p", { class: "empty", id: "patient-empty" });
  const latest = new Latest<Patient[]>();
  let selected = 0;
  let rows: Patient[] = [];

  const render = () => {
    replace(
      list,
      ...rows.map((p, i) =>
        h(
          "li",
          {
            role: "option",
            id: `patient-${p.id}`,
            "data-id": p.id,
            "aria-selected": i === selected ? "true" : "false",
            tabindex: "-1",
            onclick: () => open(p.id),
          },
          h("span", { class: "name" }, `${p.family_name}, ${p.given_name}`),
          h("span", { class: "muted" }, `${p.birth_date} · MRN ${p.mrn}`),
        ),
      ),
    );
    empty.textContent = rows.length === 0 ? (input.value.trim() ? "No patient matches." : "No patients yet.") : "";
  };
  const search = async () => {
    try {
      const found = await latest.run(() => call("search", { query: input.value, limit: 50 }));
      if (found === undefined) return;
      rows = found;
      selected = 0;
      render();
    } catch (err) {
      empty.textContent = (err as { message: string }).message;
    }
  };
  input.addEventListener("input", () => void search());
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      selected = Math.max(0, Math.min(rows.length - 1, selected + (event.key === "ArrowDown" ? 1 : -1)));
      render();
      list.querySelector(`[aria-selected="true"]`)?.scrollIntoView({ block: "nearest" });
    } else if (event.key === "Enter" && rows[selected]) {
      open(rows[selected].id);
    }
  });
  void search();
  queueMicrotask(() => input.focus());
  return h(
    "section",
    { class: "card list", "aria-labelledby": "patients-title" },
    h(
      "div",
      { class: "row" },
      h("h1", { id: "patients-title" }, "Patients"),
      h("button", { class: "primary", id: "patient-new", onclick: create }, "New patient"),
    ),
    h("label", { for: "patient-search", class: "visually-hidden" }, "Search patients"),
    input,
    list,
    empty,
  );
}
